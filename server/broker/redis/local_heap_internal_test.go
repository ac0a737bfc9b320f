package redis

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/brokertest"
	"github.com/chatd/chatd/server/internal/heaptest"
)

// A cluster node's own record of a membership (local: what it re-registers
// after an outage) costs at most 24 bytes of heap per extra room, rooms of
// 100, one connection per user, the identities the caller's as the chat
// node passes them (issue 22: the cluster node's figure). A member is 16
// bytes (the identity's pointer; the join time and the connection count in
// one word) in a room's sorted list (broker.MemberSet): 20 B measured. With
// the time and the count apart (24 bytes) it was 29; as a map slot of 40
// bytes 56; with the name and the join time as strings (a slot of 56 and 24
// bytes of time) ~106. No Redis is needed: the joins are queued for a state
// loop that does not run, and taken off the queue.
func TestLocalMemberHeap(t *testing.T) {
	if !heaptest.Alone(t) {
		return
	}
	const users, perRoom = 10000, 100
	ids := brokertest.Identities(users)
	one, four := 1<<30, 1<<30
	for try := 0; try < 3; try++ { // the least of three, alone in the process (heaptest)
		one = min(one, localHeapOf(ids, 1, perRoom))
		four = min(four, localHeapOf(ids, 4, perRoom))
	}
	extra := (four - one) / (3 * users)
	t.Logf("%d bytes of heap per user in one room, %d per extra room", one/users, extra)
	if extra > 24 {
		t.Fatalf("%d bytes of heap per extra room, want <= 24", extra)
	}
}

// localHeapOf joins each user to k rooms of perRoom members on a broker
// that is not started and returns the heap its local members hold.
func localHeapOf(ids []*broker.Identity, k, perRoom int) int {
	rooms := len(ids) * k / perRoom
	rids := make([]string, rooms)
	for i := range rids {
		rids[i] = fmt.Sprintf("room-%05d", i)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	b := &Broker{local: make(map[string]*localRoom), stateq: make(chan *stateOp, 1)}
	b.cmdOK.Store(true)
	for i, id := range ids {
		for j := 0; j < k; j++ {
			r := rids[(i*k+j)%rooms]
			b.Join(broker.Member{Room: r, User: id.User, Name: id.Name, ID: id}, r, func(broker.Membership, error) {})
			<-b.stateq // the op is Redis's part, not the node's record
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(b)
	runtime.KeepAlive(rids)
	return int(ms.HeapAlloc - before)
}

// A member's record keeps its first join time and counts its connections
// in one word: each connection counted, the time kept across them, the
// record gone with the last; a join past maxMemberConns fails and changes
// nothing.
func TestLocalMemberConnsAndJoinTime(t *testing.T) {
	b := &Broker{local: make(map[string]*localRoom), stateq: make(chan *stateOp, 8)}
	b.cmdOK.Store(true)
	id := brokertest.Identities(1)[0]
	m := broker.Member{Room: "r", User: id.User, Name: id.Name, ID: id}
	join := func() (err error) {
		b.Join(m, "r", func(_ broker.Membership, e error) { err = e })
		select {
		case <-b.stateq: // queued for Redis
		default:
		}
		return err
	}
	record := func() localMember {
		lm, ok := b.local["r"].members.Get(id.User)
		if !ok {
			t.Fatal("no record")
		}
		return lm
	}
	if err := join(); err != nil {
		t.Fatal(err)
	}
	first := record().joinedAt()
	if d := time.Now().UnixMilli() - first; d < 0 || d > 5000 {
		t.Fatalf("joined at %d, %d ms from now", first, d)
	}
	for range 2 {
		if err := join(); err != nil {
			t.Fatal(err)
		}
	}
	if lm := record(); lm.conns() != 3 || lm.joinedAt() != first {
		t.Fatalf("after 3 joins: %d connections, joined at %d (want 3, %d)", lm.conns(), lm.joinedAt(), first)
	}
	b.lmu.Lock()
	if last := b.dropConnLocked(m); last {
		t.Fatal("the first of 3 leaves was the last")
	}
	b.lmu.Unlock()
	if lm := record(); lm.conns() != 2 || lm.joinedAt() != first {
		t.Fatalf("after a leave: %d connections, joined at %d", lm.conns(), lm.joinedAt())
	}
	// At the cap (set directly: 4 million joins are not the point).
	lm := record()
	lm.packed = uint64(first)<<memberConnBits | maxMemberConns
	b.local["r"].members.Set(lm)
	if err := join(); err == nil || !strings.Contains(err.Error(), "connections of user") {
		t.Fatalf("join past the cap: %v", err)
	}
	if lm := record(); lm.conns() != maxMemberConns || lm.joinedAt() != first {
		t.Fatalf("a refused join changed the record: %d connections, joined at %d", lm.conns(), lm.joinedAt())
	}
	b.lmu.Lock()
	for i := 0; i < maxMemberConns-1; i++ {
		if b.dropConnLocked(m) {
			t.Fatalf("leave %d of %d was the last", i+1, maxMemberConns)
		}
	}
	if !b.dropConnLocked(m) {
		t.Fatal("the last leave was not the last")
	}
	b.lmu.Unlock()
	if _, ok := b.local["r"]; ok {
		t.Fatal("the room's record outlived its last member")
	}
}
