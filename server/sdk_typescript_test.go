package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatd/chatd/server/internal/redistest"
	"github.com/golang-jwt/jwt/v5"
)

// The TypeScript client (clients/js) against live chatd nodes. The JavaScript side is in
// clients/js/test/live: the scenarios (scenarios.mjs) run under node:test with the ws package
// (live.test.mjs) and in Chromium on the bundle chatd serves (scripts/browser/sdk-live.mjs). This
// side starts the nodes as child processes (so that a test can kill or freeze one), a private
// redis-server for the cluster, and a small control endpoint the scenarios call:
//
//	GET  /token?sub=&name=&ttl=   an HS256 token the nodes accept (ttl in seconds)
//	POST /node/kill?i=            SIGKILL node i and wait until it is gone
//	POST /node/start?i=           start node i again on its port, wait until it is ready
//	POST /node/freeze?i=          SIGSTOP node i (its sockets stay open, nothing is answered)
//	POST /node/thaw?i=            SIGCONT node i
//	POST /redis/restart           restart the cluster's Redis with no data
//
// The node tools (node, npm ci in clients/js; Chromium and npm ci in scripts/browser for the
// browser run) are required when CHATD_REQUIRE_NODE=1 (CI), else the tests skip.

// jsSecret is the HS256 secret of the nodes these tests start.
const jsSecret = "sdk-test-secret-of-at-least-32-bytes!"

// jsClientDir is clients/js.
func jsClientDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../clients/js")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// jsToolsOrSkip checks for node, npm and clients/js/node_modules: missing ones skip the test,
// or fail it under CHATD_REQUIRE_NODE=1.
func jsToolsOrSkip(t *testing.T) string {
	t.Helper()
	dir := jsClientDir(t)
	var missing string
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	} else if _, err := exec.LookPath("npm"); err != nil {
		missing = "npm"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "typescript")); err != nil {
		missing = "clients/js/node_modules (run npm ci there)"
	}
	if missing != "" {
		if os.Getenv("CHATD_REQUIRE_NODE") == "1" {
			t.Fatalf("the TypeScript client's tests need %s (CHATD_REQUIRE_NODE=1)", missing)
		}
		t.Skipf("TypeScript client tests: %s missing (set CHATD_REQUIRE_NODE=1 to fail instead)", missing)
	}
	return dir
}

// jsRun runs a command in dir and returns its combined output, failing the test on error.
func jsRun(t *testing.T, dir string, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// jsBuildDist builds clients/js/dist's modules (what the node tests import; no declarations).
func jsBuildDist(t *testing.T, dir string) {
	t.Helper()
	jsRun(t, dir, 2*time.Minute, "node", "scripts/build.mjs", "js")
}

// jsNode is a chatd child process on a fixed address that a test can kill, start again, freeze
// and thaw.
type jsNode struct {
	t    *testing.T
	bin  string
	name string
	addr string
	args []string
	logs string // directory of its logs, one per start

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

// start runs the node on its address and waits until /readyz answers 200.
func (n *jsNode) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return errors.New("already running")
	}
	n.starts++
	logf, err := os.Create(filepath.Join(n.logs, fmt.Sprintf("%s-%d.log", n.name, n.starts)))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(n.bin, append([]string{"-addr", n.addr, "-node-id", n.name, "-loops", "1"}, n.args...)...)
	cmd.Env = append(os.Environ(), "CHATD_JWT_SECRET="+jsSecret)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for readyz(n.addr) != 200 {
		select {
		case <-exited:
			return fmt.Errorf("node %s exited at start (log in %s)", n.name, n.logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("node %s not ready within 20 s", n.name)
		}
	}
	n.cmd, n.exited = cmd, exited
	return nil
}

// kill stops the node with SIGKILL (a crash: no close frames) and waits until it is gone.
func (n *jsNode) kill() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return errors.New("not running")
	}
	_ = n.cmd.Process.Signal(syscall.SIGCONT) // a frozen process dies only once it runs
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
	n.cmd = nil
	return nil
}

// signal sends sig to the running node.
func (n *jsNode) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return errors.New("not running")
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return err
	}
	if sig == syscall.SIGSTOP {
		// The stop takes effect when each of the process's threads is
		// interrupted, which on a loaded machine is not at once: answer
		// once the kernel says the process is stopped, so that nothing sent
		// after the freeze is answered.
		return waitStopped(n.cmd.Process.Pid)
	}
	return nil
}

// waitStopped waits until /proc says every thread of pid is stopped (or
// traced), at most 5 s.
func waitStopped(pid int) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return err
		}
		stopped := 0
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				continue
			}
			// pid (comm) STATE ...: the state follows the last ')'.
			if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
				stopped++
			}
		}
		if stopped == len(tasks) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d: %d of %d threads stopped after 5 s", pid, stopped, len(tasks))
		}
		runtime.Gosched()
	}
}

// jsBed is what the scenarios run against: nodes, maybe a Redis, and the control endpoint.
type jsBed struct {
	mode    string // single (embedded broker) or cluster (two nodes, one redis-server)
	nodes   []*jsNode
	redis   *redistest.Server
	control string // http://host:port of the control endpoint
}

// urls are the nodes' WebSocket URLs.
func (b *jsBed) urls() string {
	var us []string
	for _, n := range b.nodes {
		us = append(us, "ws://"+n.addr+"/ws")
	}
	return strings.Join(us, ",")
}

// env is the environment of a JavaScript runner.
func (b *jsBed) env() []string {
	return append(os.Environ(), "CHATD_SDK_MODE="+b.mode, "CHATD_SDK_URLS="+b.urls(),
		"CHATD_SDK_CONTROL="+b.control)
}

// jsStartBed starts the nodes (one on the embedded broker, or two on a private redis-server) and
// the control endpoint; all stop when t ends.
func jsStartBed(t *testing.T, bin, mode string) *jsBed {
	t.Helper()
	b := &jsBed{mode: mode}
	args := []string{"-auth", "optional", "-guest-rooms", "*", "-jwt-leeway", "1ms", "-room-list-refresh", "10ms",
		"-log-level", "warn"}
	count := 1
	if mode == "cluster" {
		b.redis = redistest.Start(t)
		if b.redis.Mini() {
			t.Fatal("the cluster scenarios need a real redis-server (restarted empty by a scenario)")
		}
		args = append(args, "-redis", b.redis.URL(), "-heartbeat-interval", "500ms", "-heartbeat-ttl", "2s")
		count = 2
	}
	logs := t.TempDir()
	for i := 0; i < count; i++ {
		n := &jsNode{t: t, bin: bin, name: string(rune('A' + i)), addr: "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t)),
			args: args, logs: logs}
		if err := n.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.kill() })
		b.nodes = append(b.nodes, n)
	}
	t.Cleanup(func() {
		if t.Failed() {
			entries, _ := os.ReadDir(logs)
			for _, e := range entries {
				if data, _ := os.ReadFile(filepath.Join(logs, e.Name())); len(data) > 0 {
					t.Logf("%s:\n%s", e.Name(), data)
				}
			}
		}
	})
	b.control = jsServeControl(t, b)
	return b
}

// jsServeControl serves the control endpoint for b; it returns its base URL.
func jsServeControl(t *testing.T, b *jsBed) string {
	t.Helper()
	mux := http.NewServeMux()
	node := func(r *http.Request) (*jsNode, error) {
		i, err := strconv.Atoi(r.URL.Query().Get("i"))
		if err != nil || i < 0 || i >= len(b.nodes) {
			return nil, fmt.Errorf("bad node index %q", r.URL.Query().Get("i"))
		}
		return b.nodes[i], nil
	}
	act := func(f func(r *http.Request) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				http.Error(w, "POST only", http.StatusMethodNotAllowed)
				return
			}
			if err := f(r); err != nil {
				t.Logf("control %s: %v", r.URL, err)
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			t.Logf("control %s: done", r.URL)
			_, _ = io.WriteString(w, "ok\n")
		}
	}
	mux.HandleFunc("/node/kill", act(func(r *http.Request) error {
		n, err := node(r)
		if err != nil {
			return err
		}
		return n.kill()
	}))
	mux.HandleFunc("/node/start", act(func(r *http.Request) error {
		n, err := node(r)
		if err != nil {
			return err
		}
		return n.start()
	}))
	mux.HandleFunc("/node/freeze", act(func(r *http.Request) error {
		n, err := node(r)
		if err != nil {
			return err
		}
		return n.signal(syscall.SIGSTOP)
	}))
	mux.HandleFunc("/node/thaw", act(func(r *http.Request) error {
		n, err := node(r)
		if err != nil {
			return err
		}
		return n.signal(syscall.SIGCONT)
	}))
	mux.HandleFunc("/redis/restart", act(func(*http.Request) error {
		if b.redis == nil {
			return errors.New("no Redis in this mode")
		}
		b.redis.Restart()
		return nil
	}))
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		ttl, err := strconv.ParseFloat(q.Get("ttl"), 64)
		if err != nil || q.Get("sub") == "" {
			http.Error(w, "want sub and ttl (seconds)", http.StatusBadRequest)
			return
		}
		claims := jwt.MapClaims{"sub": q.Get("sub"), "exp": time.Now().Add(time.Duration(ttl * float64(time.Second))).Unix()}
		if name := q.Get("name"); name != "" {
			claims["name"] = name
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(jsSecret))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, tok)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

// jsRunLive runs a JavaScript runner (argv, in dir) against b, streaming its output into the
// test log, and fails the test if it fails.
func jsRunLive(t *testing.T, b *jsBed, dir string, timeout time.Duration, env []string, argv ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(b.env(), env...)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	stopRead := context.AfterFunc(ctx, func() { r.Close() })
	defer stopRead()
	var out strings.Builder
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	t.Logf("%s (%.1fs):\n%s", strings.Join(argv, " "), time.Since(start).Seconds(), out.String())
	if err != nil {
		t.Fatalf("%s failed: %v", filepath.Base(argv[len(argv)-1]), err)
	}
}

// TestJSClientUnit runs the TypeScript client's unit tests (a scripted transport, fake timers).
func TestJSClientUnit(t *testing.T) {
	dir := jsToolsOrSkip(t)
	jsBuildDist(t, dir)
	out := jsRun(t, dir, 2*time.Minute, "node", "--test", "test/unit/")
	if !strings.Contains(out, "# fail 0") || strings.Contains(out, "# pass 0") {
		t.Fatalf("unexpected node --test summary:\n%s", out)
	}
}

// TestJSClientLive runs the client's scenarios under Node (ws) against one node on the embedded
// broker and against two nodes on a real redis-server: multi-room chat, presence, typing, history
// paging, the room list, tokens expiring and refreshed, a request timing out on a frozen node,
// publishing while disconnected, a node killed (every room recovered on the other, offsets
// contiguous) and Redis restarted empty (a gap reported in every room, nothing silent).
func TestJSClientLive(t *testing.T) {
	longTest(t)
	dir := jsToolsOrSkip(t)
	jsBuildDist(t, dir)
	bin := buildChatd(t, t.TempDir())
	for _, mode := range []string{"single", "cluster"} {
		t.Run(mode, func(t *testing.T) {
			b := jsStartBed(t, bin, mode)
			jsRunLive(t, b, dir, 4*time.Minute, nil, "node", "--test", "--test-reporter=spec", "test/live/")
		})
	}
}

// TestJSClientLiveInChromium runs the same scenarios in headless Chromium on the browser build
// chatd serves (/chatd-client.js), against the same two kinds of nodes
// (scripts/browser/sdk-live.mjs).
func TestJSClientLiveInChromium(t *testing.T) {
	longTest(t)
	dir := jsToolsOrSkip(t)
	browserDir, _ := filepath.Abs("../scripts/browser")
	chromium := browserOrSkip(t, browserDir)
	bin := buildChatd(t, t.TempDir())
	for _, mode := range []string{"single", "cluster"} {
		t.Run(mode, func(t *testing.T) {
			names := jsScenarioNames(t, dir, mode)
			b := jsStartBed(t, bin, mode)
			jsRunLive(t, b, browserDir, 5*time.Minute, []string{"CHROMIUM=" + chromium}, "node", "sdk-live.mjs")
			t.Logf("%d scenarios: %s", len(names), strings.Join(names, "; "))
		})
	}
}

// jsScenarioNames lists the scenarios of clients/js/test/live/scenarios.mjs for a mode, as the
// module itself says (node prints them): a check that both runners run the same list.
func jsScenarioNames(t *testing.T, dir, mode string) []string {
	t.Helper()
	out := jsRun(t, dir, time.Minute, "node", "--input-type=module", "-e",
		`const s = await import('./test/live/scenarios.mjs'); console.log(JSON.stringify(s.scenariosFor('`+mode+`').map((x) => x.name)))`)
	var names []string
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &names); err != nil || len(names) == 0 {
		t.Fatalf("scenario list %q: %v", out, err)
	}
	return names
}
