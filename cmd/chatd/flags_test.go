package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Every flag is listed in exactly one -help group, with its env variable.
func TestHelpListsEveryFlagOnce(t *testing.T) {
	fs, _ := newFlagSet(&options{})
	seen := map[string]int{}
	for _, g := range flagGroups {
		for _, n := range g.names {
			seen[n]++
			if fs.Lookup(n) == nil {
				t.Errorf("group %q lists unknown flag %q", g.title, n)
			}
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if seen[f.Name] != 1 {
			t.Errorf("flag -%s is in %d help groups, want 1", f.Name, seen[f.Name])
		}
	})
	var b bytes.Buffer
	printHelp(&b)
	for _, want := range []string{"-max-outbound-bytes", "CHATD_MAX_OUTBOUND_BYTES", "(default 1048576)", "Cluster:", "SIGUSR1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestFlagsEnvAndPrecedence(t *testing.T) {
	o, err := parseFlags([]string{"-loops", "3"}, env(map[string]string{
		"CHATD_LOOPS": "7", "CHATD_RATE_LIMIT": "5.5", "PORT": "9001", "CHATD_ALLOWED_ORIGINS": "https://a, https://b",
		"CHATD_IDLE_TIMEOUT": "2m", "CHATD_DRAIN_WINDOW": "1s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Loops != 3 || c.RateLimit != 5.5 || c.Addr != ":9001" || c.IdleTimeout != 2*time.Minute || o.drainWindow != time.Second {
		t.Fatalf("got loops %d rate %v addr %q idle %v drain %v", c.Loops, c.RateLimit, c.Addr, c.IdleTimeout, o.drainWindow)
	}
	if len(c.AllowedOrigins) != 2 || c.AllowedOrigins[1] != "https://b" {
		t.Fatalf("origins %q", c.AllowedOrigins)
	}
	// -addr beats PORT.
	if o, _ := parseFlags([]string{"-addr", "127.0.0.1:1"}, env(map[string]string{"PORT": "9001"})); o.cfg.Addr != "127.0.0.1:1" {
		t.Fatalf("addr %q", o.cfg.Addr)
	}
}

func TestFlagsRefuseBadValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-log-level", "loud"}, nil, "-log-level"},
		{[]string{"-log-format", "xml"}, nil, "-log-format"},
		{[]string{"-addr", "nope"}, nil, "-addr"},
		{[]string{"-admin", "nope"}, nil, "-admin"},
		{[]string{"-loops", "65"}, nil, "-loops"},
		{[]string{"-max-message-bytes", "10"}, nil, "-max-message-bytes"},
		{[]string{"-max-outbound-bytes", "10"}, nil, "-max-outbound-bytes"},
		{[]string{"-max-conns", "-1"}, nil, "-max-conns"},
		{[]string{"-idle-timeout", "10s", "-ping-interval", "30s"}, nil, "-idle-timeout"},
		{[]string{"-handshake-timeout", "0s"}, nil, "timeouts"},
		{[]string{"-drain-window", "20s"}, nil, "-shutdown-timeout"},
		{[]string{"-no-such-flag"}, nil, "no-such-flag"},
		{[]string{"extra"}, nil, "unexpected argument"},
		{nil, map[string]string{"CHATD_LOOPS": "many"}, "CHATD_LOOPS"},
		{nil, map[string]string{"PORT": "http"}, "PORT"},
	} {
		_, err := parseFlags(tc.args, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: got %v, want an error about %s", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestHelpAndVersionFlags(t *testing.T) {
	for _, a := range []string{"-help", "-h"} {
		if o, err := parseFlags([]string{a}, env(nil)); err != nil || !o.help {
			t.Errorf("%s: %v %v", a, o, err)
		}
	}
	if o, err := parseFlags([]string{"-version"}, env(nil)); err != nil || !o.version {
		t.Errorf("-version: %v", err)
	}
}
