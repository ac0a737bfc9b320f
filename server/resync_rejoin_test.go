package server_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server/internal/redistest"
	"github.com/gorilla/websocket"
)

// streamMember is a v2 member of one room that acts as the contract says
// (docs/protocol-v2.md §7: on resync, join again with since where it stands; a
// join refused as unavailable is sent again a moment later) and checks the
// stream invariant on every push after every join reply: after a reply with
// epoch E and offset N, the room's pushes continue at N+1 of E: no offset
// at or below N, no other epoch unless a resync comes first, and (for a
// member that does not publish, whose own messages are not pushed back to
// it) no hole.
type streamMember struct {
	t          *testing.T
	name, room string
	ws         *websocket.Conn
	wmu        sync.Mutex
	contiguous bool
	leaveFirst bool // on resync, leave and join again (a fresh join with since), rather than recover in place
	done       chan struct{}

	mu         sync.Mutex
	nextID     int
	joinID     int // the join waiting for its reply (0: none)
	since      bool
	epoch      string // where the member stands
	offset     int
	checking   bool // a join reply came, and no resync since
	resyncing  bool // a resync came and no join reply since
	replies    int  // join replies
	rejoins    int  // join replies that answered a resync
	resyncs    int
	refused    int // joins refused (sent again)
	pushes     int // message pushes since the last join reply
	stale      int // pushes at or below the last reply's (or push's) offset, of its epoch
	otherEpoch int // pushes of another epoch than the last reply's (or push's), without a resync
	violations []string
	seen       map[string]bool // contents of every message pushed
}

func newStreamMember(t *testing.T, addr, name, room string, contiguous, leaveFirst bool) *streamMember {
	t.Helper()
	c := connectV2(t, addr, name)
	_ = c.ws.SetReadDeadline(time.Time{})
	m := &streamMember{t: t, name: name, room: room, ws: c.ws, contiguous: contiguous, leaveFirst: leaveFirst,
		done: make(chan struct{}), nextID: 1000, seen: map[string]bool{}}
	go m.read()
	t.Cleanup(func() { m.ws.Close(); <-m.done })
	return m
}

func (m *streamMember) send(v map[string]any) {
	b, _ := json.Marshal(v)
	m.wmu.Lock()
	defer m.wmu.Unlock()
	_ = m.ws.WriteMessage(websocket.TextMessage, b)
}

// joinLocked sends a join: a fresh one before the first reply, then one
// with since where the member stands (a recovery in place, or a leave and
// a fresh join with since).
func (m *streamMember) joinLocked() {
	m.nextID++
	m.joinID = m.nextID
	req := map[string]any{"type": "join", "roomId": m.room, "id": m.joinID}
	var leave map[string]any
	if m.replies > 0 {
		req["since"] = map[string]any{"epoch": m.epoch, "offset": m.offset}
		if m.leaveFirst {
			leave = map[string]any{"type": "leave", "roomId": m.room}
		}
	}
	go func() {
		if leave != nil {
			m.send(leave)
		}
		m.send(req)
	}()
}

func (m *streamMember) join() {
	m.mu.Lock()
	m.joinLocked()
	m.mu.Unlock()
}

func (m *streamMember) violate(format string, args ...any) {
	if len(m.violations) < 10 {
		m.violations = append(m.violations, fmt.Sprintf(format, args...))
	}
}

func (m *streamMember) read() {
	defer close(m.done)
	for {
		_, p, err := m.ws.ReadMessage()
		if err != nil {
			return
		}
		var v msg
		if json.Unmarshal(p, &v) != nil {
			continue
		}
		m.mu.Lock()
		switch id := v.num("id"); {
		case v.str("type") == "ok" && id == m.joinID && id != 0:
			m.joinID = 0
			m.epoch, m.offset = v.str("epoch"), v.num("offset")
			m.checking = true
			m.replies++
			if m.resyncing {
				m.rejoins++
				m.resyncing = false
			}
			m.pushes = 0
		case v.str("type") == "error" && id == m.joinID && id != 0:
			m.joinID = 0
			m.refused++
			time.AfterFunc(100*time.Millisecond, func() {
				m.mu.Lock()
				if m.joinID == 0 {
					m.joinLocked()
				}
				m.mu.Unlock()
			})
		case v.str("type") == "resync":
			m.resyncs++
			m.checking, m.resyncing = false, true
			// A join in flight answers after this resync: its reply
			// stands where the room's stream is after it.
			if m.joinID == 0 {
				m.joinLocked()
			}
		case v.str("type") == "message":
			e, o := v.str("epoch"), v.num("offset")
			m.seen[v.str("content")] = true
			if m.checking {
				switch {
				case e != m.epoch:
					m.otherEpoch++
					m.violate("push %s/%d after reply or push at %s/%d, without a resync", e, o, m.epoch, m.offset)
				case o <= m.offset:
					m.stale++
					m.violate("push %s/%d at or below %d", e, o, m.offset)
				case m.contiguous && o != m.offset+1:
					m.violate("push %s/%d after %d: a hole", e, o, m.offset)
				}
			}
			if !m.checking || e == m.epoch && o > m.offset {
				m.epoch, m.offset = e, o
			}
			m.pushes++
		}
		m.mu.Unlock()
	}
}

// publishEvery publishes to the member's room until stop closes.
func (m *streamMember) publishEvery(d time.Duration, stop chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(d)
		defer tk.Stop()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			m.send(map[string]any{"type": "publish", "roomId": m.room, "content": fmt.Sprint(m.name, "#", i), "id": i})
		}
	}()
}

func (m *streamMember) state() (replies, rejoins, resyncs, pushes int, checking bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.replies, m.rejoins, m.resyncs, m.pushes, m.checking
}

// After Redis comes back empty under traffic, every member is told to
// resync and joins again with since; from each join reply on, its stream
// continues right after the reply's position: no push at or below the
// reply's offset, none of another epoch without a resync first, no hole
// (issue 19 item 2). Two nodes, 4 rooms x 6 members, 2 publishers a room;
// a third of the members answer a resync with a leave and a fresh join with
// since, the others recover in place.
func TestRejoinAfterRedisRestartedEmpty(t *testing.T) {
	longTest(t)
	for _, down := range []time.Duration{0, time.Second} {
		t.Run(fmt.Sprint("down ", down), func(t *testing.T) { checkRejoinAfterRestart(t, down) })
	}
}

// checkRejoinAfterRestart: Redis is killed, and restarted empty after down
// (publishes are refused meanwhile).
func checkRejoinAfterRestart(t *testing.T, down time.Duration) {
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server (restart)")
	}
	nodes := startCluster(t, rs, 2, nil)
	const rooms, perRoom = 4, 6
	var all []*streamMember
	var publishers []*streamMember
	for r := 0; r < rooms; r++ {
		room := fmt.Sprint("room", r)
		for i := 0; i < perRoom; i++ {
			m := newStreamMember(t, nodes[i%2].srv.Addr(), fmt.Sprint(room, "-m", i), room, i >= 2, i%3 == 2)
			m.join()
			waitFor(t, 10*time.Second, m.name+"'s join", func() bool { n, _, _, _, _ := m.state(); return n == 1 })
			all = append(all, m)
			if i < 2 {
				publishers = append(publishers, m)
			}
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range publishers {
		p.publishEvery(15*time.Millisecond, stop, &wg)
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	for _, m := range all {
		waitFor(t, 20*time.Second, m.name+": traffic before the restart", func() bool {
			_, _, _, n, _ := m.state()
			return n >= 30
		})
	}
	rs.Kill() // SIGKILL
	time.Sleep(down)
	rs.Restart() // back with no data
	waitFor(t, 20*time.Second, "both nodes healthy", func() bool { return nodes[0].broker.Healthy() && nodes[1].broker.Healthy() })
	for _, m := range all {
		waitFor(t, 30*time.Second, m.name+": joined again after a resync, and traffic after it", func() bool {
			_, rejoins, _, pushes, checking := m.state()
			return rejoins >= 1 && checking && pushes >= 30
		})
	}
	close(stop)
	wg.Wait()
	// A last message in each room, after every other: once a member has
	// it, every push of its room has reached it.
	for r := 0; r < rooms; r++ {
		room := fmt.Sprint("room", r)
		c := connectV2(t, nodes[r%2].srv.Addr(), "last")
		c.join(room)
		if _, err := publishOK(t, c, room, "the end of "+room); err != nil {
			t.Fatal(err)
		}
	}
	stale, otherEpoch, refused, resyncs := 0, 0, 0, 0
	for _, m := range all {
		waitFor(t, 10*time.Second, m.name+": the last message", func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.seen["the end of "+m.room]
		})
	}
	for _, m := range all {
		m.mu.Lock()
		stale += m.stale
		otherEpoch += m.otherEpoch
		refused += m.refused
		resyncs += m.resyncs
		if len(m.violations) > 0 || m.resyncs == 0 || m.rejoins == 0 {
			t.Errorf("%s: %d resyncs, %d re-joins, %d stale pushes, %d of another epoch; %v", m.name, m.resyncs,
				m.rejoins, m.stale, m.otherEpoch, m.violations)
		}
		m.mu.Unlock()
	}
	for i, n := range nodes {
		st := n.broker.Stats()
		t.Logf("node %d: gaps filled %d (%d messages), unfilled %d, epoch changes %d, duplicates %d", i, st.GapsFilled,
			st.Filled, st.GapsUnfilled, st.EpochChanges, st.Duplicates)
	}
	t.Logf("%d members: %d resyncs, %d stale pushes, %d of another epoch without a resync, %d joins refused and sent again",
		len(all), resyncs, stale, otherEpoch, refused)
}
