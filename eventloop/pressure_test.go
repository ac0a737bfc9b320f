package eventloop_test

// The per-address bound on pending handshakes engages only under handshake
// pressure (Config.PendingPressure, issue 19 item 4): an idle node takes a
// burst of thousands from one address, and a slow-handshake flood from one
// address still cannot fill the node.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
)

// handshakeBurst upgrades n connections from the address src, all dialed at
// once, and returns how many got 101 and how many 503; anything else fails
// the test. The connections are closed at the end of the test.
func handshakeBurst(t *testing.T, e *eventloop.Engine, src string, n int) (upgraded, refused int) {
	t.Helper()
	start := make(chan struct{})
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	conns := make([]net.Conn, n)
	for i := range n {
		wg.Go(func() {
			<-start
			d := net.Dialer{Timeout: wait, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			nc, err := d.Dial("tcp", e.Addr())
			if err == nil {
				conns[i] = nc
				status, herr := upgradeStatus(nc)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case herr != nil:
					err = herr
				case status == "HTTP/1.1 101 Switching Protocols":
					upgraded++
				case status == "HTTP/1.1 503 Service Unavailable":
					refused++
				default:
					err = fmt.Errorf("status %q", status)
				}
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	if len(errs) > 0 {
		t.Fatalf("%d of %d handshakes failed, first: %v", len(errs), n, errs[0])
	}
	return upgraded, refused
}

// upgradeStatus sends an upgrade request on nc and returns the response's
// status line, after reading the rest of the head.
func upgradeStatus(nc net.Conn) (string, error) {
	_ = nc.SetDeadline(time.Now().Add(4 * wait))
	defer nc.SetDeadline(time.Time{})
	r := bufio.NewReaderSize(nc, 512)
	// A refused connection gets its 503 at accept, maybe before this write
	// (which may then fail): the answer is what counts.
	_, _ = io.WriteString(nc, upgradeRequest())
	status, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read status: %w", err)
	}
	for line := ""; line != "\r\n"; {
		if line, err = r.ReadString('\n'); err != nil {
			return "", fmt.Errorf("read head: %w", err)
		}
	}
	return status[:len(status)-2], nil
}

// TestPendingBurstIdleNode: with default settings, 2,000 clients from one
// address handshaking at once on an idle node all get in.
func TestPendingBurstIdleNode(t *testing.T) {
	const n = 2000
	e, _ := framingEngine(t, nil)
	upgraded, refused := handshakeBurst(t, e, "127.0.0.1", n)
	st := e.Stats()
	if upgraded != n || refused != 0 || st.HandshakeFailures[eventloop.HandshakePerIP] != 0 || st.Upgraded != n {
		t.Fatalf("upgraded %d, refused %d of %d; stats: upgraded %d, pending_per_ip %d", upgraded, refused, n,
			st.Upgraded, st.HandshakeFailures[eventloop.HandshakePerIP])
	}
	if st.PendingHandshakes != 0 {
		t.Fatalf("PendingHandshakes = %d after every upgrade, want 0", st.PendingHandshakes)
	}
}

// stall opens connections from src that send part of an upgrade request and
// stop there (a slowloris), one at a time, each held or refused by the engine
// before the next. It returns them in order.
func stall(t *testing.T, e *eventloop.Engine, src string, n int) []*rawClient {
	t.Helper()
	// (Not Accepted: the engine counts a connection accepted before it
	// decides to hold or refuse it. Stats read in between once found one
	// connection neither pending nor refused, under the race detector.)
	decided := func() int64 {
		st := e.Stats()
		return st.PendingHandshakes + st.HandshakeFailures[eventloop.HandshakePerIP] + st.HandshakeFailures[eventloop.HandshakeFull]
	}
	cs := make([]*rawClient, n)
	for i := range cs {
		before := decided()
		cs[i] = dialFrom(t, e, src)
		_, _ = cs[i].Write([]byte("GET /ws HTTP/1.1\r\nHost: example.com\r\n")) // may fail on a refused one
		waitFor(t, "the engine to hold or refuse the connection", func() bool { return decided() > before })
	}
	return cs
}

// TestPendingSlowloris: a slow-handshake flood from one address holds at
// most max(PendingPressure, MaxPendingPerIP) connections and is refused
// (503) past that; a second address still upgrades, and its own flood is
// held to MaxPendingPerIP while the node is under pressure.
func TestPendingSlowloris(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mod   func(*eventloop.Config)
		flood int // stalled connections from the first address
		held  int // of which the node keeps (the rest get 503)
		perIP int // what a second address may hold under pressure
		long  bool
	}{
		{name: "small threshold", flood: 120, held: 48, perIP: 8,
			mod: func(c *eventloop.Config) { c.MaxPendingPerIP = 8; c.PendingPressure = 48 }},
		{name: "bound over threshold", flood: 40, held: 16, perIP: 16,
			mod: func(c *eventloop.Config) { c.MaxPendingPerIP = 16; c.PendingPressure = 4 }},
		// Default bound and threshold, the threshold cut to a quarter of
		// a small MaxTCPConns.
		{name: "defaults, a quarter of MaxTCPConns", flood: 150, held: 100, perIP: eventloop.DefaultMaxPendingPerIP,
			mod: func(c *eventloop.Config) { c.MaxTCPConns = 400 }},
		{name: "threshold lowered to a quarter of MaxTCPConns", flood: 80, held: 50, perIP: 8,
			mod: func(c *eventloop.Config) { c.MaxTCPConns = 200; c.PendingPressure = 1000; c.MaxPendingPerIP = 8 }},
		{name: "defaults", flood: eventloop.DefaultPendingPressure + 100, held: eventloop.DefaultPendingPressure,
			perIP: eventloop.DefaultMaxPendingPerIP, long: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.long {
				longTest(t)
			}
			e, _ := framingEngine(t, func(c *eventloop.Config) {
				c.HandshakeTimeout = time.Minute // the flood stays for the whole test
				if tc.mod != nil {
					tc.mod(c)
				}
			})
			refusedPerIP := func() int64 { return e.Stats().HandshakeFailures[eventloop.HandshakePerIP] }

			flood := stall(t, e, "127.0.0.1", tc.flood)
			if st := e.Stats(); st.PendingHandshakes != int64(tc.held) || refusedPerIP() != int64(tc.flood-tc.held) {
				t.Fatalf("flood of %d: %d pending, %d refused; want %d and %d", tc.flood, st.PendingHandshakes,
					refusedPerIP(), tc.held, tc.flood-tc.held)
			}
			for _, c := range flood[tc.held:] {
				if resp, _ := c.response(); resp.StatusCode != 503 {
					t.Fatalf("flood connection over the bound: %s, want 503", resp.Status)
				}
			}

			// A second address gets in while the flood is held...
			c := dialFrom(t, e, "127.0.0.2")
			c.send([]byte(upgradeRequest()))
			c.expect101()
			// ...and, the node being under pressure, may stall perIP at most.
			second := stall(t, e, "127.0.0.2", tc.perIP+2)
			for _, c := range second[tc.perIP:] {
				if resp, _ := c.response(); resp.StatusCode != 503 {
					t.Fatalf("second address over its bound: %s, want 503", resp.Status)
				}
			}
			if st := e.Stats(); st.PendingHandshakes != int64(tc.held+tc.perIP) || refusedPerIP() != int64(tc.flood-tc.held+2) {
				t.Fatalf("%d pending, %d refused; want %d and %d", st.PendingHandshakes, refusedPerIP(),
					tc.held+tc.perIP, tc.flood-tc.held+2)
			}
		})
	}
}
