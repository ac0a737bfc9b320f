package bench

import (
	"strings"
	"testing"
	"time"
)

// With K rooms per member, every membership has one place, the inverse maps agree, a member's
// rooms are distinct, and room sizes add up to members*K.
func TestLayoutRoomsPerMember(t *testing.T) {
	for _, l := range []layout{
		{members: 7, rooms: 5, urls: 2, perConn: 3},
		{members: 10, rooms: 3, urls: 1, perConn: 3},
		{members: 4, rooms: 9, urls: 3, perConn: 2},
		{members: 23, rooms: 5, urls: 2, perConn: 1},
	} {
		k := l.k()
		seen := map[[2]int]bool{}
		sizes := make([]int, l.rooms)
		for i := 0; i < l.members; i++ {
			rooms := map[int]bool{}
			for j := 0; j < k; j++ {
				r, p := l.roomOf(i, j), l.posOf(i, j)
				if rooms[r] {
					t.Fatalf("%+v: member %d is in room %d twice", l, i, r)
				}
				rooms[r] = true
				if seen[[2]int{r, p}] {
					t.Fatalf("%+v: position %d of room %d taken twice", l, p, r)
				}
				seen[[2]int{r, p}] = true
				sizes[r]++
				if mi, mj := l.memberSlot(r, p); mi != i || mj != j {
					t.Fatalf("%+v: memberSlot(%d,%d) = %d,%d, want %d,%d", l, r, p, mi, mj, i, j)
				}
				if sj, ok := l.slotIn(i, r); !ok || sj != j {
					t.Fatalf("%+v: slotIn(%d,%d) = %d,%v, want %d", l, i, r, sj, ok, j)
				}
			}
			for r := 0; r < l.rooms; r++ {
				if _, ok := l.slotIn(i, r); ok != rooms[r] {
					t.Fatalf("%+v: slotIn(%d,%d) says %v", l, i, r, ok)
				}
			}
		}
		total := 0
		for r, n := range sizes {
			if l.roomSize(r) != n {
				t.Fatalf("%+v: room %d size %d, want %d", l, r, l.roomSize(r), n)
			}
			total += n
		}
		if total != l.members*k {
			t.Fatalf("%+v: %d memberships", l, total)
		}
	}
	// K = 1 is the v1 layout.
	v1, k1 := layout{members: 23, rooms: 5, urls: 2}, layout{members: 23, rooms: 5, urls: 2, perConn: 1}
	for i := 0; i < 23; i++ {
		if v1.roomOf(i, 0) != i%5 || v1.posOf(i, 0) != i/5 || k1.room(i) != v1.room(i) || k1.url(i) != v1.url(i) {
			t.Fatalf("member %d placed differently with K=1", i)
		}
	}
}

// streamCount and lastInStream against counting by hand.
func TestStreams(t *testing.T) {
	for k := 1; k <= 4; k++ {
		for planned := uint32(0); planned < 12; planned++ {
			count := make([]uint32, k)
			last := make([]int, k)
			for j := range last {
				last[j] = -1
			}
			for seq := uint32(0); seq < planned; seq++ {
				count[seq%uint32(k)]++
				last[seq%uint32(k)] = int(seq)
			}
			for j := 0; j < k; j++ {
				if streamCount(planned, j, k) != count[j] {
					t.Fatalf("k %d planned %d slot %d: streamCount %d, want %d", k, planned, j, streamCount(planned, j, k), count[j])
				}
			}
			for seq := uint32(0); seq < planned; seq++ {
				if lastInStream(seq, planned, k) != (int(seq) == last[seq%uint32(k)]) {
					t.Fatalf("k %d planned %d: lastInStream(%d) wrong", k, planned, seq)
				}
			}
		}
	}
}

// Receivers wait for one last message per (room, sender stream): a sender of 2 messages in 3
// rooms only reaches 2 of them.
func TestFinalsPerRoomMultiRoom(t *testing.T) {
	lay := layout{members: 6, rooms: 3, urls: 1, perConn: 3}
	s := schedule{interval: 1e6, window: 1e9, count: 2, members: 6}
	got := finalsPerRoom(lay, s, []int{5})
	// Members 0-4 send messages 0 and 1, to slots 0 and 1: rooms (3i)%3 = 0 and (3i+1)%3 = 1.
	if got[0] != 5 || got[1] != 5 || got[2] != 0 {
		t.Fatalf("finals per room %v, want [5 5 0]", got)
	}
	joined := roomJoinedCounts(lay, []int{5})
	if joined[0] != 5 || joined[1] != 5 || joined[2] != 5 {
		t.Fatalf("joined per room %v, want 5 each (member 5 failed in all three)", joined)
	}
}

func TestConfigV2(t *testing.T) {
	ok := func(args ...string) *Config {
		t.Helper()
		c, err := ParseFlags(args[0], args[1:], nil)
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return c
	}
	bad := func(want string, args ...string) {
		t.Helper()
		c, err := ParseFlags(args[0], args[1:], nil)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%v: error %v, want one about %q", args, err, want)
		}
	}
	c := ok("fanout", "-proto", "v2", "-clients", "10", "-rooms", "20", "-rooms-per-client", "4")
	if c.Proto != "v2" || c.RoomsPerClient != 4 || c.layout().k() != 4 || c.Seed == 0 {
		t.Fatalf("config %+v", c)
	}
	r := ok("recovery", "-clients", "100", "-away", "200ms-1s", "-seed", "7")
	if r.Proto != "v2" || r.ChurnShare != 0.1 || r.AwayMin != 200*time.Millisecond || r.AwayMax != time.Second || r.Seed != 7 {
		t.Fatalf("recovery config %+v", r)
	}
	if r2 := ok("recovery", "-away", "2s"); r2.AwayMin != 2*time.Second || r2.AwayMax != 2*time.Second {
		t.Fatalf("-away 2s: %v-%v", r2.AwayMin, r2.AwayMax)
	}
	bad("-proto", "fanout", "-proto", "v3")
	bad("needs -proto v2", "fanout", "-rooms-per-client", "2")
	bad("more than -rooms", "fanout", "-proto", "v2", "-rooms", "3", "-rooms-per-client", "4")
	bad("-rooms must be between", "fanout", "-proto", "v2", "-clients", "2", "-rooms", "7", "-rooms-per-client", "3")
	bad("-senders-per-room", "roomcast", "-proto", "v2", "-rooms-per-client", "2")
	bad("recovery needs -proto v2", "recovery", "-proto", "v1")
	bad("-churn-share", "fanout", "-churn-share", "0.5")
	bad("-churn-share", "recovery", "-churn-share", "0")
	bad("-away", "recovery", "-away", "2s-1s")
	bad("must outlast the longest -away", "recovery", "-warmup", "0", "-duration", "2s", "-away", "3s")
	// 12 s of sending at 1 msg/s over 1000 members: the last message is due at 11.999 s; outages
	// may start until that - 3 s (away) - 1 s (the last message per room) - 0.5 s.
	if w := ok("recovery", "-away", "3s").outageWindow(); w != 7499e6 {
		t.Fatalf("outage window %v, want 7.499s", time.Duration(w))
	}
	bad("must outlast the longest -away", "recovery", "-warmup", "0", "-duration", "4500ms", "-away", "3s")
	ok("recovery", "-warmup", "0", "-duration", "4600ms", "-away", "3s")
	bad("needs messages", "recovery", "-rate", "0")
	if _, err := ParseFlags("recovery", []string{"-away", "soon"}, nil); err == nil {
		t.Fatal("-away soon accepted")
	}
}
