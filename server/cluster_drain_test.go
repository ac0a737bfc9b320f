package server_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/chatd/chatd/server/internal/redistest"
)

// SIGTERM drains a node: its clients get 1001 spread over the window, the
// other node's members hear userLeft for them at once (long before the
// heartbeat TTL would have told them), and the process exits 0.
func TestClusterDrainOnSIGTERM(t *testing.T) {
	longTest(t)
	rs := redistest.Start(t)
	bin := buildChatd(t, t.TempDir())
	const window = time.Second
	// A long TTL: if the leaves came from the reaper instead of the drain,
	// the test would time out.
	other := startChildNode(t, bin, rs, "stays", "-heartbeat-ttl", "60s")
	leaving := startChildNode(t, bin, rs, "leaves", "-heartbeat-ttl", "60s", "-drain-window", window.String())

	a := dialChat(t, other.addr)
	a.join("d", "a")
	var ds []*client
	for i, name := range []string{"d1", "d2", "d3"} {
		c := dialChat(t, leaving.addr)
		if m := c.join("d", name); m.num("memberCount") != 2+i {
			t.Fatalf("count %v", m)
		}
		a.expect("userJoined")
		ds = append(ds, c)
	}

	start := time.Now()
	if err := leaving.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The other node's member hears all three leaves, with falling counts,
	// well before the window is over.
	left := map[string]bool{}
	for n := 3; n >= 1; n-- {
		m := expectWithin(a, "userLeft", 5*time.Second)
		if m.num("memberCount") != n {
			t.Fatalf("userLeft %v, want count %d", m, n)
		}
		left[m.str("userId")] = true
	}
	heard := time.Since(start)
	for _, c := range ds {
		if !left[c.userID] {
			t.Fatalf("no userLeft for %s", c.userID)
		}
		expectClose(t, c.ws, 1001)
	}
	select {
	case <-leaving.exited:
	case <-time.After(window + 10*time.Second):
		t.Fatal("the drained node did not exit")
	}
	if leaving.err != nil {
		t.Fatalf("drained node exited with %v", leaving.err)
	}
	t.Logf("leaves heard %v after SIGTERM; exit after %v", heard.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	// The room goes on with its remaining member (sendChat checks the echo).
	sendChat(a, "alone now")
}
