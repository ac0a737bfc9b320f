package chatdclient

import (
	"context"
	"testing"
)

// Message pushes that overtake a join's reply are kept and taken after it
// (joinWait): those at or below the reply's offset are copies and dropped,
// the rest follow in order. Before, they were dropped, and the newest
// message of the room was lost (as it was in the TypeScript client).
func TestJoinKeepsPushesBeforeItsReply(t *testing.T) {
	t.Run("first join", func(t *testing.T) {
		fs := startFake(t, true)
		c, fc := connectFake(t, fs, nil)
		done := make(chan error, 1)
		go func() { _, err := c.Join(context.Background(), "r", nil); done <- err }()
		req := fc.expect(reqJoin)
		fc.push("r", "e1", 3, "m3") // a copy of what the reply covers
		fc.push("r", "e1", 4, "m4")
		fc.push("r", "e1", 5, "m5")
		fc.joinOK(req, "e1", 3, nil, nil)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		sentinel(fc)
		wantMessages(t, c, false, "m4", "m5")
		wantSentinel(t, c)
		if p := c.Room("r").Position(); p != (Position{"e1", 5}) {
			t.Fatalf("position %+v", p)
		}
		if st := c.Stats(); st.Duplicates != 1 {
			t.Fatalf("stats %+v, want the copy of offset 3 dropped", st)
		}
	})
	t.Run("since", func(t *testing.T) {
		fs := startFake(t, true)
		c, fc := connectFake(t, fs, nil)
		done := make(chan error, 1)
		go func() {
			_, err := c.Join(context.Background(), "r", &JoinOptions{Since: &Position{"e1", 2}})
			done <- err
		}()
		req := fc.expect(reqJoin)
		fc.push("r", "e1", 4, "m4")
		fc.push("r", "e1", 5, "m5")
		fc.joinOK(req, "e1", 4, msgs("r", "e1", 3, 4), ptr(true))
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		sentinel(fc)
		wantMessages(t, c, true, "m3", "m4")
		if ev := want[RecoveredEvent](t, c); ev.Missed != 2 || ev.Reason != "resume" {
			t.Fatalf("got %+v", ev)
		}
		wantMessages(t, c, false, "m5")
		wantSentinel(t, c)
	})
	t.Run("another room", func(t *testing.T) {
		// A push of a room with no join on its way is not kept.
		fs := startFake(t, true)
		c, fc := connectFake(t, fs, nil)
		done := make(chan error, 1)
		go func() { _, err := c.Join(context.Background(), "r", nil); done <- err }()
		req := fc.expect(reqJoin)
		fc.push("elsewhere", "e1", 1, "x")
		fc.joinOK(req, "e1", 0, nil, nil)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		fc.push("r", "e1", 1, "m1")
		wantMessages(t, c, false, "m1")
	})
}

// sentinel pushes a typing notice of room r: the event after those the test
// expects (noEventBefore, split so that a missing event fails at once).
func sentinel(fc *fakeConn) {
	fc.send(map[string]any{"type": "typing", "roomId": "r", "userId": "sentinel", "name": "S"})
}

func wantSentinel(t *testing.T, c *Client) {
	t.Helper()
	if ev := want[TypingEvent](t, c); ev.User.UserID != "sentinel" {
		t.Fatalf("got typing of %v, want the sentinel's", ev.User)
	}
}
