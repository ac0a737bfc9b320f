package chatdclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// After a drop the client reconnects, says hello, and re-joins the room with
// since at the last offset it delivered: the missed messages come in order,
// then a RecoveredEvent, and live pushes continue without a duplicate.
func TestReconnectRecovers(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	joinFake(t, c, fc, "r", "e1", 1, 3, &JoinOptions{History: 3, Name: "Room R"})
	wantMessages(t, c, true, contents(1, 3)...)
	fc.push("r", "e1", 4, "m4")
	fc.push("r", "e1", 5, "m5")
	wantMessages(t, c, false, "m4", "m5")

	fc.closeWith(CloseGoingAway, "draining")
	if ev := wantState(t, c, StateDisconnected); ev.Code != CloseGoingAway || ev.Reason != "draining" {
		t.Fatalf("disconnected %+v, want 1001 draining", ev)
	}
	if ev := wantState(t, c, StateReconnecting); ev.Delay < 5*time.Millisecond || ev.Delay > 10*time.Millisecond {
		t.Fatalf("reconnecting after %v, want 5–10 ms (half to all of BackoffMin)", ev.Delay)
	}
	fc2 := fs.next()
	fc2.expect(reqHello)
	wantState(t, c, StateConnected)
	req := fc2.expect(reqJoin)
	since, ok := req.since()
	if !ok || since != (Position{"e1", 5}) || req.num("history") != 3 || req.str("roomName") != "Room R" {
		t.Fatalf("re-join %v, want since e1/5, history 3, roomName", req)
	}
	fc2.joinOK(req, "e1", 7, msgs("r", "e1", 6, 7), ptr(true))
	wantMessages(t, c, true, "m6", "m7")
	if ev := want[RecoveredEvent](t, c); ev.RoomID != "r" || ev.Missed != 2 || ev.Reason != "reconnect" ||
		ev.Position != (Position{"e1", 7}) {
		t.Fatalf("got %+v", ev)
	}
	fc2.push("r", "e1", 7, "m7") // a duplicate: dropped
	fc2.push("r", "e1", 8, "m8")
	wantMessages(t, c, false, "m8")
	if st := c.Stats(); st.Duplicates != 1 || st.Recoveries != 1 || st.Connects != 2 {
		t.Fatalf("stats %+v", st)
	}
	if p := c.Room("r").Position(); p != (Position{"e1", 8}) {
		t.Fatalf("position %+v", p)
	}
}

// When the server's history does not cover the gap, a GapEvent says so, with
// where the client was and where the room is now; the newest messages follow.
func TestReconnectGap(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	joinFake(t, c, fc, "r", "e1", 0, 5, &JoinOptions{History: 2})
	fc.closeWith(CloseGoingAway, "")
	wantState(t, c, StateDisconnected)
	wantState(t, c, StateReconnecting)
	fc2 := fs.next()
	fc2.expect(reqHello)
	wantState(t, c, StateConnected)
	req := fc2.expect(reqJoin)
	fc2.joinOK(req, "e2", 9, msgs("r", "e2", 8, 9), ptr(false))
	ev := want[GapEvent](t, c)
	if ev.From != (Position{"e1", 5}) || ev.Epoch != "e2" || ev.Offset != 9 || ev.Reason != "reconnect" {
		t.Fatalf("gap %+v", ev)
	}
	wantMessages(t, c, true, "m8", "m9")
	// The room stands in the new epoch: offsets of the old one are not duplicates.
	fc2.push("r", "e2", 10, "m10")
	wantMessages(t, c, false, "m10")
	if p := c.Room("r").Position(); p != (Position{"e2", 10}) {
		t.Fatalf("position %+v", p)
	}
}

// A resync push makes the client recover in place; pushes that arrive before
// the reply wait, and come after the recovered messages without a duplicate.
func TestResyncRecoversInPlace(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	joinFake(t, c, fc, "r", "e1", 0, 0, nil)
	fc.push("r", "e1", 1, "m1")
	wantMessages(t, c, false, "m1")
	fc.send(map[string]any{"type": "resync", "roomId": "r", "reason": "gap"})
	req := fc.expect(reqJoin)
	if since, ok := req.since(); !ok || since != (Position{"e1", 1}) {
		t.Fatalf("recovery %v, want since e1/1", req)
	}
	fc.push("r", "e1", 2, "m2") // before the reply: held
	fc.push("r", "e1", 3, "m3")
	fc.push("r", "e1", 4, "m4")
	fc.joinOK(req, "e1", 3, msgs("r", "e1", 2, 3), ptr(true))
	wantMessages(t, c, true, "m2", "m3")
	if ev := want[RecoveredEvent](t, c); ev.Missed != 2 || ev.Reason != "resync" {
		t.Fatalf("got %+v", ev)
	}
	wantMessages(t, c, false, "m4")
	noEventBefore(t, c, fc, "r")
	if st := c.Stats(); st.Duplicates != 2 {
		t.Fatalf("stats %+v, want the held m2 and m3 dropped as duplicates", st)
	}
}

// A push past a hole (no publish of ours on its way could fill it) starts a
// recovery before it is delivered, so that messages stay in offset order.
func TestHoleRecovers(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	joinFake(t, c, fc, "r", "e1", 0, 1, nil)
	fc.push("r", "e1", 3, "m3")
	req := fc.expect(reqJoin)
	if since, _ := req.since(); since != (Position{"e1", 1}) {
		t.Fatalf("recovery %v, want since e1/1", req)
	}
	fc.joinOK(req, "e1", 3, msgs("r", "e1", 2, 3), ptr(true))
	wantMessages(t, c, true, "m2", "m3")
	if ev := want[RecoveredEvent](t, c); ev.Missed != 2 || ev.Reason != "hole" {
		t.Fatalf("got %+v", ev)
	}
	noEventBefore(t, c, fc, "r")
}

// Our own publish's offset fills the place between others' messages: no
// recovery while its reply is on its way, even when a later push comes
// first.
func TestOwnPublishFillsOffsets(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	room := joinFake(t, c, fc, "r", "e1", 0, 1, nil)
	done := make(chan Published, 1)
	go func() {
		p, err := room.Publish(context.Background(), "mine")
		if err != nil {
			t.Error(err)
		}
		done <- p
	}()
	req := fc.expect(reqPublish)
	fc.push("r", "e1", 3, "m3") // pushed before our reply (offset 2) arrives
	wantMessages(t, c, false, "m3")
	fc.ok(req, map[string]any{"offset": 2, "timestamp": "2026-01-02T03:04:05.678Z"})
	p := <-done
	if p.Offset != 2 || p.Epoch != "e1" || p.Timestamp.UnixMilli() != time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC).UnixMilli() {
		t.Fatalf("published %+v", p)
	}
	if pos := room.Position(); pos != (Position{"e1", 3}) {
		t.Fatalf("position %+v, want e1/3", pos)
	}
	fc.push("r", "e1", 4, "m4")
	wantMessages(t, c, false, "m4")
	noEventBefore(t, c, fc, "r")
	// No recovery was asked for: the next request the server sees is ours.
	go room.Leave(context.Background())
	fc.expect(reqLeave)
}

// Pushes at or below a join's offset (a server sending stale pushes) are
// dropped, and pushes of another epoch after the join reply make the client
// check with a recovery.
func TestStalePushes(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	joinFake(t, c, fc, "r", "e2", 0, 5, nil)
	fc.push("r", "e2", 4, "m4")
	fc.push("r", "e2", 5, "m5")
	fc.push("r", "e2", 6, "m6")
	wantMessages(t, c, false, "m6")
	fc.push("r", "e1", 7, "old") // another epoch: checked
	req := fc.expect(reqJoin)
	if since, _ := req.since(); since != (Position{"e2", 6}) {
		t.Fatalf("recovery %v", req)
	}
	fc.joinOK(req, "e2", 6, nil, ptr(true))
	if ev := want[RecoveredEvent](t, c); ev.Missed != 0 || ev.Reason != "epoch" {
		t.Fatalf("got %+v", ev)
	}
	noEventBefore(t, c, fc, "r")
	if st := c.Stats(); st.Duplicates != 2 || st.Stale != 1 {
		t.Fatalf("stats %+v, want 2 duplicates and 1 stale", st)
	}
}

// A join reply without an epoch (a room with no message yet, on a server
// that does not name its epoch) takes the epoch of the first push, so that a
// re-join recovers.
func TestEpochFromFirstPush(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	room := joinFake(t, c, fc, "r", "", 0, 0, nil)
	go room.Publish(context.Background(), "mine")
	fc.ok(fc.expect(reqPublish), map[string]any{"offset": 1, "timestamp": "2026-01-02T03:04:05.678Z"})
	fc.push("r", "e1", 2, "m2")
	wantMessages(t, c, false, "m2")
	if p := room.Position(); p != (Position{"e1", 2}) {
		t.Fatalf("position %+v", p)
	}
	noEventBefore(t, c, fc, "r")
}

// A join with Since resumes where a saved position stood.
func TestJoinSince(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	go c.Join(context.Background(), "r", &JoinOptions{Since: &Position{"e1", 4}, History: 10})
	req := fc.expect(reqJoin)
	if since, ok := req.since(); !ok || since != (Position{"e1", 4}) {
		t.Fatalf("join %v", req)
	}
	fc.joinOK(req, "e1", 6, msgs("r", "e1", 4, 6), ptr(true)) // 4 again: dropped
	wantMessages(t, c, true, "m5", "m6")
	if ev := want[RecoveredEvent](t, c); ev.Missed != 2 || ev.Reason != "resume" {
		t.Fatalf("got %+v", ev)
	}
	noEventBefore(t, c, fc, "r")
}

// A re-join refused for good loses the room (RoomLostEvent); one refused for
// now is tried again on the same connection.
func TestRejoinRefused(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	lost := joinFake(t, c, fc, "lost", "e1", 0, 0, nil)
	joinFake(t, c, fc, "later", "e1", 0, 0, nil)
	fc.drop()
	wantState(t, c, StateDisconnected)
	wantState(t, c, StateReconnecting)
	fc2 := fs.next()
	fc2.expect(reqHello)
	wantState(t, c, StateConnected)
	joins := map[string]fakeReq{}
	for range 2 {
		r := fc2.expect(reqJoin)
		joins[r.str("roomId")] = r
	}
	fc2.fail(joins["lost"], CodeForbidden, "Not allowed in room lost")
	if ev := want[RoomLostEvent](t, c); ev.RoomID != "lost" || !IsCode(ev.Err, CodeForbidden) {
		t.Fatalf("got %+v", ev)
	}
	if _, err := lost.Publish(context.Background(), "x"); err != ErrNotJoined {
		t.Fatalf("publish to a lost room: %v", err)
	}
	fc2.fail(joins["later"], CodeUnavailable, "Join failed: cluster unavailable")
	if ev := want[ErrorEvent](t, c); ev.RoomID != "later" || !IsCode(ev.Err, CodeUnavailable) {
		t.Fatalf("got %+v", ev)
	}
	again := fc2.expect(reqJoin)
	if again.str("roomId") != "later" {
		t.Fatalf("retry %v", again)
	}
	fc2.joinOK(again, "e1", 0, nil, ptr(true))
	if ev := want[RecoveredEvent](t, c); ev.RoomID != "later" {
		t.Fatalf("got %+v", ev)
	}
}

// A server that keeps no history names no epoch: after a reconnect it cannot
// vouch for what was missed, even if its reply says recovered.
func TestNoHistoryIsAGap(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	joinFake(t, c, fc, "r", "", 0, 0, nil)
	fc.send(map[string]any{"type": "message", "roomId": "r", "content": "unnumbered", "userId": "o", "name": "O",
		"timestamp": "2026-01-02T03:04:05.678Z"})
	wantMessages(t, c, false, "unnumbered")
	fc.drop()
	wantState(t, c, StateDisconnected)
	wantState(t, c, StateReconnecting)
	fc2 := fs.next()
	fc2.expect(reqHello)
	wantState(t, c, StateConnected)
	req := fc2.expect(reqJoin)
	if since, ok := req.since(); !ok || since != (Position{}) {
		t.Fatalf("re-join %v", req)
	}
	fc2.joinOK(req, "", 0, nil, ptr(true))
	if ev := want[GapEvent](t, c); ev.RoomID != "r" || ev.Reason != "reconnect" {
		t.Fatalf("got %+v", ev)
	}
}

// Pushes held during a recovery are bounded (1 MiB per room); past it they
// are dropped and the room recovers again from where it stands: nothing lost.
func TestHeldPushesBounded(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	joinFake(t, c, fc, "r", "e1", 0, 1, nil)
	fc.send(map[string]any{"type": "resync", "roomId": "r", "reason": "gap"})
	req := fc.expect(reqJoin)
	big := strings.Repeat("x", 60<<10)
	for o := uint64(2); o <= 21; o++ {
		m := msgFrame("r", "e1", o, big)
		m["content"] = fmt.Sprint(o, big)
		fc.send(m)
	}
	fc.joinOK(req, "e1", 2, msgs("r", "e1", 2, 2), ptr(true))
	wantMessages(t, c, true, "m2")
	if ev := want[RecoveredEvent](t, c); ev.Missed != 1 || ev.Reason != "resync" {
		t.Fatalf("got %+v", ev)
	}
	again := fc.expect(reqJoin) // asked once the held pushes were out
	since, _ := again.since()
	if since.Epoch != "e1" || since.Offset < 10 || since.Offset >= 21 {
		t.Fatalf("second recovery %v, want since e1/k with some pushes dropped past 1 MiB", again)
	}
	for o := uint64(3); o <= since.Offset; o++ {
		if m := want[MessageEvent](t, c); m.Offset != o || m.Replay {
			t.Fatalf("got offset %d (replay %v), want %d", m.Offset, m.Replay, o)
		}
	}
	fc.joinOK(again, "e1", 21, msgs("r", "e1", since.Offset+1, 21), ptr(true))
	wantMessages(t, c, true, contents(int(since.Offset)+1, 21)...)
	if ev := want[RecoveredEvent](t, c); ev.Missed != int(21-since.Offset) || ev.Reason != "hole" {
		t.Fatalf("got %+v", ev)
	}
	noEventBefore(t, c, fc, "r")
}

// After a reconnect the first rejoinBurst re-joins go at once and the rest at
// rejoinRate per second (under the server's request rate); a room waiting for
// its turn refuses its requests at once.
func TestRejoinPaced(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	const n = rejoinBurst + 16
	rooms := map[string]*Room{}
	for i := range n {
		id := fmt.Sprintf("r%02d", i)
		rooms[id] = joinFake(t, c, fc, id, "e1", 0, 0, nil)
	}
	fc.drop()
	fc2 := fs.next()
	fc2.expect(reqHello)
	var joins []fakeReq
	for range rejoinBurst {
		joins = append(joins, fc2.expect(reqJoin))
	}
	burstDone := time.Now()
	last := rooms[fmt.Sprintf("r%02d", n-1)] // its turn comes 1 s after the burst
	if _, err := last.Publish(context.Background(), "too soon"); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("publish before the room's re-join: %v", err)
	}
	for range n - rejoinBurst {
		joins = append(joins, fc2.expect(reqJoin))
	}
	if d := time.Since(burstDone); d < (n-rejoinBurst-1)*time.Second/rejoinRate {
		t.Fatalf("%d paced re-joins in %v: faster than %d/s", n-rejoinBurst, d, rejoinRate)
	}
	for i, j := range joins {
		if want := fmt.Sprintf("r%02d", i); j.str("roomId") != want {
			t.Fatalf("re-join %d of %s, want %s (by id)", i, j.str("roomId"), want)
		}
		fc2.joinOK(j, "e1", 0, nil, ptr(true))
	}
	go last.Publish(context.Background(), "now")
	if r := fc2.expect(reqPublish); r.str("roomId") != fmt.Sprintf("r%02d", n-1) {
		t.Fatalf("got %v", r)
	}
}
