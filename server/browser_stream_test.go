package server_test

import (
	"bufio"
	"context"
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

// TestWebClientOverHTTPStreamThroughNginx drives the web client in headless Chromium with
// WebSockets blocked (every one fails, as behind a proxy that strips Upgrade): the page falls
// back to HTTP streaming by itself and says so, and two users chat through nginx (the shipped
// scripts/deploy/nginx.conf, TLS) in front of two cluster nodes, which hold their streams and
// no WebSocket (scripts/browser/stream-e2e.mjs).
//
// Needs node, Chromium, npm ci in scripts/browser, nginx, openssl and curl. Without them it
// skips, unless CHATD_REQUIRE_BROWSER=1 or CHATD_REQUIRE_PROXY=1 (CI sets both) makes that a
// failure.
func TestWebClientOverHTTPStreamThroughNginx(t *testing.T) {
	longTest(t)
	script, _ := filepath.Abs("../scripts/browser/stream-e2e.mjs")
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
	checked := false
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if line != "CHATTED" {
			continue
		}
		var streams, websockets int64
		for _, n := range nodes {
			st := n.Stats()
			streams += st.Streams
			websockets += st.WebSockets
		}
		if streams != 2 || websockets != 0 {
			t.Errorf("the nodes hold %d streams and %d WebSockets, want 2 and 0", streams, websockets)
		}
		checked = true
		_, _ = io.WriteString(stdin, "CHECKED\n")
	}
	err := cmd.Wait()
	t.Logf("stream-e2e.mjs:\n%s%s", out.String(), stderr.String())
	if err != nil {
		t.Fatalf("browser scenario over HTTP streaming failed: %v", err)
	}
	if !checked {
		t.Fatal("the scenario never reached the check")
	}
}
