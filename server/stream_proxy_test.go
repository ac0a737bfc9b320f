package server_test

import (
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server/internal/redistest"
)

// HTTP streaming through the shipped proxy configurations
// (scripts/deploy/nginx.conf and haproxy.cfg, run by proxy.sh) over TLS, in
// front of two nodes: streams are passed as they come (not buffered), POSTs
// reach their sessions wherever the balancer sends them, and the origin rule
// sees the browser's host.
func TestStreamThroughTLSProxy(t *testing.T) {
	for _, kind := range []string{"nginx", "haproxy"} {
		t.Run(kind, func(t *testing.T) {
			requireTools(t, []string{"CHATD_REQUIRE_PROXY"}, kind, "openssl", "curl")
			rs := redistest.Start(t)
			a := startProxiedNode(t, rs, "A", 0)
			b := startProxiedNode(t, rs, "B", 0)
			proxy := "https://" + startProxy(t, kind, a, b)
			alice := openStream(t, proxy)
			bob := openStream(t, proxy)
			alice.origin, bob.origin = proxy, proxy // as a browser on the proxy's page
			if alice.node == bob.node {
				t.Logf("both streams on %s", alice.node)
			}
			alice.hello("alice")
			bob.hello("bob")
			alice.join("proxied")
			bob.join("proxied")
			alice.expect("joined")
			for _, text := range []string{"one", "two", "three"} {
				alice.publish("proxied", text)
				if m := bob.expect("message"); m.str("content") != text {
					t.Fatalf("bob got %v", m)
				}
			}
			// A foreign page's POST is refused, through the proxy too.
			status, m := postTo(t, proxy, bob.postBody(bob.seq+1), "Origin", "https://evil.example")
			if status != 403 || errCode(m) != "origin_not_allowed" {
				t.Fatalf("foreign origin: %d %v", status, m)
			}
			if n := a.Stats().Streams + b.Stats().Streams; n != 2 {
				t.Fatalf("streams on the nodes: %d", n)
			}
		})
	}
}

// Behind each proxy a quiet stream outlives every proxy timeout: chatd's
// keepalive comments (every -ping-interval, 30 s) keep it open past
// HAProxy's 30 s server timeout, and the client's heartbeats keep its
// session past chatd's own idle timeout (75 s).
func TestStreamThroughProxyStaysOpen(t *testing.T) {
	longTest(t)
	for _, kind := range []string{"nginx", "haproxy"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			requireTools(t, []string{"CHATD_REQUIRE_PROXY"}, kind, "openssl", "curl")
			rs := redistest.Start(t)
			a := startProxiedNode(t, rs, "A", 0)
			proxy := "https://" + startProxy(t, kind, a)
			quiet := openStream(t, proxy)
			quiet.hello("quiet")
			quiet.join("room")
			// 90 s of silence but for heartbeats every 25 s: three keepalives
			// (each 30 s after the last), past HAProxy's 30 s server timeout
			// (and its client timeout) and chatd's 75 s idle timeout.
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 3; i++ {
					time.Sleep(25 * time.Second)
					quiet.send()
				}
			}()
			start := time.Now()
			for pings := 0; pings < 3; {
				_ = quiet.conn.SetReadDeadline(time.Now().Add(40 * time.Second))
				line, err := quiet.r.ReadString('\n')
				if err != nil {
					t.Fatalf("the stream ended after %d keepalives, %v: %v", pings, time.Since(start), err)
				}
				switch line {
				case ": ping\n":
					pings++
				case "\n":
				default:
					t.Fatalf("unexpected %q", line)
				}
			}
			wg.Wait()
			if d := time.Since(start); d < 85*time.Second {
				t.Fatalf("three keepalives in %v: more often than every 30 s", d)
			}
			other := openStream(t, proxy)
			other.hello("other")
			other.join("room")
			if m := quiet.expect("joined"); m.str("name") != "other" {
				t.Fatalf("got %v", m)
			}
		})
	}
}
