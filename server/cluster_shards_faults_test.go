package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
)

// Faults of a Redis Cluster under chat nodes.

// publishOK publishes through c and waits for its ok, skipping the pushes
// that arrive before it; it reports an error reply as such.
func publishOK(t *testing.T, c *v2client, room, content string) (msg, error) {
	t.Helper()
	c.nextID++
	id := c.nextID
	c.send(map[string]any{"type": "publish", "roomId": room, "content": content, "id": id})
	deadline := time.Now().Add(10 * time.Second)
	for {
		_ = c.ws.SetReadDeadline(deadline)
		_, p, err := c.ws.ReadMessage()
		if err != nil {
			t.Fatalf("publish %q: %v", content, err)
		}
		var m msg
		_ = json.Unmarshal(p, &m)
		if m.num("id") != id {
			continue
		}
		if m.str("type") != "ok" {
			return m, fmt.Errorf("publish %q: %v", content, m)
		}
		return m, nil
	}
}

// contents returns what the listener got, by (epoch, offset).
func (l *listener) contents() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]string{}
	for _, m := range l.msgs {
		out[fmt.Sprint(m.epoch, "/", m.offset)] = m.content
	}
	return out
}

// The master of a busy room is killed (SIGKILL) while two senders on two
// nodes publish to it: a replica takes over, the nodes resubscribe the room
// there, traffic resumes, and every member ends with contiguous offsets or
// was told to resync, never a silent hole; no two members saw different
// messages under one (epoch, offset), and what they saw of the last epoch is
// the room's history. A room on another master keeps working meanwhile.
func TestShardedClusterFailover(t *testing.T) {
	longTest(t)
	rc := redistest.StartCluster(t, 3, 1)
	// The heartbeat TTL exceeds the failover time (README: Redis Cluster).
	mod := func(o *redisbroker.Options) { o.HeartbeatTTL = 5 * time.Second }
	A := startShardNode(t, rc, "A", mod)
	B := startShardNode(t, rc, "B", mod)
	rooms, owners := roomsOnMasters(t, rc, "fo")
	busy, calm := rooms[0], rooms[1]
	slot := rc.Slot("room:{" + busy + "}")

	l1 := listen(t, A.srv.Addr(), "l1", busy)
	l2 := listen(t, B.srv.Addr(), "l2", busy)
	lc := listen(t, B.srv.Addr(), "lc", calm)
	pc := connectV2(t, A.srv.Addr(), "calm-pub")
	pc.join(calm)
	s1 := startSender(t, A.srv.Addr(), "s1", busy, 5*time.Millisecond)
	s2 := startSender(t, B.srv.Addr(), "s2", busy, 5*time.Millisecond)
	waitFor(t, 10*time.Second, "traffic before the fault", func() bool { return l1.count() >= 50 && l2.count() >= 50 })

	before := [2]int{l1.count(), l2.count()}
	killed := time.Now()
	rc.Kill(owners[0])
	// Another shard serves on while this one fails over.
	if _, err := publishOK(t, pc, calm, "calm during the failover"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the calm room's message", func() bool { return lc.has("calm during the failover") })
	calmTook := time.Since(killed)
	newMaster := rc.WaitFailover(slot, owners[0], 20*time.Second)
	tookOver := time.Since(killed)
	waitFor(t, 20*time.Second, "traffic after the failover", func() bool {
		return l1.count() >= before[0]+50 && l2.count() >= before[1]+50
	})
	recovered := time.Since(killed)
	s1.halt()
	s2.halt()

	// A last message, published after every other: once a listener has it,
	// it has had (or was told it lost) all of them.
	last := connectV2(t, A.srv.Addr(), "last")
	last.join(busy)
	if _, err := publishOK(t, last, busy, "the end"); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*listener{l1, l2} {
		waitFor(t, 10*time.Second, "the last message", func() bool { return l.has("the end") })
	}
	t.Logf("master %d of %s killed: replica %d took over after %v; traffic back after %v; a room on another master served %v after the kill",
		owners[0], busy, newMaster, tookOver.Round(time.Millisecond), recovered.Round(time.Millisecond),
		calmTook.Round(time.Millisecond))
	acked, refused := s1.acked.Load()+s2.acked.Load(), s1.refused.Load()+s2.refused.Load()
	for i, l := range []*listener{l1, l2} {
		ok, resyncs, detail := l.check()
		st := []*clusterNode{A, B}[i].broker.Stats()
		outcome := "contiguous offsets"
		if resyncs > 0 {
			outcome = fmt.Sprintf("told to resync %d time(s)", resyncs)
		}
		t.Logf("node %c: %s (contiguous %v: %s); gaps filled %d (%d messages), unfilled %d, epoch changes %d, rooms moved %d, failovers seen %d, redirects %d; senders: %d acked, %d refused",
			'A'+i, outcome, ok, detail, st.GapsFilled, st.Filled, st.GapsUnfilled, st.EpochChanges, st.MovedRooms,
			st.Failovers, st.Redirects, acked, refused)
		if !ok && resyncs == 0 {
			t.Fatalf("node %c: a silent hole: %s", 'A'+i, detail)
		}
	}
	// One content per (epoch, offset) across members, and the last epoch's
	// as the history has it.
	c1, c2 := l1.contents(), l2.contents()
	for k, v := range c1 {
		if w, ok := c2[k]; ok && w != v {
			t.Fatalf("message %s: %q at one member, %q at the other", k, v, w)
		}
	}
	h := last.call(map[string]any{"type": "history", "roomId": busy, "limit": 100})
	msgs := h["messages"].([]any)
	if len(msgs) == 0 {
		t.Fatal("no history after the failover")
	}
	for _, x := range msgs {
		m := msg(x.(map[string]any))
		k := fmt.Sprint(m.str("epoch"), "/", m.num("offset"))
		for _, c := range []map[string]string{c1, c2} {
			if got, ok := c[k]; ok && got != m.str("content") {
				t.Fatalf("message %s: a member got %q, the history has %q", k, got, m.str("content"))
			}
		}
	}
	// Both nodes still serve, on every loop.
	for _, n := range []*clusterNode{A, B} {
		if code := readyz(n.srv.Addr()); code != 200 {
			t.Fatalf("readyz %d", code)
		}
		if st := n.broker.Stats(); st.MovedRooms == 0 {
			t.Fatalf("stats %+v: the room was not moved to the new master", st)
		}
	}
}

// startShardChild runs bin as a node named id on the Redis Cluster rc and
// waits until it beats and is ready. It is killed at cleanup.
func startShardChild(t *testing.T, bin string, rc *redistest.Cluster, id string, args ...string) *childNode {
	t.Helper()
	beats := func() bool {
		return rc.Client().Exists(context.Background(), "chatd:node:{"+id+"}:alive").Val() == 1
	}
	return runChildNode(t, bin, id, []string{"-redis-cluster", rc.Seeds()}, beats, args...)
}

// A node killed with SIGKILL while it has members in rooms on every master:
// the survivors remove them (each once), announce userLeft with the
// corrected counts, and delete the rooms it alone had, within the heartbeat
// TTL, across the shards.
func TestShardedClusterNodeKilled(t *testing.T) {
	longTest(t)
	rc := redistest.StartCluster(t, 3, 0)
	const interval, ttl = time.Second, 3 * time.Second
	bin := buildChatd(t, t.TempDir())
	mod := func(o *redisbroker.Options) { o.HeartbeatInterval, o.HeartbeatTTL = interval, ttl }
	A := startShardNode(t, rc, "A", mod)
	B := startShardNode(t, rc, "B", mod)
	child := startShardChild(t, bin, rc, "doomed", "-heartbeat-interval", interval.String(), "-heartbeat-ttl", ttl.String())
	rooms, owners := roomsOnMasters(t, rc, "k")
	alone, _ := roomsOnMasters(t, rc, "alone") // rooms only the doomed node has members in
	t.Logf("shared rooms %v on masters %v", rooms, owners)

	var survivors []*client
	var doomedIDs []string
	for i, room := range rooms {
		s := dialChat(t, []*clusterNode{A, B}[i%2].srv.Addr())
		s.join(room, "survivor")
		d1, d2 := dialChat(t, child.addr), dialChat(t, child.addr)
		d1.join(room, "d1")
		s.expect("userJoined")
		if m := d2.join(room, "d2"); m.num("memberCount") != 3 {
			t.Fatalf("%s: %v", room, m)
		}
		s.expect("userJoined")
		survivors = append(survivors, s)
		doomedIDs = append(doomedIDs, d1.userID, d2.userID)
	}
	for _, room := range alone {
		dialChat(t, child.addr).join(room, "lonely")
	}

	if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-child.exited
	limit := ttl + interval + time.Second
	for i, s := range survivors {
		var left []string
		for n := 2; n >= 1; n-- {
			m := expectWithin(s, "userLeft", limit)
			if m.num("memberCount") != n {
				t.Fatalf("%s: %v, want count %d", rooms[i], m, n)
			}
			left = append(left, m.str("userId"))
		}
		slices.Sort(left)
		want := slices.Clone(doomedIDs[2*i : 2*i+2])
		slices.Sort(want)
		if !slices.Equal(left, want) {
			t.Fatalf("%s: userLeft for %v, want %v", rooms[i], left, want)
		}
	}
	took := time.Since(killed)
	t.Logf("dead node's members removed across %d masters %v after kill -9 (TTL %v)", len(rooms), took.Round(time.Millisecond), ttl)
	if took > ttl+500*time.Millisecond {
		t.Fatalf("took %v, more than the TTL", took)
	}
	// Announced once: the next event after them is a new message.
	sendChat(survivors[0], "still here")

	ctx := context.Background()
	rcl := rc.Client()
	waitFor(t, 5*time.Second, "the dead node forgotten", func() bool {
		if rcl.SIsMember(ctx, "chatd:nodes", "doomed").Val() || rcl.Exists(ctx, "chatd:node:{doomed}:slots").Val() != 0 {
			return false
		}
		for _, room := range alone {
			if rcl.Exists(ctx, "room_info:{"+room+"}").Val()+rcl.Exists(ctx, "room_members:{"+room+"}").Val() != 0 {
				return false
			}
		}
		return true
	})
	for i, room := range rooms {
		if mem := rcl.SMembers(ctx, "room_members:{"+room+"}").Val(); len(mem) != 1 || mem[0] != survivors[i].userID {
			t.Fatalf("%s: members %v", room, mem)
		}
		if n := rcl.Exists(ctx, "chatd:node:doomed:members:{"+slotTagOf(t, rc, room)+"}").Val(); n != 0 {
			t.Fatalf("%s: the dead node's registrations remain", room)
		}
	}
	var reaped int64
	for _, n := range []*clusterNode{A, B} {
		reaped += n.broker.Stats().Reaped
	}
	if want := int64(2*len(rooms) + len(alone)); reaped != want {
		t.Fatalf("reaped %d members in all, want %d", reaped, want)
	}
}

// slotTagOf finds the tag the broker uses for the registrations in room's
// slot: the shortest base-36 number whose slot is the room's.
func slotTagOf(t *testing.T, rc *redistest.Cluster, room string) string {
	t.Helper()
	want := rc.Slot("{" + room + "}")
	for n := uint64(0); ; n++ {
		tag := strconv.FormatUint(n, 36)
		if rc.Slot("{"+tag+"}") == want {
			return tag
		}
	}
}

// finishBusy stops the senders, publishes a last message after every other
// and waits until each listener has it; then it checks that each listener
// saw contiguous offsets or was told to resync, and logs which, with the
// nodes' counters.
func finishBusy(t *testing.T, addr, room string, senders []*sender, ls []*listener, nodes []*clusterNode) {
	t.Helper()
	var acked, refused int64
	for _, s := range senders {
		s.halt()
		acked += s.acked.Load()
		refused += s.refused.Load()
	}
	last := connectV2(t, addr, "last")
	last.join(room)
	if _, err := publishOK(t, last, room, "the end"); err != nil {
		t.Fatal(err)
	}
	for i, l := range ls {
		waitFor(t, 10*time.Second, "the last message", func() bool { return l.has("the end") })
		ok, resyncs, detail := l.check()
		st := nodes[i].broker.Stats()
		outcome := "contiguous offsets"
		if resyncs > 0 {
			outcome = fmt.Sprintf("told to resync %d time(s)", resyncs)
		}
		t.Logf("node %c: %s (contiguous %v: %s); gaps filled %d (%d messages), unfilled %d, epoch changes %d, rooms moved %d, redirects %d; senders: %d acked, %d refused",
			'A'+i, outcome, ok, detail, st.GapsFilled, st.Filled, st.GapsUnfilled, st.EpochChanges, st.MovedRooms,
			st.Redirects, acked, refused)
		if !ok && resyncs == 0 {
			t.Fatalf("node %c: a silent hole: %s", 'A'+i, detail)
		}
		if dup := l.duplicate(); dup != "" {
			t.Fatalf("node %c: %q delivered twice (stored twice?)", 'A'+i, dup)
		}
	}
}

// duplicate returns a content the listener got twice ("" if none): every
// sender's message is distinct, so one stored twice would show.
func (l *listener) duplicate() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	for _, m := range l.msgs {
		if seen[m.content] {
			return m.content
		}
		seen[m.content] = true
	}
	return ""
}

// A busy room's slot is migrated to another master while two senders
// publish (keys moved one at a time: writes meet ASK and TRYAGAIN, and the
// old master finally drops the room's shard channel): the nodes follow the
// redirections without running a write twice, move the subscription, and
// every member ends with contiguous offsets or a resync.
func TestShardedClusterSlotMigration(t *testing.T) {
	longTest(t)
	rc := redistest.StartCluster(t, 3, 0)
	A := startShardNode(t, rc, "A", nil)
	B := startShardNode(t, rc, "B", nil)
	rooms, owners := roomsOnMasters(t, rc, "mig")
	busy := rooms[0]
	slot := rc.Slot("room:{" + busy + "}")
	l1 := listen(t, A.srv.Addr(), "l1", busy)
	l2 := listen(t, B.srv.Addr(), "l2", busy)
	s1 := startSender(t, A.srv.Addr(), "s1", busy, 5*time.Millisecond)
	s2 := startSender(t, B.srv.Addr(), "s2", busy, 5*time.Millisecond)
	waitFor(t, 10*time.Second, "traffic before the migration", func() bool { return l1.count() >= 50 && l2.count() >= 50 })
	attempts := func() int64 { return s1.acked.Load() + s1.refused.Load() + s2.acked.Load() + s2.refused.Load() }
	began := time.Now()
	rc.MigrateSlot(slot, owners[0], owners[1], func() {
		// Let some publishes meet the half-moved slot.
		n := attempts()
		waitFor(t, 10*time.Second, "publishes during the migration", func() bool { return attempts() >= n+10 })
	})
	migrated := time.Since(began)
	before := [2]int{l1.count(), l2.count()}
	waitFor(t, 20*time.Second, "traffic after the migration", func() bool {
		return l1.count() >= before[0]+50 && l2.count() >= before[1]+50
	})
	t.Logf("slot %d of %s moved from master %d to %d in %v", slot, busy, owners[0], owners[1], migrated.Round(time.Millisecond))
	finishBusy(t, A.srv.Addr(), busy, []*sender{s1, s2}, []*listener{l1, l2}, []*clusterNode{A, B})
	for _, n := range []*clusterNode{A, B} {
		if st := n.broker.Stats(); st.MovedRooms == 0 {
			t.Fatalf("stats %+v: the room's subscription did not move", st)
		}
	}
	ch := "room:{" + busy + "}"
	if n := rc.Node(owners[1]).PubSubShardNumSub(context.Background(), ch).Val()[ch]; n != 2 {
		t.Fatalf("%d subscribers of the room on its new master, want both nodes", n)
	}
}

// A master restarts without its data (no replica, no persistence): the
// nodes reconnect, re-register their members (counts are right again),
// resubscribe, and members are told to resync (the history is gone).
func TestShardedClusterShardRestart(t *testing.T) {
	longTest(t)
	rc := redistest.StartCluster(t, 3, 0)
	A := startShardNode(t, rc, "A", nil)
	B := startShardNode(t, rc, "B", nil)
	rooms, owners := roomsOnMasters(t, rc, "rs")
	room := rooms[0]
	a := dialChat(t, A.srv.Addr())
	a.join(room, "alice")
	b := dialChat(t, B.srv.Addr())
	b.join(room, "bob")
	a.expect("userJoined")
	l1 := listen(t, A.srv.Addr(), "l1", room)
	l2 := listen(t, B.srv.Addr(), "l2", room)
	s1 := startSender(t, A.srv.Addr(), "s1", room, 5*time.Millisecond)
	waitFor(t, 10*time.Second, "traffic before the restart", func() bool { return l1.count() >= 50 && l2.count() >= 50 })
	ctx := context.Background()
	members := "room_members:{" + room + "}"
	if n := rc.Node(owners[0]).SCard(ctx, members).Val(); n != 5 {
		t.Fatalf("%d members before the restart, want 5", n)
	}
	began := time.Now()
	rc.Restart(owners[0])
	waitFor(t, 20*time.Second, "members re-registered", func() bool {
		return rc.Node(owners[0]).SCard(ctx, members).Val() == 5
	})
	t.Logf("master %d restarted empty; members re-registered %v later", owners[0], time.Since(began).Round(time.Millisecond))
	before := [2]int{l1.count(), l2.count()}
	waitFor(t, 20*time.Second, "traffic after the restart", func() bool {
		return l1.count() >= before[0]+50 && l2.count() >= before[1]+50
	})
	finishBusy(t, A.srv.Addr(), room, []*sender{s1}, []*listener{l1, l2}, []*clusterNode{A, B})
	for i, l := range []*listener{l1, l2} {
		if _, resyncs, _ := l.check(); resyncs == 0 {
			t.Fatalf("listener %d: the history was lost, but no resync", i)
		}
	}
	if m := dialChat(t, B.srv.Addr()).join(room, "carol"); m.num("memberCount") != 7 { // + the last client
		t.Fatalf("count after the restart %v", m)
	}
}

// A master hangs (SIGSTOP: its connections stay open, nothing answers)
// while rooms on other masters are busy: their messages go on without
// waiting for it (each master has its own publisher, lanes.go); the hung
// master's room resumes once its replica took over, without waiting for
// the publish stuck on the hung master to time out.
func TestShardedClusterHungMaster(t *testing.T) {
	longTest(t)
	rc := redistest.StartCluster(t, 3, 1)
	// (A publish in flight to the hung master fails after OpTimeout; the
	// room's next ones wait behind it.)
	mod := func(o *redisbroker.Options) { o.HeartbeatTTL, o.OpTimeout = 5*time.Second, 2*time.Second }
	A := startShardNode(t, rc, "A", mod)
	B := startShardNode(t, rc, "B", mod)
	rooms, owners := roomsOnMasters(t, rc, "hung")
	hung, calm := rooms[0], rooms[1]
	lh := listen(t, B.srv.Addr(), "lh", hung)
	lc := listen(t, B.srv.Addr(), "lc", calm)
	ph := connectV2(t, A.srv.Addr(), "hung-pub")
	ph.join(hung)
	pc := connectV2(t, A.srv.Addr(), "calm-pub")
	pc.join(calm)
	if _, err := publishOK(t, ph, hung, "before"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the first message", func() bool { return lh.has("before") })

	rc.Freeze(owners[0])
	frozen := time.Now()
	// A publish to the hung master's room waits (in its own lane).
	ph.send(map[string]any{"type": "publish", "roomId": hung, "content": "during", "id": 1000})
	// Meanwhile the calm room serves at once, publish after publish.
	var worst time.Duration
	for i := 0; i < 20; i++ {
		began := time.Now()
		if _, err := publishOK(t, pc, calm, fmt.Sprint("calm ", i)); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, time.Since(began))
	}
	waitFor(t, 5*time.Second, "the calm room's messages", func() bool { return lc.has("calm 19") })
	if worst > time.Second {
		t.Fatalf("a publish to another master's room took %v while one master hung", worst)
	}
	newMaster := rc.WaitFailover(rc.Slot("room:{"+hung+"}"), owners[0], 20*time.Second)
	// The hung room works again on the replica.
	waitFor(t, 5*time.Second, "the hung room back", func() bool {
		_, err := publishOK(t, ph, hung, "after")
		return err == nil && lh.has("after")
	})
	t.Logf("master %d hung: other rooms' publishes took %v at worst meanwhile; replica %d took over; the room served again %v after the hang",
		owners[0], worst.Round(time.Millisecond), newMaster, time.Since(frozen).Round(time.Millisecond))
	rc.Thaw(owners[0])
}
