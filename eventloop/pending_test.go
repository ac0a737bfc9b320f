package eventloop_test

import (
	"bufio"
	"net"
	"net/netip"
	"testing"

	"github.com/chatd/chatd/eventloop"
)

// dialFrom opens a TCP connection to e from the local address src.
func dialFrom(t *testing.T, e *eventloop.Engine, src string) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: wait, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	nc, err := d.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, Conn: nc, r: bufio.NewReader(nc)}
}

// TestPendingPerIP: an address with MaxPendingPerIP connections in their
// handshake gets 503 for the next one at once, counted, while another
// address still gets in; an upgrade or a close frees a slot; exempt peers
// are not limited.
func TestPendingPerIP(t *testing.T) {
	const limit = 4
	refused := func(e *eventloop.Engine) int64 {
		return e.Stats().HandshakeFailures[eventloop.HandshakePerIP]
	}
	// silent opens n connections from src that send nothing, and waits
	// until the engine holds them.
	silent := func(t *testing.T, e *eventloop.Engine, src string, n int) []*rawClient {
		cs := make([]*rawClient, n)
		base := e.Stats().Conns
		for i := range cs {
			cs[i] = dialFrom(t, e, src)
		}
		waitFor(t, "the silent connections", func() bool { return e.Stats().Conns == base+int64(n) })
		return cs
	}
	upgrade := func(c *rawClient) {
		c.t.Helper()
		c.send([]byte(upgradeRequest()))
		c.expect101()
	}

	t.Run("limited", func(t *testing.T) {
		e, _ := framingEngine(t, func(c *eventloop.Config) {
			c.MaxPendingPerIP = limit
			c.PendingPressure = -1 // the bound applies on an idle node too
		})
		pend := silent(t, e, "127.0.0.1", limit)

		over := dialFrom(t, e, "127.0.0.1")
		if resp, _ := over.response(); resp.StatusCode != 503 {
			t.Fatalf("over the limit: %s, want 503", resp.Status)
		}
		over.expectEOF()
		if n := refused(e); n != 1 {
			t.Fatalf("pending_per_ip failures = %d, want 1", n)
		}

		upgrade(dialFrom(t, e, "127.0.0.2")) // another address is not affected

		upgrade(pend[0]) // an upgrade frees its slot...
		upgrade(dialFrom(t, e, "127.0.0.1"))
		before := e.Stats().Conns
		pend[1].Close() // ...and so does a close
		waitFor(t, "the close", func() bool { return e.Stats().Conns == before-1 })
		last := dialFrom(t, e, "127.0.0.1")
		upgrade(last)
		if n := refused(e); n != 1 {
			t.Fatalf("pending_per_ip failures = %d, want 1", n)
		}
	})

	for _, prefix := range []string{"127.0.0.0/8", "::ffff:127.0.0.1/128"} {
		t.Run("exempt "+prefix, func(t *testing.T) {
			e, _ := framingEngine(t, func(c *eventloop.Config) {
				c.MaxPendingPerIP = limit
				c.PendingPressure = -1
				c.PendingExemptPeers = []netip.Prefix{netip.MustParsePrefix(prefix)}
			})
			silent(t, e, "127.0.0.1", 3*limit)
			upgrade(dialFrom(t, e, "127.0.0.1"))
			if n := refused(e); n != 0 {
				t.Fatalf("pending_per_ip failures = %d, want 0", n)
			}
		})
	}
}
