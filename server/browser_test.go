package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestWebClientInChromium drives the embedded web client in a real headless
// Chromium (scripts/browser/chat-e2e.mjs): two users join one room, exchange
// messages, see the join notice and member count, and one leaves.
//
// It needs node, /usr/bin/chromium (or $CHROMIUM) and `npm ci` in
// scripts/browser. Without them it skips, unless CHATD_REQUIRE_BROWSER=1
// (CI sets it) makes that a failure.
func TestWebClientInChromium(t *testing.T) {
	script, _ := filepath.Abs("../scripts/browser/chat-e2e.mjs")
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing string
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	} else if _, err := os.Stat(chromium); err != nil {
		missing = chromium
	} else if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "playwright-core")); err != nil {
		missing = "scripts/browser/node_modules (run npm ci there)"
	}
	if missing != "" {
		if os.Getenv("CHATD_REQUIRE_BROWSER") == "1" {
			t.Fatalf("browser test required but %s is missing", missing)
		}
		t.Skipf("browser test: %s missing (set CHATD_REQUIRE_BROWSER=1 to fail instead)", missing)
	}

	s := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, "http://"+s.Addr())
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("chat-e2e.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("browser scenario failed: %v", err)
	}
}
