package server_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
)

// The transport's abuse limits reach a node's configuration and its
// /metrics: pings over the budget close 1008 and are counted, and an address
// over its pending handshakes is refused with 503 under its own reason.
func TestTransportAbuseLimitsInMetrics(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.PingRate, c.PingBurst, c.MaxPendingPerIP, c.PendingPressure = 1e-9, 2, 1, -1 })

	// Pending handshakes, from 127.0.0.2 (the scrapes come from 127.0.0.1).
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	pending, err := d.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Close()
	waitFor(t, 5*time.Second, "the pending connection", func() bool {
		return scrape(t, s)["chatd_tcp_connections"] >= 2 // it and the scrape's own
	})
	over, err := d.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(over), nil)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("over the pending limit: %v %v, want 503", resp, err)
	}

	// Three pings against a burst of two.
	c, r := rawUpgrade(t, s.Addr())
	ping := []byte{0x89, 0x80, 0, 0, 0, 0}
	if _, err := c.Write(append(append(append([]byte{}, ping...), ping...), ping...)); err != nil {
		t.Fatal(err)
	}
	for { // the greeting, pongs, then the close
		var h [2]byte
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(r, h[:]); err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		p := make([]byte, h[1]&0x7F) // all of them are under 126 bytes
		if _, err := io.ReadFull(r, p); err != nil {
			t.Fatal(err)
		}
		if h[0] == 0x88 {
			if code := binary.BigEndian.Uint16(p); code != 1008 {
				t.Fatalf("close %d, want 1008", code)
			}
			break
		}
	}

	m := scrape(t, s)
	for k, want := range map[string]float64{
		"chatd_ping_abuse_closes_total":                          1,
		`chatd_handshakes_failed_total{reason="pending_per_ip"}`: 1,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
}
