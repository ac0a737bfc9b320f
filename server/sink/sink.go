package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sink consumes a Queue's shards: see the package doc.
type Sink struct {
	cfg Config
	q   Queue
	p   *poster
	m   *metrics

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	draining atomic.Bool
	drainCh  chan struct{} // closed by Close: wakes the workers from their polls
	started  atomic.Bool

	shards []shardState
	now    func() time.Time
}

// shardState is what a shard's worker last saw, for the metrics.
type shardState struct {
	held    atomic.Bool
	dropsAt time.Time // the last TakeDropped (the shard's worker only)
	backlog atomic.Int64
	oldest  atomic.Int64 // Unix ms of the oldest entry waiting; 0: none
	logged  [4]atomic.Int64
}

// dropsEvery is how often a shard's drop counters are taken (a read of
// each of its queues' counters).
const dropsEvery = time.Second

// The kinds of failure logged (at most one line per kind per shard per
// LogEvery).
const (
	logPost = iota
	logQueue
	logDropped
	logLease
)

// New returns the sink of cfg over q and registers its metrics with reg; Start
// runs it.
func New(cfg Config, q Queue, reg prometheus.Registerer) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if q == nil || q.Shards() < 1 {
		return nil, errors.New("sink: the broker keeps no sink queue")
	}
	s := &Sink{cfg: cfg, q: q, p: newPoster(&cfg, q.Shards()), shards: make([]shardState, q.Shards()), now: time.Now,
		drainCh: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.m = newMetrics(reg, s)
	return s, nil
}

// Start starts one worker per shard.
func (s *Sink) Start() {
	if s.started.Swap(true) {
		return
	}
	for i := range s.shards {
		s.wg.Add(1)
		go s.work(i)
	}
}

// Close stops the sink. With a queue that is not durable (the memory
// broker's) it first goes on until the queue is empty or ctx ends: what
// is left then is lost (logged at error level, with the count). The leases
// held are released, so that other nodes take the shards over at once.
func (s *Sink) Close(ctx context.Context) {
	if !s.started.Load() {
		s.cancel()
		s.p.close()
		return
	}
	if !s.draining.Swap(true) {
		close(s.drainCh)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		<-done
	}
	s.cancel()
	if !s.q.Durable() {
		if _, n, err := s.q.Read(context.Background(), 0, 0); err == nil && n > 0 {
			s.cfg.Logger.Error("sink: messages lost at shutdown: the memory broker's sink queue was not empty",
				"messages", n)
		}
	}
	s.p.close()
}

// Stats returns the state of the shards this node holds.
func (s *Sink) Stats() Stats {
	var st Stats
	oldest := int64(0)
	for i := range s.shards {
		sh := &s.shards[i]
		if !sh.held.Load() {
			continue
		}
		st.Held++
		st.Backlog += sh.backlog.Load()
		if o := sh.oldest.Load(); o > 0 && (oldest == 0 || o < oldest) {
			oldest = o
		}
	}
	if oldest > 0 {
		st.Lag = max(0, s.now().Sub(time.UnixMilli(oldest)))
	}
	return st
}

// work consumes shard i until the sink closes.
func (s *Sink) work(i int) {
	defer s.wg.Done()
	sh := &s.shards[i]
	bo := newBackoff(s.cfg.MinBackoff, s.cfg.MaxBackoff)
	var renewAt time.Time
	defer func() {
		if sh.held.Swap(false) {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
			s.q.Release(ctx, i)
			cancel()
		}
	}()
	for s.ctx.Err() == nil {
		if s.draining.Load() && s.q.Durable() {
			return // the shard's next holder goes on from where this one stopped
		}
		if !sh.held.Load() || !s.now().Before(renewAt) {
			if !s.claim(i) {
				if s.draining.Load() {
					return // another node has it
				}
				s.wait(s.cfg.LeaseTTL / 3)
				continue
			}
			renewAt = s.now().Add(s.cfg.LeaseTTL / 3)
		}
		if now := s.now(); now.Sub(sh.dropsAt) >= dropsEvery {
			sh.dropsAt = now
			s.takeDropped(i)
		}
		es, backlog, err := s.q.Read(s.ctx, i, s.cfg.BatchMessages)
		if err != nil {
			s.logEvery(i, logQueue, "sink: reading the queue failed", "shard", i, "err", err)
			s.waitHolding(i, bo.next(), &renewAt)
			continue
		}
		sh.backlog.Store(backlog)
		if len(es) > 0 {
			sh.oldest.Store(es[0].At)
		} else {
			sh.oldest.Store(0)
		}
		es, err = s.dropOld(i, es)
		if err != nil {
			s.logEvery(i, logQueue, "sink: removing messages past the age bound failed", "shard", i, "err", err)
			s.waitHolding(i, bo.next(), &renewAt)
			continue
		}
		if len(es) == 0 {
			if s.draining.Load() && backlog == 0 {
				return
			}
			s.waitPoll()
			continue
		}
		body, n := encodeBatch(s.cfg.NodeID, es, s.cfg.BatchMessages, s.cfg.BatchBytes)
		began := s.now()
		err = s.p.post(s.ctx, body)
		s.m.duration.Observe(time.Since(began).Seconds())
		if err != nil {
			s.m.posts.WithLabelValues(postFailed).Inc()
			if s.ctx.Err() == nil {
				s.logEvery(i, logPost, "sink: POST failed; retrying", "shard", i, "messages", n, "err", err)
			}
			s.waitHolding(i, bo.next(), &renewAt)
			continue
		}
		s.m.posts.WithLabelValues(postOK).Inc()
		bo.reset()
		if err := s.q.Ack(s.ctx, i, es[:n]); err != nil {
			// Posted, not removed: the next read posts them again (the
			// backend de-duplicates).
			s.logEvery(i, logQueue, "sink: removing acknowledged messages failed", "shard", i, "err", err)
			s.waitHolding(i, bo.next(), &renewAt)
			continue
		}
		s.m.delivered.Add(float64(n))
		sh.backlog.Add(-int64(n))
	}
}

// claim takes or renews shard i's lease and records whether this node has
// it.
func (s *Sink) claim(i int) bool {
	sh := &s.shards[i]
	ok, err := s.q.Claim(s.ctx, i, s.cfg.LeaseTTL)
	if err != nil {
		if s.ctx.Err() == nil {
			s.logEvery(i, logLease, "sink: claiming a shard's lease failed", "shard", i, "err", err)
		}
		ok = false
	}
	if was := sh.held.Swap(ok); was != ok {
		if ok {
			s.cfg.Logger.Info("sink: shard taken", "shard", i)
		} else {
			s.cfg.Logger.Info("sink: shard lost to another node, or unreachable", "shard", i)
			sh.backlog.Store(0)
			sh.oldest.Store(0)
		}
	}
	return ok
}

// takeDropped moves what shard i's queues refused past their bound into
// the metric, with a log line.
func (s *Sink) takeDropped(i int) {
	n, err := s.q.TakeDropped(s.ctx, i)
	if err != nil || n == 0 {
		return
	}
	s.m.dropped.WithLabelValues(dropBacklog).Add(float64(n))
	s.cfg.Logger.Warn("sink: messages dropped: the sink queue was full (-sink-max-backlog)", "shard", i, "messages", n)
}

// dropOld removes the leading entries older than MaxAge (a queue's
// entries are in the order they were stored), counts and logs them, and
// returns the rest.
func (s *Sink) dropOld(i int, es []Entry) ([]Entry, error) {
	cut := s.now().Add(-s.cfg.MaxAge).UnixMilli()
	n := 0
	for n < len(es) && es[n].At < cut {
		n++
	}
	if n == 0 {
		return es, nil
	}
	if err := s.q.Ack(s.ctx, i, es[:n]); err != nil {
		return nil, fmt.Errorf("sink: drop old messages: %w", err)
	}
	s.m.dropped.WithLabelValues(dropAge).Add(float64(n))
	s.shards[i].backlog.Add(-int64(n))
	s.cfg.Logger.Warn("sink: messages dropped: older than -sink-max-age", "shard", i, "messages", n,
		"max_age", s.cfg.MaxAge, "oldest_room", es[0].Room, "oldest_offset", es[0].Offset)
	return es[n:], nil
}

// wait sleeps d, or until the sink closes.
func (s *Sink) wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
	}
}

// waitPoll sleeps a Poll, or until the sink closes or drains.
func (s *Sink) waitPoll() {
	t := time.NewTimer(s.cfg.Poll)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
	case <-s.drainCh:
	}
}

// waitHolding sleeps d (a backoff, which may outlast the lease), renewing
// shard i's lease when due, until the sink closes or the lease is lost.
func (s *Sink) waitHolding(i int, d time.Duration, renewAt *time.Time) {
	end := s.now().Add(d)
	for s.ctx.Err() == nil {
		now := s.now()
		if !now.Before(end) {
			return
		}
		s.wait(min(end.Sub(now), max(renewAt.Sub(now), time.Millisecond)))
		if s.ctx.Err() == nil && !s.now().Before(*renewAt) {
			if !s.claim(i) {
				return
			}
			*renewAt = s.now().Add(s.cfg.LeaseTTL / 3)
		}
	}
}

// logEvery logs a failure at warn level, at most once per kind per shard
// per LogEvery.
func (s *Sink) logEvery(i, kind int, msg string, args ...any) {
	now := s.now().UnixNano()
	p := &s.shards[i].logged[kind]
	if last := p.Load(); now-last < int64(LogEvery) || !p.CompareAndSwap(last, now) {
		return
	}
	s.cfg.Logger.Warn(msg, args...)
}
