package bench

import (
	"strings"
	"testing"
	"time"
)

func TestLayout(t *testing.T) {
	l := layout{members: 23, rooms: 5, urls: 2}
	seen := map[[2]int]bool{}
	sizes := make([]int, 5)
	for i := 0; i < 23; i++ {
		r, p := l.room(i), l.pos(i)
		if l.member(r, p) != i {
			t.Fatalf("member(%d,%d) = %d, want %d", r, p, l.member(r, p), i)
		}
		if seen[[2]int{r, p}] {
			t.Fatalf("duplicate position %d/%d", r, p)
		}
		seen[[2]int{r, p}] = true
		sizes[r]++
		if l.url(i) != p%2 {
			t.Fatalf("url of %d", i)
		}
	}
	for r, n := range sizes {
		if l.roomSize(r) != n {
			t.Fatalf("room %d size %d, want %d", r, l.roomSize(r), n)
		}
	}
	covered := 0
	for p := 0; p < 3; p++ {
		lo, hi := l.owned(p, 3)
		if lo != covered {
			t.Fatalf("process %d starts at %d, want %d", p, lo, covered)
		}
		covered = hi
	}
	if covered != 23 {
		t.Fatalf("processes cover %d members", covered)
	}
}

func TestSchedulePlannedMatchesDue(t *testing.T) {
	for _, s := range []schedule{
		{interval: 1e9, window: 12e9, members: 1000},
		{interval: 100e9, window: 10e9, members: 2000}, // bigroom: 20 msg/s over 2000 members
		{interval: 5e6, window: 60e9, count: 30, members: 12},
		{interval: 0, window: 10e9, members: 10},
	} {
		var total int64
		for i := 0; i < s.members; i++ {
			n := s.planned(i)
			// Every planned message is due inside the window, the next one is not (or the cap hit).
			if n > 0 && s.due(i, n-1) >= s.window {
				t.Fatalf("%+v member %d: message %d due after the window", s, i, n-1)
			}
			if s.interval > 0 && s.due(i, n) < s.window && (s.count == 0 || int(n) < s.count) {
				t.Fatalf("%+v member %d: message %d would still fit", s, i, n)
			}
			total += int64(n)
		}
		if s.interval == 100e9 && total != 200 {
			t.Fatalf("bigroom plans %d messages in 10s at 20/s, want 200", total)
		}
	}
}

func TestPresetsValidate(t *testing.T) {
	for _, w := range Workloads {
		c, err := Preset(w)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", w, err)
		}
	}
	if _, err := Preset("nope"); err == nil {
		t.Fatal("unknown workload accepted")
	}
}

func TestParseFlags(t *testing.T) {
	c, err := ParseFlags("bigroom", []string{"-url", "ws://a:1/ws, ws://b:2", "-clients", "50", "-total-rate", "5",
		"-duration", "3s", "-src", "127.0.0.2,127.0.0.3", "-pids", "1,2", "-procs", "2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.URLs) != 2 || c.Clients != 50 || c.Rooms != 1 || c.TotalRate != 5 || c.Duration != 3*time.Second ||
		len(c.Src) != 2 || len(c.Pids) != 2 || c.Procs != 2 || !c.WaitNotices || c.RoomPrefix == "" {
		t.Fatalf("config %+v", c)
	}
	if c.sendInterval() != 10e9 {
		t.Fatalf("interval %d, want 10s (5 msg/s over 50 members)", c.sendInterval())
	}
	if _, err := ParseFlags("fanout", []string{"-pids", "x"}, nil); err == nil {
		t.Fatal("bad pid accepted")
	}
	if _, err := ParseFlags("fanout", []string{"extra"}, nil); err == nil {
		t.Fatal("stray argument accepted")
	}
}

// With senders per room, only members [0, senders) plan messages, and they are spread over the
// whole interval, not crowded into its first part.
func TestScheduleSendersPerRoom(t *testing.T) {
	c, err := ParseFlags("roomcast", []string{"-clients", "1000", "-rooms", "10", "-total-rate", "5"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SendersPerRoom != 1 || c.Count != 1 || c.senders() != 10 {
		t.Fatalf("roomcast preset: %+v, senders %d", c, c.senders())
	}
	if c.sendInterval() != 2e9 {
		t.Fatalf("interval %d, want 2s (5 msg/s over 10 senders)", c.sendInterval())
	}
	s, lay := c.schedule(), c.layout()
	perRoom := make([]int, c.Rooms)
	for i := 0; i < c.Clients; i++ {
		n := s.planned(i)
		if (n > 0) != (lay.pos(i) < c.SendersPerRoom) || n > 1 {
			t.Fatalf("member %d (position %d) plans %d", i, lay.pos(i), n)
		}
		perRoom[lay.room(i)] += int(n)
	}
	for r, n := range perRoom {
		if n != 1 {
			t.Fatalf("room %d gets %d messages, want 1", r, n)
		}
	}
	if last := s.due(c.senders()-1, 0); last < s.interval*8/10 {
		t.Fatalf("last sender due at %d of a %d interval: senders are bunched", last, s.interval)
	}
	// More senders per room than members: everyone sends.
	c2, _ := ParseFlags("roomcast", []string{"-clients", "20", "-rooms", "10", "-senders-per-room", "5"}, nil)
	if c2.senders() != 20 {
		t.Fatalf("senders %d, want all 20", c2.senders())
	}
	// A window too short for every sender's message is refused, not silently cut.
	c3, _ := ParseFlags("roomcast", []string{"-clients", "1000", "-rooms", "10", "-total-rate", "1", "-duration", "5s"}, nil)
	if err := c3.Validate(); err == nil || !strings.Contains(err.Error(), "-duration") {
		t.Fatalf("10 s of sending in a 5 s window: %v", err)
	}
}
