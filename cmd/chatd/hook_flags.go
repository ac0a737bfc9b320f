package main

import (
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/hooks"
)

// hookFlags are the flags of the hooks (the application's backend in the
// loop; README "Hooks and sink"). The secret is best given in the
// environment (CHATD_HOOK_SECRET): a flag's value shows in the process list.
type hookFlags struct {
	connect, join, publish                      string
	connectTimeout, joinTimeout, publishTimeout time.Duration
	connectPolicy, joinPolicy, publishPolicy    string
	secret, headers                             string
	maxInFlight, maxQueued, maxQueuedBytes      int
	maxPerRoom                                  int
	sinkOn                                      bool // -sink-url is set: the secret is the sink's too
}

// hookFlagNames is the -help group of these flags.
var hookFlagNames = []string{"hook-connect", "hook-join", "hook-publish", "hook-secret", "hook-connect-timeout",
	"hook-join-timeout", "hook-publish-timeout", "hook-connect-on-failure", "hook-join-on-failure",
	"hook-publish-on-failure", "hook-connect-headers", "hook-max-inflight", "hook-max-queued", "hook-max-queued-bytes",
	"hook-max-per-room"}

// maxHookTimeout bounds the hook timeouts: a connection waits this long at
// most for one answer.
const maxHookTimeout = time.Minute

func addHookFlags(fs *flag.FlagSet) *hookFlags {
	h := &hookFlags{}
	fs.StringVar(&h.connect, "hook-connect", "", "URL the connect hook POSTs to: the backend identifies connections without a token, or refuses them (empty: off)")
	fs.StringVar(&h.join, "hook-join", "", "URL the join hook POSTs to: the backend allows or refuses each join (empty: off)")
	fs.StringVar(&h.publish, "hook-publish", "", "URL the publish hook POSTs to: the backend allows, refuses or rewrites each message (empty: off)")
	fs.StringVar(&h.secret, "hook-secret", "", fmt.Sprintf("shared secret sent with every hook call and sink POST (Authorization: Bearer <secret>), at least %d bytes; required with a hook or -sink-url (prefer the env CHATD_HOOK_SECRET)", hooks.MinSecretBytes))
	fs.DurationVar(&h.connectTimeout, "hook-connect-timeout", server.DefaultHookConnectTimeout, "a connect hook call fails after this (waiting for a free slot included)")
	fs.DurationVar(&h.joinTimeout, "hook-join-timeout", server.DefaultHookJoinTimeout, "a join hook call fails after this")
	fs.DurationVar(&h.publishTimeout, "hook-publish-timeout", server.DefaultHookPublishTimeout, "a publish hook call fails after this")
	policy := "what a failed %s call (timeout, error, non-2xx, bad answer, overload) does: refuse (service_unavailable) or allow"
	fs.StringVar(&h.connectPolicy, "hook-connect-on-failure", string(server.DefaultHookOnFailure), fmt.Sprintf(policy, "connect")+" (refused connections close 1013)")
	fs.StringVar(&h.joinPolicy, "hook-join-on-failure", string(server.DefaultHookOnFailure), fmt.Sprintf(policy, "join"))
	fs.StringVar(&h.publishPolicy, "hook-publish-on-failure", string(server.DefaultHookOnFailure), fmt.Sprintf(policy, "publish"))
	fs.StringVar(&h.headers, "hook-connect-headers", server.DefaultHookConnectHeaders, fmt.Sprintf("comma-separated request headers of the upgrade the connect hook forwards, e.g. Cookie (at most %d; empty: none)", hooks.MaxConnectHeaders))
	fs.IntVar(&h.maxInFlight, "hook-max-inflight", server.DefaultHookMaxInFlight, "calls of one hook at the backend at once (and its keep-alive connections)")
	fs.IntVar(&h.maxQueued, "hook-max-queued", server.DefaultHookMaxQueued, "calls of one hook waiting for a slot; more fail at once (overload)")
	fs.IntVar(&h.maxQueuedBytes, "hook-max-queued-bytes", server.DefaultHookMaxQueuedBytes, "bytes of the requests of one hook waiting for a slot; more fail at once (overload)")
	fs.IntVar(&h.maxPerRoom, "hook-max-per-room", server.DefaultHookMaxPerRoom, "calls of one hook waiting or in flight for one room (connect: one client address); more fail at once (overload)")
	return h
}

// apply checks the flags and sets them on cfg; it returns warnings about
// settings that work but are risky.
func (h *hookFlags) apply(cfg *server.Config) (warnings []string, err error) {
	on := h.connect != "" || h.join != "" || h.publish != ""
	eps := []struct {
		flag, url, policy string
		timeout           time.Duration
		ep                *hooks.Endpoint
	}{{"connect", h.connect, h.connectPolicy, h.connectTimeout, &cfg.Hooks.Connect},
		{"join", h.join, h.joinPolicy, h.joinTimeout, &cfg.Hooks.Join},
		{"publish", h.publish, h.publishPolicy, h.publishTimeout, &cfg.Hooks.Publish}}
	for _, e := range eps {
		p := hooks.Policy(e.policy)
		switch {
		case p != hooks.Refuse && p != hooks.Allow:
			return nil, fmt.Errorf("-hook-%s-on-failure %q: want refuse or allow", e.flag, e.policy)
		case e.timeout <= 0 || e.timeout > maxHookTimeout:
			return nil, fmt.Errorf("-hook-%s-timeout must be between 0 and %v", e.flag, maxHookTimeout)
		}
		if e.url == "" {
			continue
		}
		if err := hooks.CheckURL(e.url); err != nil {
			return nil, fmt.Errorf("-hook-%s: %w", e.flag, err)
		}
		if u, _ := url.Parse(e.url); u.Scheme == "http" && !loopbackHost(u.Hostname()) {
			warnings = append(warnings, fmt.Sprintf("-hook-%s %s is plain http to another host: the hook secret, "+
				"and what the calls carry (tokens, cookies, messages), cross the network in clear; use https", e.flag, e.url))
		}
		*e.ep = hooks.Endpoint{URL: e.url, Timeout: e.timeout, OnFailure: p}
	}
	var headers []string
	for _, n := range strings.Split(h.headers, ",") {
		if n = strings.TrimSpace(n); n != "" {
			headers = append(headers, n)
		}
	}
	switch {
	case on && len(h.secret) < hooks.MinSecretBytes:
		return nil, fmt.Errorf("-hook-secret is %d bytes, want at least %d with a hook (CHATD_HOOK_SECRET)", len(h.secret), hooks.MinSecretBytes)
	case !on && h.secret != "" && !h.sinkOn:
		warnings = append(warnings, "-hook-secret is set but no hook is (-hook-connect, -hook-join, -hook-publish): it is unused")
	case len(headers) > 0 && h.connect == "":
		return nil, fmt.Errorf("-hook-connect-headers needs -hook-connect")
	case len(headers) > hooks.MaxConnectHeaders:
		return nil, fmt.Errorf("-hook-connect-headers names %d headers, at most %d", len(headers), hooks.MaxConnectHeaders)
	case h.connect != "" && cfg.Auth == server.AuthRequired:
		return nil, fmt.Errorf("-hook-connect identifies connections without a token; with -auth required every connection has one: use -auth optional or off")
	case h.maxInFlight < 1 || h.maxQueued < 1 || h.maxQueuedBytes < 1 || h.maxPerRoom < 1:
		return nil, fmt.Errorf("-hook-max-inflight, -hook-max-queued, -hook-max-queued-bytes and -hook-max-per-room must be at least 1")
	}
	cfg.Hooks.Secret, cfg.Hooks.ConnectHeaders = h.secret, headers
	cfg.Hooks.MaxInFlight, cfg.Hooks.MaxQueued, cfg.Hooks.MaxQueuedBytes = h.maxInFlight, h.maxQueued, h.maxQueuedBytes
	cfg.Hooks.MaxPerKey = h.maxPerRoom
	return warnings, nil
}

// loopbackHost reports whether a URL's host is this machine (localhost or
// a loopback address; other names are not resolved).
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
