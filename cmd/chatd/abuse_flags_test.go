package main

import (
	"strings"
	"testing"

	"github.com/chatd/chatd/server"
)

// The abuse limits of issue 15: defaults, flags, environment, bad values.
func TestAbuseLimitFlags(t *testing.T) {
	o, err := parseFlags(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.PingRate != server.DefaultPingRate || c.PingBurst != server.DefaultPingBurst ||
		c.MaxContinuationFrames != server.DefaultMaxContinuationFrames || c.MaxPendingPerIP != server.DefaultMaxPendingPerIP {
		t.Fatalf("defaults: %+v", c)
	}
	o, err = parseFlags([]string{"-ping-burst", "3", "-max-pending-per-ip", "-1"}, env(map[string]string{
		"CHATD_PING_RATE": "0.5", "CHATD_PING_BURST": "9", "CHATD_MAX_CONTINUATION_FRAMES": "16",
	}))
	if err != nil {
		t.Fatal(err)
	}
	c = o.cfg
	if c.PingRate != 0.5 || c.PingBurst != 3 || c.MaxContinuationFrames != 16 || c.MaxPendingPerIP != -1 {
		t.Fatalf("got rate %v burst %d conts %d pending %d", c.PingRate, c.PingBurst, c.MaxContinuationFrames, c.MaxPendingPerIP)
	}
	for _, args := range [][]string{
		{"-ping-rate", "0"}, {"-ping-rate", "1e7"}, {"-ping-burst", "0"}, {"-ping-burst", "256"},
		{"-max-pending-per-ip", "0"}, {"-max-continuation-frames", "0"},
	} {
		if _, err := parseFlags(args, env(nil)); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: got %v, want an error about %s", args, err, args[0])
		}
	}
}
