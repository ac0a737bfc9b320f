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

// runBrowserThroughNginx runs scripts/browser/<script> in headless Chromium
// against the shipped nginx config (TLS) in front of two cluster nodes on a
// private redis-server. Each line the script prints goes to onLine, which
// may answer the script on its stdin (an empty answer sends nothing). It
// fails t when the script fails, and returns once it has exited.
//
// Needs node, Chromium, npm ci in scripts/browser, nginx, openssl and curl.
// Without them it skips, unless CHATD_REQUIRE_BROWSER=1 or
// CHATD_REQUIRE_PROXY=1 (CI sets both) makes that a failure.
func runBrowserThroughNginx(t *testing.T, script string, onLine func(ctx context.Context, line string, nodes []*server.Server) string) {
	t.Helper()
	path, _ := filepath.Abs("../scripts/browser/" + script)
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	require := []string{"CHATD_REQUIRE_BROWSER", "CHATD_REQUIRE_PROXY"}
	requireTools(t, require, "node", chromium, "nginx", "openssl", "curl")
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "node_modules", "playwright-core")); err != nil {
		requireTools(t, require, "scripts/browser/node_modules/playwright-core (run npm ci there)")
	}

	rs := redistest.Start(t)
	nodes := []*server.Server{startProxiedNode(t, rs, "A", 0), startProxiedNode(t, rs, "B", 0)}
	proxy := startProxy(t, "nginx", nodes...)

	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", path, "https://"+proxy)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if answer := onLine(ctx, line, nodes); answer != "" {
			_, _ = io.WriteString(stdin, answer+"\n")
		}
	}
	err := cmd.Wait()
	t.Logf("%s:\n%s%s", script, out.String(), stderr.String())
	if err != nil {
		t.Fatalf("browser scenario %s failed: %v", script, err)
	}
}
