package redis_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/brokertest"
	"github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
	goredis "github.com/redis/go-redis/v9"
)

// The Redis broker in Redis Cluster mode keeps the seam's contract, on one
// node and across two, on a private 3-master cluster. The checks share the
// cluster (starting one takes a second); each starts from empty masters.
func TestClusterContract(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	run := 0
	brokertest.Run(t, func(t *testing.T) brokertest.Cluster {
		flushCluster(t, rc)
		run++
		n := 0
		return brokertest.Cluster{Node: func(t *testing.T, r broker.Receiver) broker.Broker {
			n++
			b, err := redis.New(redis.Options{Cluster: rc.Seeds(), NodeID: fmt.Sprintf("r%dn%d", run, n),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RoomScanInterval: time.Millisecond,
				HistorySize: brokertest.HistorySize, HistoryRoomBytes: brokertest.RoomBytes})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Start(r); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b
		}}
	})
}

// flushCluster empties every master.
func flushCluster(t *testing.T, rc *redistest.Cluster) {
	t.Helper()
	err := rc.Client().ForEachMaster(context.Background(), func(ctx context.Context, c *goredis.Client) error {
		return c.FlushAll(ctx).Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}
