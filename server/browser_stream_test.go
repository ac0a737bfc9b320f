package server_test

import (
	"context"
	"testing"

	"github.com/chatd/chatd/server"
)

// TestWebClientOverHTTPStreamThroughNginx drives the web client in headless Chromium with
// WebSockets blocked (every one fails, as behind a proxy that strips Upgrade): the page falls
// back to HTTP streaming by itself and says so, and two users chat through nginx (the shipped
// scripts/deploy/nginx.conf, TLS) in front of two cluster nodes, which hold their streams and
// no WebSocket (scripts/browser/stream-e2e.mjs). Its needs: runBrowserThroughNginx.
func TestWebClientOverHTTPStreamThroughNginx(t *testing.T) {
	longTest(t)
	checked := false
	runBrowserThroughNginx(t, "stream-e2e.mjs", func(_ context.Context, line string, nodes []*server.Server) string {
		if line != "CHATTED" {
			return ""
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
		return "CHECKED"
	})
	if !checked {
		t.Fatal("the scenario never reached the check")
	}
}
