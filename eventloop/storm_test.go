package eventloop_test

// The connect-storm test for the TCP cap (fdlimit.go): more clients than
// the server has file descriptors dial at once. The server must fill at
// least 97 % of its file limit with WebSockets, refuse the rest with 503
// (or a close), and never let gnet's acceptor hit EMFILE, which would stop
// the whole engine.
//
// One process cannot hold both ends (the test's own file limit is the
// machine's 20,000), so the server runs as a child process (this test
// binary, re-executed) with a lowered RLIMIT_NOFILE, and the clients dial
// from several child processes, each from its own loopback source address.
//
// Scale: CHATD_STORM_CLIENTS (default 12,000) clients against a server file
// limit of CHATD_STORM_LIMIT (default 10,000). The figure:
// CHATD_STORM_CLIENTS=20000 CHATD_STORM_LIMIT=18000.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
)

// stormReport is what one dialer process saw.
type stormReport struct {
	Upgraded int            // got 101 and hold the WebSocket
	Refused  int            // got 503
	Closed   int            // closed (EOF or reset) before any answer
	Errors   map[string]int // anything else, by message
}

// stormPerProc bounds the connections one dialer process holds.
const stormPerProc = 4000

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

func TestConnectStorm(t *testing.T) {
	longTest(t)
	if testing.Short() || eventloop.RaceEnabled {
		t.Skip("thousands of connections: not in -short or -race runs")
	}
	clients := envInt(t, "CHATD_STORM_CLIENTS", 12000)
	limit := envInt(t, "CHATD_STORM_LIMIT", 10000)
	if clients <= limit {
		t.Fatalf("the storm (%d clients) must exceed the server's file limit (%d)", clients, limit)
	}
	srv := startStormChild(t, "server", "CHATD_STORM_LIMIT="+strconv.Itoa(limit))
	addr := srv.readLine(t, "addr ")
	pid := srv.cmd.Process.Pid

	// Every dialer is started and ready before any dials: the storm is all
	// of them at once.
	var dialers []*stormChild
	for i, left := 0, clients; left > 0; i++ {
		n := min(left, stormPerProc)
		left -= n
		d := startStormChild(t, "dialer", "CHATD_STORM_ADDR="+addr, "CHATD_STORM_N="+strconv.Itoa(n),
			fmt.Sprintf("CHATD_STORM_SRC=127.0.%d.%d", 20+i/200, 2+i%200))
		d.readLine(t, "ready")
		dialers = append(dialers, d)
	}
	start := time.Now()
	for _, d := range dialers {
		d.send(t, "go")
	}
	var total stormReport
	total.Errors = map[string]int{}
	for _, d := range dialers {
		var r stormReport
		if err := json.Unmarshal([]byte(d.readLine(t, "report ")), &r); err != nil {
			t.Fatal(err)
		}
		total.Upgraded += r.Upgraded
		total.Refused += r.Refused
		total.Closed += r.Closed
		for k, v := range r.Errors {
			total.Errors[k] += v
		}
	}
	stormed := time.Since(start)
	// Every client holds what it got: the server is at its peak now.
	fds := countFDs(t, pid)
	t.Logf("%d clients vs file limit %d: %d upgraded, %d refused (503), %d closed, errors %v; "+
		"server fds at peak %d; %v", clients, limit, total.Upgraded, total.Refused, total.Closed,
		total.Errors, fds, stormed.Round(time.Millisecond))
	st := serverStats(t, addr, dialers)
	t.Logf("server: cap %d, peak WebSockets %d, refused %d", st.Cap, st.Peak, st.Refused)

	if len(total.Errors) > 0 {
		t.Errorf("clients saw errors other than 503 or a close: %v", total.Errors)
	}
	if n := total.Upgraded + total.Refused + total.Closed; n != clients {
		t.Errorf("%d outcomes for %d clients", n, clients)
	}
	if want := limit * 97 / 100; total.Upgraded < want || st.Peak < want {
		t.Errorf("%d WebSockets held (server peak %d), want at least 97 %% of the file limit: %d",
			total.Upgraded, st.Peak, want)
	}
	if st.Peak > st.Cap || total.Upgraded > st.Cap {
		t.Errorf("peak %d, held %d: over the cap %d", st.Peak, total.Upgraded, st.Cap)
	}
	if fds > limit {
		t.Errorf("server holds %d descriptors, over its limit %d", fds, limit)
	}
	if st.Refused == 0 {
		t.Errorf("the server counted no refusal (HandshakeFull) although the storm exceeded its cap")
	}
	srv.closeAndWait(t)
	for _, bad := range []string{"Accept() failed", "too many open files", "exiting due to error"} {
		if strings.Contains(srv.stderr.String(), bad) {
			t.Errorf("server log has %q:\n%s", bad, tail(srv.stderr.String(), 2000))
		}
	}
}

// stormStats is the server's GET /stats answer.
type stormStats struct {
	Cap, Peak int   // the TCP cap; the most WebSockets open at once
	Refused   int64 // connections refused over the cap (HandshakeFull)
}

// serverStats releases the dialers' connections (the server is full until
// then: even GET /stats would get 503), reads the server's counters, and
// checks that a fresh client still gets a working WebSocket: the engine
// survived the storm.
func serverStats(t *testing.T, addr string, dialers []*stormChild) stormStats {
	t.Helper()
	for _, d := range dialers {
		d.closeAndWait(t) // releases every WebSocket it held
	}
	rc := dialAddr(t, addr)
	rc.send([]byte("GET /stats HTTP/1.1\r\nHost: x\r\n\r\n"))
	resp, body := rc.response()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /stats after the storm: %s %s", resp.Status, body)
	}
	var st stormStats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	ws := dialAddr(t, addr)
	ws.send([]byte(upgradeRequest()))
	ws.expect101()
	ws.send(frame(1, []byte("after the storm")))
	ws.expectMessage(1, []byte("after the storm"))
	return st
}

// dialAddr opens a raw client to an address.
func dialAddr(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatalf("fresh client after the storm: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, Conn: c, r: bufio.NewReader(c)}
}

// countFDs counts a process's open descriptors.
func countFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func tail(s string, n int) string { return s[max(len(s)-n, 0):] }

// stormChild is this test binary re-executed in one role.
type stormChild struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string // the child's stdout, closed at EOF
	stderr *bytes.Buffer
	done   bool
}

// stormStep bounds every wait for a child: a stuck child fails the test
// instead of hanging it.
const stormStep = 90 * time.Second

func startStormChild(t *testing.T, role string, env ...string) *stormChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStormChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), append(env, "CHATD_STORM_ROLE="+role)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &stormChild{cmd: cmd, in: in, lines: make(chan string, 16), stderr: new(bytes.Buffer)}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		if !c.done {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return c
}

// readLine returns the rest of the next stdout line starting with prefix.
func (c *stormChild) readLine(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(stormStep)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("child %s ended without %q", c.cmd.Env[len(c.cmd.Env)-1], prefix)
			}
			if s, ok := strings.CutPrefix(line, prefix); ok {
				return s
			}
		case <-timeout:
			t.Fatalf("child %s: no %q within %v", c.cmd.Env[len(c.cmd.Env)-1], prefix, stormStep)
		}
	}
}

func (c *stormChild) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// closeAndWait closes the child's stdin, which tells it to exit, and waits.
func (c *stormChild) closeAndWait(t *testing.T) {
	t.Helper()
	_ = c.in.Close()
	timeout := time.After(stormStep)
	for open := true; open; { // drain, so the child never blocks on a full pipe
		select {
		case _, open = <-c.lines:
		case <-timeout:
			t.Fatalf("child %s did not exit within %v", c.cmd.Env[len(c.cmd.Env)-1], stormStep)
		}
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, tail(c.stderr.String(), 2000))
	}
	c.done = true
}
