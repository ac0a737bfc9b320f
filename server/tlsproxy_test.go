package server_test

import (
	"testing"

	"github.com/chatd/chatd/server/internal/redistest"
)

// Two cluster nodes behind the shipped proxy configurations
// (scripts/deploy/nginx.conf and haproxy.cfg, run by proxy.sh) over TLS:
// browsers' upgrades pass the origin check (the proxy keeps the browser's
// host in X-Forwarded-Host), users on both nodes chat, and the per-address
// limit counts the client's address as the proxy forwards it: not the
// proxy's, and not what the client claims.
func TestThroughTLSProxy(t *testing.T) {
	longTest(t)
	for _, kind := range []string{"nginx", "haproxy"} {
		t.Run(kind, func(t *testing.T) {
			requireTools(t, []string{"CHATD_REQUIRE_PROXY"}, kind, "openssl", "curl")
			rs := redistest.Start(t)
			a := startProxiedNode(t, rs, "A", 1)
			b := startProxiedNode(t, rs, "B", 1)
			proxy := startProxy(t, kind, a, b)

			// Client 127.0.0.2 twice: one connection per node (the proxies
			// balance by open connections), each node's limit reached.
			st1, c1 := dialTLS(t, proxy, "127.0.0.2", "X-Forwarded-For", "198.51.100.1")
			st2, c2 := dialTLS(t, proxy, "127.0.0.2", "X-Forwarded-For", "198.51.100.2")
			if st1 != 101 || st2 != 101 {
				t.Fatalf("two connections from 127.0.0.2: %d %d, want 101 101", st1, st2)
			}
			if a.Stats().WebSockets != 1 || b.Stats().WebSockets != 1 {
				t.Fatalf("open per node: A %d, B %d; want 1 and 1", a.Stats().WebSockets, b.Stats().WebSockets)
			}
			// A third from 127.0.0.2 is over the limit on either node,
			// whatever it claims to be.
			if st, _ := dialTLS(t, proxy, "127.0.0.2", "X-Forwarded-For", "198.51.100.3", "X-Real-IP", "198.51.100.4"); st != 429 {
				t.Fatalf("third from 127.0.0.2 with spoofed headers: %d, want 429", st)
			}
			// Another client is not: the nodes limit clients, not the proxy.
			if st, _ := dialTLS(t, proxy, "127.0.0.3"); st != 101 {
				t.Fatalf("a connection from 127.0.0.3: %d, want 101", st)
			}

			// Chat across the nodes, through the proxy.
			u1 := &client{t: t, ws: c1}
			u2 := &client{t: t, ws: c2}
			u1.expect("connected")
			u2.expect("connected")
			u1.join("proxied", "one")
			u2.join("proxied", "two")
			u1.expect("userJoined")
			u2.send(map[string]string{"type": "message", "content": "over TLS"})
			if m := u1.expect("message"); m.str("content") != "over TLS" || m.str("username") != "two" {
				t.Fatalf("got %v", m)
			}
		})
	}
}
