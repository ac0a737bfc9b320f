package eventloop_test

// The child processes of TestConnectStorm (storm_test.go): this test binary
// re-executed as the server under a lowered file limit, or as a dialer.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
	"golang.org/x/sys/unix"
)

// TestStormChild is not a test: it is the child processes of
// TestConnectStorm, selected by CHATD_STORM_ROLE.
func TestStormChild(t *testing.T) {
	switch os.Getenv("CHATD_STORM_ROLE") {
	case "server":
		stormServer(t)
	case "dialer":
		stormDialer(t)
	default:
		t.Skip("a child process of TestConnectStorm")
	}
}

// stormServer runs an echo engine under a lowered file limit, with the
// default TCP cap, until stdin closes. GET /stats reports the cap and the
// peak of open WebSockets.
func stormServer(t *testing.T) {
	limit := envInt(t, "CHATD_STORM_LIMIT", 0)
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	rl.Cur = uint64(limit)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	h := &peakHandler{echoHandler: newEchoHandler()}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// The storm dials hundreds at once from each source address: the
	// per-address bound on pending handshakes (MaxPendingPerIP) is not what
	// this test measures.
	e, err := eventloop.Start(eventloop.Config{Addr: "127.0.0.1:0", Loops: 2, Handler: h, Logger: log, MaxPendingPerIP: -1})
	if err != nil {
		t.Fatal(err)
	}
	h.eng.Store(e)
	fmt.Printf("addr %s\n", e.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// stormDialer dials CHATD_STORM_N WebSockets at once when told "go", reports
// what it got, and holds the connections until stdin closes.
func stormDialer(t *testing.T) {
	n := envInt(t, "CHATD_STORM_N", 0)
	addr, src := os.Getenv("CHATD_STORM_ADDR"), net.ParseIP(os.Getenv("CHATD_STORM_SRC"))
	d := net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: src},
		// Pick the port at connect(2), not bind(2), which runs out of ports near 28k per source address.
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			})
			return errors.Join(err, serr)
		}}
	in := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	if !in.Scan() {
		return
	}
	var mu sync.Mutex
	r := stormReport{Errors: map[string]int{}}
	held := make([]net.Conn, 0, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c, outcome := stormDial(&d, addr)
			mu.Lock()
			defer mu.Unlock()
			switch outcome {
			case "101":
				r.Upgraded++
				held = append(held, c)
				return
			case "503":
				r.Refused++
			case "closed":
				r.Closed++
			default:
				r.Errors[outcome]++
			}
			if c != nil {
				c.Close()
			}
		})
	}
	wg.Wait()
	b, _ := json.Marshal(r)
	fmt.Printf("report %s\n", b)
	for in.Scan() {
	}
	for _, c := range held {
		c.Close()
	}
}

// stormDial opens one WebSocket and says how it went: "101", "503",
// "closed", or an error message.
func stormDial(d *net.Dialer, addr string) (net.Conn, string) {
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, "dial: " + errText(err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, upgradeRequest()); err != nil && !isClosedErr(err) && !errors.Is(err, syscall.EPIPE) {
		return c, "write: " + errText(err)
	}
	var b [12]byte // "HTTP/1.1 101"
	if _, err := io.ReadFull(c, b[:]); err != nil {
		if isClosedErr(err) || errors.Is(err, io.ErrUnexpectedEOF) {
			return c, "closed"
		}
		return c, "read: " + errText(err)
	}
	_ = c.SetDeadline(time.Time{})
	switch s := string(b[9:]); s {
	case "101", "503":
		return c, s
	default:
		return c, "status " + s
	}
}

// errText drops the addresses from an error, so that errors group.
func errText(err error) string {
	var se syscall.Errno
	if errors.As(err, &se) {
		return se.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}

// peakHandler is the echo handler plus the peak of open WebSockets and a
// /stats endpoint.
type peakHandler struct {
	*echoHandler
	mu         sync.Mutex
	open, peak int
	eng        atomic.Pointer[eventloop.Engine]
}

func (h *peakHandler) Open(c *eventloop.Conn) {
	h.mu.Lock()
	h.open++
	h.peak = max(h.peak, h.open)
	h.mu.Unlock()
}

func (h *peakHandler) Close(c *eventloop.Conn, _ eventloop.CloseCode) {
	h.mu.Lock()
	h.open--
	h.mu.Unlock()
}

func (h *peakHandler) HTTP(r *eventloop.Request) *eventloop.Response {
	e := h.eng.Load()
	h.mu.Lock()
	st := stormStats{Cap: e.MaxTCPConns(), Peak: h.peak, Refused: e.Stats().HandshakeFailures[eventloop.HandshakeFull]}
	h.mu.Unlock()
	b, _ := json.Marshal(st)
	return &eventloop.Response{Status: 200, ContentType: "application/json", Body: b}
}
