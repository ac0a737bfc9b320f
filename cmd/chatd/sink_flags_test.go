package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker/memory"
	"github.com/chatd/chatd/server/sink"
)

func TestSinkFlags(t *testing.T) {
	o, err := parseFlags([]string{"-sink-url", "http://127.0.0.1:9000/sink", "-sink-batch-messages", "50",
		"-sink-max-age", "1h", "-sink-lease-ttl", "20s", "-sink-shards", "4", "-sink-max-backlog", "1000"},
		env(map[string]string{"CHATD_HOOK_SECRET": hookSecret16, "CHATD_SINK_TIMEOUT": "3s"}))
	if err != nil {
		t.Fatal(err)
	}
	want := sink.Config{URL: "http://127.0.0.1:9000/sink", Secret: hookSecret16, Timeout: 3 * time.Second,
		BatchMessages: 50, BatchBytes: server.DefaultSinkBatchBytes, MinBackoff: server.DefaultSinkMinBackoff,
		MaxBackoff: server.DefaultSinkMaxBackoff, MaxAge: time.Hour, Poll: server.DefaultSinkPoll, LeaseTTL: 20 * time.Second}
	if got := o.cfg.Sink; got.URL != want.URL || got.Secret != want.Secret || got.Timeout != want.Timeout ||
		got.BatchMessages != want.BatchMessages || got.BatchBytes != want.BatchBytes || got.MinBackoff != want.MinBackoff ||
		got.MaxBackoff != want.MaxBackoff || got.MaxAge != want.MaxAge || got.Poll != want.Poll || got.LeaseTTL != want.LeaseTTL {
		t.Fatalf("sink config\n%+v\nwant\n%+v", got, want)
	}
	// The secret is used: no "unused" warning; without Redis, one about
	// the memory queue.
	if w := hookWarnings(o); len(w) != 0 {
		t.Fatalf("hook warnings %q", w)
	}
	var mem bool
	for _, w := range o.warnings {
		mem = mem || strings.Contains(w, "a crash loses")
	}
	if !mem {
		t.Fatalf("no warning about the memory queue: %q", o.warnings)
	}
	// The memory broker gets a queue with the bounds.
	cfg := o.cfg
	b, err := o.redis.broker(&cfg, o.sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q := b.(*memory.Broker).SinkQueue(); q == nil || q.Shards() != 1 || q.Durable() {
		t.Fatalf("memory broker's sink queue %v", q)
	}
	// The Redis broker gets the shards and bound (checked by the broker's
	// options; not started here).
	o2, err := parseFlags([]string{"-sink-url", "https://app.example/sink", "-redis", "redis://127.0.0.1:1"},
		env(map[string]string{"CHATD_HOOK_SECRET": hookSecret16}))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range o2.warnings {
		if strings.Contains(w, "sink") {
			t.Fatalf("https sink with Redis: warning %q", w)
		}
	}
	o3, err := parseFlags([]string{"-sink-url", "http://backend.internal/sink", "-redis", "redis://127.0.0.1:1"},
		env(map[string]string{"CHATD_HOOK_SECRET": hookSecret16}))
	var plain bool
	for _, w := range o3.warnings {
		plain = plain || strings.Contains(w, "-sink-url http://backend.internal/sink is plain http")
	}
	if err != nil || !plain {
		t.Fatalf("plain http to another host: %v %q", err, o3.warnings)
	}
	// Off by default.
	if o, err := parseFlags(nil, env(nil)); err != nil || o.cfg.Sink.On() {
		t.Fatalf("defaults: %+v %v", o.cfg.Sink, err)
	}
}

func TestSinkFlagsRefused(t *testing.T) {
	u := "http://127.0.0.1:1/s"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-sink-url", u}, "-hook-secret"},
		{[]string{"-sink-url", u, "-hook-secret", "short"}, "-hook-secret"},
		{[]string{"-sink-url", "ftp://x/s", "-hook-secret", hookSecret16}, "http"},
		{[]string{"-sink-url", u, "-hook-secret", hookSecret16, "-history-size", "-1"}, "history"},
		{[]string{"-sink-url", u, "-hook-secret", hookSecret16, "-sink-shards", "0"}, "-sink-shards"},
		{[]string{"-sink-url", u, "-hook-secret", hookSecret16, "-sink-shards", "1000"}, "-sink-shards"},
		{[]string{"-sink-url", u, "-hook-secret", hookSecret16, "-sink-max-backlog", "0"}, "-sink-max-backlog"},
		{[]string{"-sink-url", u, "-hook-secret", hookSecret16, "-sink-lease-ttl", "5s", "-sink-timeout", "10s"}, "lease"},
		{[]string{"-sink-url", u, "-hook-secret", hookSecret16, "-sink-batch-messages", "0"}, "batch"},
	} {
		_, err := parseFlags(tc.args, env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}
