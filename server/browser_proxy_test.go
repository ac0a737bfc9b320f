package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
)

// TestWebClientThroughTLSProxy drives the web client in headless Chromium
// over wss:// through nginx (scripts/deploy/nginx.conf via proxy.sh, with a
// self-signed certificate the browser is told to accept) to two cluster
// nodes: both users connect, join and chat; then the node holding one of
// them drains, as in a rolling restart, and that user's client reconnects
// through nginx to the other node, rejoins, and chats again
// (scripts/browser/proxy-e2e.mjs). Its needs: runBrowserThroughNginx.
func TestWebClientThroughTLSProxy(t *testing.T) {
	longTest(t)
	var drained *server.Server
	runBrowserThroughNginx(t, "proxy-e2e.mjs", func(ctx context.Context, line string, nodes []*server.Server) string {
		if line != "DRAIN" {
			return ""
		}
		var kept *server.Server
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
		return fmt.Sprintf("DRAINED %d", moved)
	})
	if drained == nil {
		t.Fatal("the scenario never asked for the drain")
	}
}
