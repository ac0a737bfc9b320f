package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker/memory"
)

// TestWebClientInChromium drives the embedded web client (protocol v2) in a
// real headless Chromium:
//
//   - server: scripts/browser/chat-e2e.mjs against a live node: two users,
//     two rooms each (one shared), unread counts, members, typing, the room
//     list; then this test stops the node and starts it again on the same
//     port when the script asks, and both pages reconnect and re-join every
//     room; then one page's socket is cut while messages are sent.
//   - contract: scripts/browser/client-contract.mjs, the client against a
//     scripted v2 server inside the page (history paging, recovery with
//     since, resync, tokens, room list paging), so the client's side of
//     what the server is still growing is tested today.
//
// It needs node, /usr/bin/chromium (or $CHROMIUM) and `npm ci` in
// scripts/browser. Without them it skips, unless CHATD_REQUIRE_BROWSER=1
// (CI sets it) makes that a failure.
func TestWebClientInChromium(t *testing.T) {
	longTest(t)
	dir, _ := filepath.Abs("../scripts/browser")
	chromium := browserOrSkip(t, dir)

	t.Run("server", func(t *testing.T) {
		// Fresh room lists: the page lists rooms it created a moment ago.
		n := startRestartable(t, freshRoomLists)
		runBrowserScript(t, filepath.Join(dir, "chat-e2e.mjs"), chromium, "http://"+n.addr,
			map[string]func() error{"stop": n.stop, "start": n.start})
	})
	t.Run("contract", func(t *testing.T) {
		s := startServer(t, nil) // serves the page; the page's WebSocket is answered by the script
		runBrowserScript(t, filepath.Join(dir, "client-contract.mjs"), chromium, "http://"+s.Addr(), nil)
	})
}

// browserOrSkip returns the Chromium to use, or skips (fails with
// CHATD_REQUIRE_BROWSER=1) when node, Chromium or playwright-core is missing.
func browserOrSkip(t *testing.T, dir string) string {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing string
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	} else if _, err := os.Stat(chromium); err != nil {
		missing = chromium
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		missing = "scripts/browser/node_modules (run npm ci there)"
	}
	if missing != "" {
		if os.Getenv("CHATD_REQUIRE_BROWSER") == "1" {
			t.Fatalf("browser test required but %s is missing", missing)
		}
		t.Skipf("browser test: %s missing (set CHATD_REQUIRE_BROWSER=1 to fail instead)", missing)
	}
	return chromium
}

// runBrowserScript runs a node script against url and fails the test if it
// fails. The script asks for server actions by printing "@@ <command>"; the
// answer on its stdin is "<command> ok" or an error (see lib.mjs control).
func runBrowserScript(t *testing.T, script, chromium, url string, commands map[string]func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, url)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "CHATD_E2E_CONTROL=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	// One pipe for stdout and stderr keeps the log in the order it was written.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// A browser the killed script left behind could keep the pipe open: stop reading at the deadline.
	stopRead := context.AfterFunc(ctx, func() { r.Close() })
	defer stopRead()

	var out strings.Builder
	start := time.Now()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if c, ok := strings.CutPrefix(line, "@@ "); ok {
			_, _ = io.WriteString(stdin, serve(commands, c)+"\n")
		}
	}
	err = cmd.Wait()
	t.Logf("%s (%.1fs):\n%s", filepath.Base(script), time.Since(start).Seconds(), out.String())
	if err != nil {
		t.Fatalf("browser scenario failed: %v", err)
	}
}

// serve runs one command of a browser script and returns the answer.
func serve(commands map[string]func() error, c string) string {
	f := commands[c]
	if f == nil {
		return "unknown command " + c
	}
	if err := f(); err != nil {
		return c + " failed: " + err.Error()
	}
	return c + " ok"
}

// restartable is a node that a test can stop and start again on the same
// port, as a restarted chatd would be (a fresh memory broker each time).
type restartable struct {
	mod  func(*server.Config)
	addr string
	s    *server.Server
}

func startRestartable(t testing.TB, mod func(*server.Config)) *restartable {
	t.Helper()
	n := &restartable{mod: mod, addr: "127.0.0.1:0"}
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	n.addr = n.s.Addr()
	t.Cleanup(func() { _ = n.stop() })
	return n
}

// start starts the node on its port; after a stop the port can take a moment
// to be free again.
func (n *restartable) start() error {
	if n.s != nil {
		return errors.New("already running")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		cfg := server.Config{Addr: n.addr, Loops: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Broker: memory.New(memory.Options{})}
		if n.mod != nil {
			n.mod(&cfg)
		}
		s, err := server.New(cfg)
		if err != nil {
			return err
		}
		if err = s.Start(); err == nil {
			n.s = s
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop shuts the node down gracefully: its clients are closed with 1001.
func (n *restartable) stop() error {
	if n.s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := n.s.Shutdown(ctx)
	n.s = nil
	return err
}
