package redis

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/chatd/chatd/server/broker"
	goredis "github.com/redis/go-redis/v9"
)

// History bytes, sampled.
//
// What the histories take in Redis is not kept anywhere exactly (they
// expire, and Redis may evict them), and counting it would mean reading
// every history. So chatd_history_bytes estimates it from a random sample,
// per master: broker.DefaultHistorySampleKeys RANDOMKEYs, MEMORY USAGE of
// those that are history keys (meta, log, or a stream of an earlier chatd),
// scaled by DBSIZE: the mean history bytes per key times the keys. A
// scrape reports the last estimate and starts a new one when it is older
// than broker.DefaultHistorySampleInterval (so at most one sample per
// interval, off the scrape's path). Its error is a few percent for
// samples of hundreds of keys when histories are a large part of the
// keyspace, which is when it matters.

// historySample is the last estimate.
type historySample struct {
	mu      sync.Mutex
	bytes   float64
	at      time.Time
	running bool
}

// historyBytes returns the last estimate (-1 before the first), starting
// a new one if it is stale.
func (b *Broker) historyBytes() float64 {
	s := &b.sample
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running && time.Since(s.at) >= broker.DefaultHistorySampleInterval && b.Healthy() {
		s.running = true
		if !b.spawn(b.sampleHistory) {
			s.running = false
		}
	}
	if s.at.IsZero() {
		return -1
	}
	return s.bytes
}

// sampleHistory makes a new estimate.
func (b *Broker) sampleHistory() {
	ctx, cancel := context.WithTimeout(b.ctx, b.opt.OpTimeout)
	defer cancel()
	var total float64
	var err error
	if b.keys.cluster {
		var mu sync.Mutex
		err = b.cluster.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
			v, err := sampleOne(ctx, c)
			mu.Lock()
			total += v
			mu.Unlock()
			return err
		})
	} else {
		total, err = sampleOne(ctx, b.single)
	}
	s := &b.sample
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = false
	if err != nil {
		b.log.Debug("history bytes sample failed", "err", err)
		return
	}
	s.bytes, s.at = total, time.Now()
}

// sampleOne estimates the history bytes of one Redis.
func sampleOne(ctx context.Context, c *goredis.Client) (float64, error) {
	pipe := c.Pipeline()
	size := pipe.DBSize(ctx)
	keys := make([]*goredis.StringCmd, broker.DefaultHistorySampleKeys)
	for i := range keys {
		keys[i] = pipe.RandomKey(ctx)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != goredis.Nil {
		return 0, err
	}
	if size.Val() == 0 {
		return 0, nil
	}
	pipe = c.Pipeline()
	var usage []*goredis.IntCmd
	for _, k := range keys {
		if isHistoryKey(k.Val()) {
			usage = append(usage, pipe.MemoryUsage(ctx, k.Val()))
		}
	}
	if len(usage) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && err != goredis.Nil {
			return 0, err
		}
	}
	var sum int64
	for _, u := range usage {
		sum += u.Val() // (a key gone meanwhile: 0)
	}
	return float64(sum) / float64(len(keys)) * float64(size.Val()), nil
}

// isHistoryKey reports whether key is a room's history key (keys.go).
func isHistoryKey(key string) bool {
	if !strings.HasPrefix(key, "chatd:{") {
		return false
	}
	return strings.HasSuffix(key, "}:meta") || strings.HasSuffix(key, "}:log") || strings.HasSuffix(key, "}:history")
}
