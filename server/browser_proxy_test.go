package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/internal/redistest"
)

// TestWebClientThroughTLSProxy drives the web client in headless Chromium
// over wss:// through nginx (scripts/deploy/nginx.conf via proxy.sh, with a
// self-signed certificate the browser is told to accept) to two cluster
// nodes: both users connect, join and chat; then the node holding one of
// them drains, as in a rolling restart, and that user's client reconnects
// through nginx to the other node, rejoins, and chats again
// (scripts/browser/proxy-e2e.mjs).
//
// Needs node, Chromium, npm ci in scripts/browser, nginx, openssl and curl.
// Without them it skips, unless CHATD_REQUIRE_BROWSER=1 or
// CHATD_REQUIRE_PROXY=1 (CI sets both) makes that a failure.
func TestWebClientThroughTLSProxy(t *testing.T) {
	longTest(t)
	script, _ := filepath.Abs("../scripts/browser/proxy-e2e.mjs")
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	require := []string{"CHATD_REQUIRE_BROWSER", "CHATD_REQUIRE_PROXY"}
	requireTools(t, require, "node", chromium, "nginx", "openssl", "curl")
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "playwright-core")); err != nil {
		requireTools(t, require, "scripts/browser/node_modules/playwright-core (run npm ci there)")
	}

	rs := redistest.Start(t)
	nodes := []*server.Server{startProxiedNode(t, rs, "A", 0), startProxiedNode(t, rs, "B", 0)}
	proxy := startProxy(t, "nginx", nodes...)

	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, "https://"+proxy)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var drained, kept *server.Server
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if line != "DRAIN" {
			continue
		}
		drained, kept = nodes[0], nodes[1]
		if drained.Stats().WebSockets == 0 {
			drained, kept = kept, drained
		}
		moved := drained.Stats().WebSockets
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		err := drained.Drain(dctx, 500*time.Millisecond)
		dcancel()
		if err != nil {
			t.Errorf("drain: %v", err)
		}
		// The browsers reconnect on their own (with backoff) through nginx.
		waitFor(t, 30*time.Second, "both browsers on the remaining node", func() bool {
			return kept.Stats().WebSockets == 2
		})
		_, _ = io.WriteString(stdin, fmt.Sprintf("DRAINED %d\n", moved))
	}
	err := cmd.Wait()
	t.Logf("proxy-e2e.mjs:\n%s%s", out.String(), stderr.String())
	if err != nil {
		t.Fatalf("browser scenario through nginx failed: %v", err)
	}
	if drained == nil {
		t.Fatal("the scenario never asked for the drain")
	}
}
