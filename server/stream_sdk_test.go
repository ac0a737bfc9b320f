package server_test

import (
	"testing"
	"time"
)

// TestJSClientLiveOverHTTPStream runs the TypeScript client's live scenarios (clients/js/test/live:
// chat, presence, typing, recovery across kills, freezes and Redis restarts, token refresh) with
// every client's WebSocket blocked: each falls back to HTTP streaming by itself, and the scenarios
// hold over it unchanged, on one node and on two sharing Redis.
func TestJSClientLiveOverHTTPStream(t *testing.T) {
	longTest(t)
	dir := jsToolsOrSkip(t)
	jsBuildDist(t, dir)
	bin := buildChatd(t, t.TempDir())
	for _, mode := range []string{"single", "cluster"} {
		t.Run(mode, func(t *testing.T) {
			b := jsStartBed(t, bin, mode)
			jsRunLive(t, b, dir, 6*time.Minute, []string{"CHATD_SDK_TRANSPORT=http-stream"},
				"node", "--test", "--test-reporter=spec", "test/live/")
		})
	}
}
