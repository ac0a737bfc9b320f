package chatdclient

import "testing"

func TestTrack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		marks []uint64
		last  uint64
		hole  bool
		has   []uint64
		not   []uint64
	}{
		{"in order", []uint64{1, 2, 3}, 3, false, []uint64{1, 3}, []uint64{4}},
		{"a hole", []uint64{1, 3, 4}, 1, true, []uint64{3, 4}, []uint64{2, 5}},
		{"filled late", []uint64{1, 3, 4, 2}, 4, false, []uint64{2, 4}, []uint64{5}},
		{"duplicates", []uint64{1, 1, 2, 2}, 2, false, nil, []uint64{3}},
		{"two holes", []uint64{2, 5, 1}, 2, true, []uint64{5}, []uint64{3, 4}},
	} {
		var tr track
		tr.at("e", 0)
		for _, o := range tc.marks {
			tr.mark(o)
		}
		if tr.last != tc.last || tr.hole() != tc.hole {
			t.Errorf("%s: last %d hole %v, want %d %v", tc.name, tr.last, tr.hole(), tc.last, tc.hole)
		}
		for _, o := range tc.has {
			if !tr.has(o) {
				t.Errorf("%s: %d not had", tc.name, o)
			}
		}
		for _, o := range tc.not {
			if tr.has(o) {
				t.Errorf("%s: %d had", tc.name, o)
			}
		}
		tr.at("f", 9)
		if tr.hole() || tr.position() != (Position{"f", 9}) {
			t.Errorf("%s: reset to %+v, hole %v", tc.name, tr.position(), tr.hole())
		}
	}
}

// The queue keeps order across its ring's growth, refuses data events past
// its limit but never control events.
func TestEventQueue(t *testing.T) {
	q := newEventQueue(20)
	for i := range 20 {
		if !q.push(ErrorEvent{RoomID: itoa(i)}, false) {
			t.Fatalf("refused event %d", i)
		}
	}
	if q.push(ErrorEvent{RoomID: "over"}, false) || !q.full() {
		t.Fatal("a data event past the limit was taken")
	}
	if !q.push(StateEvent{State: StateConnected}, true) {
		t.Fatal("a control event was refused")
	}
	for i := range 20 {
		ev, ok, _ := q.next()
		if !ok || ev.(ErrorEvent).RoomID != itoa(i) {
			t.Fatalf("event %d: %v", i, ev)
		}
	}
	if ev, _, _ := q.next(); ev.(StateEvent).State != StateConnected {
		t.Fatalf("got %v", ev)
	}
	q.finish()
	if _, ok, done := q.next(); ok || !done {
		t.Fatal("not done after finish")
	}
}
