package server_test

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
)

// rawUpgrade opens a WebSocket by hand (for a client that then never reads)
// and returns the TCP connection positioned after the 101 response.
func rawUpgrade(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := r.ReadString('\n')
	if err != nil || !strings.Contains(status, "101") {
		t.Fatalf("upgrade: %q %v", status, err)
	}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	return c, r
}

// maskedText builds a masked client text frame (mask key 0 is valid).
func maskedText(p string) []byte {
	b := []byte{0x81}
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	default:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	}
	b = append(b, 0, 0, 0, 0)
	return append(b, p...)
}

// A member that never reads is closed as a slow consumer (4008) and
// counted; the room's other members keep receiving everything.
func TestSlowConsumerInRoom(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.RateLimit, c.MaxOutboundBytes = -1, 256<<10 })
	slow, _ := rawUpgrade(t, s.Addr())
	if _, err := slow.Write(maskedText(`{"type":"join","roomId":"flood","username":"slow"}`)); err != nil {
		t.Fatal(err)
	}
	fast := connect(t, s)
	sender := connect(t, s)
	// Joins are announced to slow, which is already a member: wait for its
	// count to reach 3 from fast's side.
	fast.join("flood", "fast")
	sender.join("flood", "sender")
	fast.expect("userJoined")

	const n, batch = 4000, 20 // 4000 x ~4 KiB = 16 MiB: far beyond socket buffers plus 256 KiB
	payload := strings.Repeat("x", 4000)
	// The sender waits for fast to catch up every batch: fast is a reader
	// keeping pace, slow one that never reads.
	caughtUp := make(chan struct{}, n/batch)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the sender reads its echoes, or it would be a slow consumer too
		defer wg.Done()
		_ = sender.ws.SetReadDeadline(time.Now().Add(60 * time.Second)) // bounds the whole run
		for i := 0; i < n; i++ {
			if _, _, err := sender.ws.ReadMessage(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if i > 0 && i%batch == 0 {
				<-caughtUp
			}
			sender.send(`{"type":"message","content":"` + payload + `"}`)
		}
	}()
	got := 0
	sawLeft := false
	for got < n {
		m := fast.read()
		switch m.str("type") {
		case "message":
			got++
			if got%batch == 0 {
				caughtUp <- struct{}{}
			}
		case "userLeft":
			sawLeft = m.str("username") == "slow"
		}
	}
	wg.Wait()
	if !sawLeft {
		m := fast.expect("userLeft") // the slow member's departure, if not seen yet
		if m.str("username") != "slow" {
			t.Fatal(m)
		}
	}
	if m := scrape(t, s); m["chatd_slow_consumer_closes_total"] != 1 {
		t.Fatalf("slow consumer counter = %v", m["chatd_slow_consumer_closes_total"])
	}
}

// Timeouts are enforced and counted: a silent half handshake and an idle
// (non-ponging) WebSocket are both dropped.
func TestTimeoutsCounted(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.HandshakeTimeout, c.PingInterval, c.IdleTimeout = 200*time.Millisecond, 100*time.Millisecond, 300*time.Millisecond
		c.CloseTimeout = 100 * time.Millisecond
	})
	half, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	io.WriteString(half, "GET /ws HTTP/1.1\r\nHost: x\r\n")
	idle, r := rawUpgrade(t, s.Addr()) // never answers pings
	for _, c := range []net.Conn{half, idle} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	}
	if _, err := io.ReadAll(half); err != nil {
		t.Fatalf("half handshake not closed: %v", err)
	}
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("idle connection not closed: %v", err)
	}
	m := scrape(t, s)
	if m[`chatd_handshakes_failed_total{reason="timeout"}`] != 1 || m["chatd_idle_closes_total"] != 1 {
		t.Fatalf("timeout counters: %v %v", m[`chatd_handshakes_failed_total{reason="timeout"}`], m["chatd_idle_closes_total"])
	}
}

// A bounded flood of bad handshakes and garbage bytes leaves the node
// serving its clients normally: 80 connections by default, 400 in the long
// run.
func TestGarbageFlood(t *testing.T) { garbageFlood(t, 10) }

func TestGarbageFloodLong(t *testing.T) {
	longTest(t)
	garbageFlood(t, 50)
}

// garbageFlood runs 8 flooders of perFlooder connections each.
func garbageFlood(t *testing.T, perFlooder int) {
	s := startServer(t, func(c *server.Config) { c.HandshakeTimeout, c.RateLimit = 200*time.Millisecond, -1 })
	a, b := connect(t, s), connect(t, s)
	a.join("calm", "a")
	b.join("calm", "b")
	a.expect("userJoined")

	rng := rand.New(rand.NewSource(1))
	junk := []string{
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
		"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
		"\x00\x01\x02\x03\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"GET / HTTP/1.1\r\n" + strings.Repeat("X-A: b\r\n", 3000) + "\r\n",
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		seed := rng.Int63()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			for i := 0; i < perFlooder; i++ {
				c, err := net.Dial("tcp", s.Addr())
				if err != nil {
					t.Error(err)
					return
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				switch r.Intn(3) {
				case 0: // a bad request: wait for the answer or the close
					_, _ = io.WriteString(c, junk[r.Intn(len(junk))])
					_, _ = io.Copy(io.Discard, c)
				case 1: // random bytes, then wait for the handshake deadline
					buf := make([]byte, 1+r.Intn(4096))
					r.Read(buf)
					_, _ = c.Write(buf)
					_, _ = io.Copy(io.Discard, c)
				default: // random bytes and hang up at once
					buf := make([]byte, 1+r.Intn(65536))
					r.Read(buf)
					_, _ = c.Write(buf)
				}
				c.Close()
			}
		}()
	}
	// Meanwhile, the room keeps working.
	for i := 0; i < 50; i++ {
		a.send(fmt.Sprintf(`{"type":"message","content":"m%d"}`, i))
		a.expect("message")
		if m := b.expect("message"); m.str("content") != fmt.Sprintf("m%d", i) {
			t.Fatal(m)
		}
	}
	wg.Wait()
	c := connect(t, s)
	c.join("calm", "c")
	if m := a.expect("userJoined"); m.num("memberCount") != 3 {
		t.Fatal(m)
	}
}
