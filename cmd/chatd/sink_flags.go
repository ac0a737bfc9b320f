package main

import (
	"flag"
	"fmt"
	"net/url"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/sink"
)

// sinkFlags are the flags of the message sink (README "Hooks and sink").
// Its secret is -hook-secret's.
type sinkFlags struct {
	url                             string
	timeout, minBackoff, maxBackoff time.Duration
	maxAge, leaseTTL, poll          time.Duration
	batchMessages, batchBytes       int
	maxBacklog, maxMemory, shards   int
}

// sinkFlagNames is the -help group of these flags.
var sinkFlagNames = []string{"sink-url", "sink-timeout", "sink-batch-messages", "sink-batch-bytes", "sink-min-backoff",
	"sink-max-backoff", "sink-max-age", "sink-max-backlog", "sink-max-memory", "sink-shards", "sink-lease-ttl", "sink-poll"}

// maxSinkShards bounds -sink-shards (goroutines, leases and connections per
// node).
const maxSinkShards = 256

func addSinkFlags(fs *flag.FlagSet) *sinkFlags {
	s := &sinkFlags{}
	fs.StringVar(&s.url, "sink-url", server.DefaultSinkURL, "URL the message sink POSTs every stored message to, in batches, at least once (empty: off); sent with -hook-secret")
	fs.DurationVar(&s.timeout, "sink-timeout", server.DefaultSinkTimeout, "a sink POST without a complete answer within this fails (and is retried)")
	fs.IntVar(&s.batchMessages, "sink-batch-messages", server.DefaultSinkBatchMessages, "messages per sink POST at most")
	fs.IntVar(&s.batchBytes, "sink-batch-bytes", server.DefaultSinkBatchBytes, "bytes of messages per sink POST at most (a bigger single message goes alone)")
	fs.DurationVar(&s.minBackoff, "sink-min-backoff", server.DefaultSinkMinBackoff, "the first retry of a failed sink POST waits about this (doubling, jittered)")
	fs.DurationVar(&s.maxBackoff, "sink-max-backoff", server.DefaultSinkMaxBackoff, "retries of a failed sink POST wait at most this")
	fs.DurationVar(&s.maxAge, "sink-max-age", server.DefaultSinkMaxAge, "a stored message the sink's backend has not acknowledged within this is dropped (counted, logged)")
	fs.IntVar(&s.maxBacklog, "sink-max-backlog", server.DefaultSinkMaxBacklog, "messages waiting in one sink queue (one Redis: -sink-shards queues; Redis Cluster: one per hash slot in use; no Redis: one); more are dropped (counted, logged)")
	fs.IntVar(&s.maxMemory, "sink-max-memory", server.DefaultSinkMaxMemory, "without Redis: bytes of messages waiting for the sink; more are dropped (counted, logged)")
	fs.IntVar(&s.shards, "sink-shards", server.DefaultSinkShards, fmt.Sprintf("sink queues on one Redis (leases on a Redis Cluster), each consumed by one node at a time; every node must use the same value (at most %d)", maxSinkShards))
	fs.DurationVar(&s.leaseTTL, "sink-lease-ttl", server.DefaultSinkLeaseTTL, "the sink shards of a node that died are taken over this long after its last renewal (must exceed -sink-timeout)")
	fs.DurationVar(&s.poll, "sink-poll", server.DefaultSinkPoll, "an empty sink shard is read again after this")
	return s
}

// apply checks the flags and sets them on cfg. The secret is the hooks'
// (set on cfg.Hooks.Secret by hookFlags.apply, or given here as secret).
func (s *sinkFlags) apply(cfg *server.Config, secret string, historySize int) error {
	if s.url == "" {
		return nil
	}
	switch {
	case len(secret) < sink.MinSecretBytes:
		return fmt.Errorf("-sink-url needs -hook-secret (CHATD_HOOK_SECRET) of at least %d bytes: the sink's POSTs carry it", sink.MinSecretBytes)
	case historySize < 0:
		return fmt.Errorf("-sink-url takes what is stored: it needs a history (-history-size at least 1)")
	case s.shards < 1 || s.shards > maxSinkShards:
		return fmt.Errorf("-sink-shards must be between 1 and %d", maxSinkShards)
	case s.maxBacklog < 1 || s.maxMemory < 1<<20:
		return fmt.Errorf("-sink-max-backlog must be at least 1 and -sink-max-memory at least 1 MiB")
	}
	cfg.Sink = sink.Config{URL: s.url, Secret: secret, Timeout: s.timeout, BatchMessages: s.batchMessages,
		BatchBytes: s.batchBytes, MinBackoff: s.minBackoff, MaxBackoff: s.maxBackoff, MaxAge: s.maxAge,
		Poll: s.poll, LeaseTTL: s.leaseTTL}
	c := cfg.Sink
	if err := c.Check(); err != nil {
		return fmt.Errorf("-sink-*: %w", err)
	}
	return nil
}

// warnings are the sink's risky settings.
func (s *sinkFlags) warnings(redis bool) []string {
	if s.url == "" {
		return nil
	}
	var w []string
	if u, _ := url.Parse(s.url); u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		w = append(w, fmt.Sprintf("-sink-url %s is plain http to another host: the secret and every message cross the network in clear; use https", s.url))
	}
	if !redis {
		w = append(w, "-sink-url without Redis: the sink's queue is in this process's memory; a crash loses what it holds (a graceful stop flushes it)")
	}
	return w
}
