package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/gorilla/websocket"
)

// Black-box tests of chatd behind a reverse proxy: the test client plays
// the proxy (or a client spoofing one) from 127.0.0.1.

// dialWith upgrades with extra headers; it returns the status (101 when
// upgraded) and closes the connection at the end of the test.
func dialWith(t *testing.T, s *server.Server, hdr ...string) (int, *websocket.Conn) {
	t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Add(hdr[i], hdr[i+1])
	}
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/ws", h)
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		return resp.StatusCode, nil
	}
	t.Cleanup(func() { ws.Close() })
	return 101, ws
}

func trusting(prefixes ...string) func(*server.Config) {
	return func(c *server.Config) {
		for _, p := range prefixes {
			c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(p))
		}
		c.MaxConnsPerIP = 2
	}
}

// From a trusted proxy, the forwarded address is the one limited.
func TestConnsPerIPBehindTrustedProxy(t *testing.T) {
	s := startServer(t, trusting("127.0.0.0/8"))
	first, ws1 := dialWith(t, s, "X-Forwarded-For", "203.0.113.5")
	second, ws2 := dialWith(t, s, "X-Forwarded-For", "198.51.100.1, 203.0.113.5") // the left entry is the client's own claim
	if first != 101 || second != 101 {
		t.Fatalf("two connections from 203.0.113.5: %d %d, want 101 101", first, second)
	}
	if got, _ := dialWith(t, s, "X-Real-IP", "192.0.2.1", "X-Forwarded-For", "203.0.113.5"); got != 429 {
		t.Fatalf("third from 203.0.113.5: %d, want 429", got)
	}
	for _, other := range [][]string{{"X-Forwarded-For", "203.0.113.6"}, {"X-Real-IP", "203.0.113.7"}, nil} {
		if got, _ := dialWith(t, s, other...); got != 101 {
			t.Fatalf("another address %v: %d, want 101", other, got)
		}
	}
	m := scrape(t, s)
	if m["chatd_conns_per_ip_refusals_total"] != 1 || m["chatd_client_addresses"] != 4 {
		t.Fatalf("refusals %v, addresses %v; want 1 and 4", m["chatd_conns_per_ip_refusals_total"], m["chatd_client_addresses"])
	}
	// Closed connections free their places (the server learns of the closes
	// asynchronously: poll the gauge, then dial).
	ws1.Close()
	ws2.Close()
	waitFor(t, 5*time.Second, "203.0.113.5 to be uncounted", func() bool {
		return scrape(t, s)["chatd_client_addresses"] == 3
	})
	for i := 0; i < 2; i++ {
		if got, _ := dialWith(t, s, "X-Forwarded-For", "203.0.113.5"); got != 101 {
			t.Fatalf("203.0.113.5 after its connections closed: %d, want 101", got)
		}
	}
}

// Headers from a peer that is not a trusted proxy are the client's own
// words: they change nothing.
func TestSpoofedForwardingIgnored(t *testing.T) {
	s := startServer(t, trusting("192.0.2.0/24")) // loopback is not trusted
	for _, h := range [][]string{{"X-Forwarded-For", "203.0.113.1"}, {"X-Real-IP", "203.0.113.2"}} {
		if got, _ := dialWith(t, s, h...); got != 101 {
			t.Fatalf("%v: %d, want 101", h, got)
		}
	}
	// Both counted as 127.0.0.1, whatever they claimed.
	if got, _ := dialWith(t, s, "X-Forwarded-For", "203.0.113.3", "X-Real-IP", "203.0.113.4"); got != 429 {
		t.Fatalf("third spoofing connection from 127.0.0.1: %d, want 429", got)
	}
	if m := scrape(t, s); m["chatd_client_addresses"] != 1 {
		t.Fatalf("client addresses %v, want 1 (127.0.0.1)", m["chatd_client_addresses"])
	}
}

// The same-host origin rule behind a proxy that rewrites Host: the host the
// browser used comes from X-Forwarded-Host, from a trusted proxy only.
func TestOriginBehindProxy(t *testing.T) {
	trusted := startServer(t, trusting("127.0.0.1/32"))
	untrusted := startServer(t, trusting("192.0.2.0/24"))
	origin := "https://chat.example.com"
	for _, tc := range []struct {
		s    *server.Server
		hdr  []string
		want int
	}{
		{trusted, []string{"Origin", origin, "Host", "backend:8080", "X-Forwarded-Host", "chat.example.com"}, 101},
		{trusted, []string{"Origin", origin, "Host", "backend:8080", "X-Forwarded-Host", "chat.example.com:443"}, 101},
		{trusted, []string{"Origin", origin, "Host", "backend:8080"}, 403},
		{trusted, []string{"Origin", "https://evil.example", "Host", "backend:8080", "X-Forwarded-Host", "chat.example.com"}, 403},
		{untrusted, []string{"Origin", origin, "Host", "backend:8080", "X-Forwarded-Host", "chat.example.com"}, 403},
		{untrusted, []string{"Origin", origin, "Host", "chat.example.com"}, 101},
	} {
		if got, _ := dialWith(t, tc.s, tc.hdr...); got != tc.want {
			t.Errorf("trusted=%v %v: %d, want %d", tc.s == trusted, tc.hdr, got, tc.want)
		}
	}
}

// With NoMetricsOnMain, /metrics leaves the main port (the admin handler
// keeps it); the balancer's /healthz and /readyz stay.
func TestMetricsOffMainPort(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.NoMetricsOnMain = true })
	for path, want := range map[string]int{"/metrics": 404, "/healthz": 200, "/readyz": 200} {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("main port %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	resp, err := http.Get(admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) == 0 {
		t.Fatalf("admin /metrics: %d, %d bytes", resp.StatusCode, len(body))
	}
}
