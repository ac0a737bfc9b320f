package redis_test

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/brokertest"
	"github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
)

// The Redis broker keeps the seam's contract, on one node and across two
// nodes sharing a private redis-server.
func TestContract(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) brokertest.Cluster {
		rs := redistest.Start(t)
		n := 0
		return brokertest.Cluster{Node: func(t *testing.T, r broker.Receiver) broker.Broker {
			n++
			b, err := redis.New(redis.Options{URL: rs.URL(), NodeID: fmt.Sprintf("n%d", n),
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

func TestNoHistory(t *testing.T) {
	rs := redistest.Start(t)
	b, err := redis.New(redis.Options{URL: rs.URL(), NodeID: "n", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		HistorySize: -1})
	if err != nil {
		t.Fatal(err)
	}
	r := brokertest.NewReceiver()
	if err := b.Start(r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	brokertest.RunNoHistory(t, b, r)
}
