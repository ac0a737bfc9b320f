package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/hooks"
)

const hookSecret16 = "hook-secret-0123"

func TestHookFlags(t *testing.T) {
	o, err := parseFlags([]string{"-hook-connect", "https://app.example/chat/connect", "-hook-publish", "http://127.0.0.1:9000/p",
		"-hook-connect-headers", "Cookie, X-Tenant", "-hook-publish-on-failure", "allow", "-hook-publish-timeout", "250ms",
		"-hook-max-per-room", "4"},
		env(map[string]string{"CHATD_HOOK_SECRET": hookSecret16, "CHATD_HOOK_MAX_INFLIGHT": "8"}))
	if err != nil {
		t.Fatal(err)
	}
	h := o.cfg.Hooks
	want := hooks.Config{Secret: hookSecret16, ConnectHeaders: []string{"Cookie", "X-Tenant"},
		Connect:     hooks.Endpoint{URL: "https://app.example/chat/connect", Timeout: server.DefaultHookConnectTimeout, OnFailure: hooks.Refuse},
		Publish:     hooks.Endpoint{URL: "http://127.0.0.1:9000/p", Timeout: 250 * time.Millisecond, OnFailure: hooks.Allow},
		MaxInFlight: 8, MaxQueued: server.DefaultHookMaxQueued, MaxQueuedBytes: server.DefaultHookMaxQueuedBytes, MaxPerKey: 4}
	if h.Connect != want.Connect || h.Join != want.Join || h.Publish != want.Publish || h.Secret != want.Secret ||
		!slices.Equal(h.ConnectHeaders, want.ConnectHeaders) || h.MaxInFlight != want.MaxInFlight ||
		h.MaxQueued != want.MaxQueued || h.MaxQueuedBytes != want.MaxQueuedBytes || h.MaxPerKey != want.MaxPerKey {
		t.Fatalf("hooks config\n%+v\nwant\n%+v", h, want)
	}
	if w := hookWarnings(o); len(w) != 0 {
		t.Fatalf("warnings %q", w)
	}
	// Off by default.
	if o, err := parseFlags(nil, env(nil)); err != nil || o.cfg.Hooks.On() {
		t.Fatalf("defaults: %+v %v", o.cfg.Hooks, err)
	}
}

func TestHookFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-hook-join", "http://127.0.0.1:1/j"}, "-hook-secret"},
		{[]string{"-hook-join", "http://127.0.0.1:1/j", "-hook-secret", "short"}, "-hook-secret is 5 bytes"},
		{[]string{"-hook-join", "ftp://x/j", "-hook-secret", hookSecret16}, "-hook-join"},
		{[]string{"-hook-publish", "http://u:p@x/p", "-hook-secret", hookSecret16}, "user information"},
		{[]string{"-hook-join", "http://x/j", "-hook-secret", hookSecret16, "-hook-join-on-failure", "maybe"}, "refuse or allow"},
		{[]string{"-hook-join-timeout", "0s"}, "-hook-join-timeout"},
		{[]string{"-hook-publish-timeout", "2m"}, "-hook-publish-timeout"},
		{[]string{"-hook-connect-headers", "Cookie"}, "needs -hook-connect"},
		{[]string{"-hook-connect", "http://x/c", "-hook-secret", hookSecret16, "-hook-connect-headers",
			strings.Repeat("A,", 17)}, "at most 16"},
		{[]string{"-hook-join", "http://x/j", "-hook-secret", hookSecret16, "-hook-max-queued", "0"}, "at least 1"},
		{[]string{"-auth", "required", "-jwt-secret", secret32, "-hook-connect", "http://x/c", "-hook-secret", hookSecret16},
			"-auth required"},
	} {
		_, err := parseFlags(tc.args, env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}

func TestHookFlagsWarnings(t *testing.T) {
	o, err := parseFlags([]string{"-hook-join", "http://backend.internal/j", "-hook-secret", hookSecret16}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if w := hookWarnings(o); len(w) != 1 || !strings.Contains(w[0], "plain http") {
		t.Fatalf("warnings %q, want one about plain http", w)
	}
	o, err = parseFlags(nil, env(map[string]string{"CHATD_HOOK_SECRET": hookSecret16}))
	if w := hookWarnings(o); err != nil || len(w) != 1 || !strings.Contains(w[0], "unused") {
		t.Fatalf("a secret without a hook: %v %q", err, w)
	}
}

// hookWarnings are the start-up warnings about the hook flags.
func hookWarnings(o *options) []string {
	var out []string
	for _, w := range o.warnings {
		if strings.HasPrefix(w, "-hook-") {
			out = append(out, w)
		}
	}
	return out
}
