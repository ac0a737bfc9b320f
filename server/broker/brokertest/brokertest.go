// Package brokertest is the contract of the broker seam as a test: one table
// of checks that every broker.Broker implementation runs in its own tests
// (server/broker/memory, server/broker/redis), so that the chat can rely on
// the same behaviour whichever broker cmd/chatd wires.
package brokertest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
)

// HistorySize is the history cap the contract expects the brokers of a
// Cluster to be configured with.
const HistorySize = 10

// Cluster starts brokers for a test.
type Cluster struct {
	// Node starts one more started node of the same cluster on r. A broker
	// of a single process (the memory broker) returns nil after the first
	// node: the checks that need two nodes are then not part of its
	// contract.
	Node func(t *testing.T, r broker.Receiver) broker.Broker
}

// Run runs the whole contract against c. Each check gets a fresh cluster.
func Run(t *testing.T, newCluster func(t *testing.T) Cluster) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, c Cluster)
	}{
		{"PublishOrderPerRoom", publishOrder},
		{"DeliveryAfterSubscribe", deliveryAfterSubscribe},
		{"Exclusion", exclusion},
		{"Membership", membership},
		{"Announcements", announcements},
		{"Members", memberList},
		{"RoomList", roomList},
		{"TwoNodes", twoNodes},
		{"HistoryOffsets", historyOffsets},
		{"SyncBarrier", syncBarrier},
		{"HistoryReads", historyReads},
		{"EpochBeforeFirstMessage", epochBeforeFirstMessage},
		{"EpochAfterDelete", epochAfterDelete},
		{"SinceWithoutEpoch", sinceWithoutEpoch},
		{"SinceAboveNewest", sinceAboveNewest},
		{"HistoryRoomBytes", historyRoomBytes},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newCluster(t)) })
	}
}

// Event is what a Receiver got: the body (header members removed), the
// excluded user, the publishing connection and, for a stored event, its
// place in the history. A Sync marker (Body "sync") records where a Sync's
// fn ran in the delivery order.
type Event struct {
	Room, Body, Exclude string
	Conn                uint64
	Pos                 broker.Position
}

// Receiver records the events a broker delivers. It reads the header
// members back from serialized payloads, so memory and wire deliveries
// compare equal.
type Receiver struct {
	// Announcing makes Announce return an event: PresenceBody's, leaving
	// out the member's connection. By default it returns nil (the
	// contract's other checks count the events of a room). Set it before
	// the broker starts.
	Announcing bool

	mu     sync.Mutex
	events []Event
	signal chan struct{}
}

// NewReceiver returns an empty Receiver.
func NewReceiver() *Receiver { return &Receiver{signal: make(chan struct{}, 1)} }

func (r *Receiver) add(ev Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// Receive implements broker.Receiver.
func (r *Receiver) Receive(room, payload string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return err
	}
	var ex string
	if raw, ok := m[broker.HeaderExclude]; ok {
		if err := json.Unmarshal(raw, &ex); err != nil {
			return err
		}
	}
	var conn uint64
	if raw, ok := m[broker.HeaderConn]; ok {
		if err := json.Unmarshal(raw, &conn); err != nil {
			return err
		}
	}
	var pos broker.Position
	if raw, ok := m[broker.HeaderOffset]; ok {
		if err := json.Unmarshal(raw, &pos.Offset); err != nil {
			return err
		}
		if err := json.Unmarshal(m[broker.HeaderEpoch], &pos.Epoch); err != nil {
			return err
		}
	}
	for _, k := range []string{broker.HeaderExclude, broker.HeaderOrigin, broker.HeaderConn, broker.HeaderOffset,
		broker.HeaderEpoch} {
		delete(m, k)
	}
	body, _ := json.Marshal(m) // sorted keys: compare bodies as canonical JSON
	r.add(Event{Room: room, Body: string(body), Exclude: ex, Conn: conn, Pos: pos})
	return nil
}

// Deliver implements broker.Receiver.
func (r *Receiver) Deliver(ev *broker.Event) {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(ev.Body, &m)
	body, _ := json.Marshal(m)
	r.add(Event{Room: ev.Room, Body: string(body), Exclude: ev.Exclude, Conn: ev.Conn, Pos: ev.Delivered})
}

// Resync implements broker.Receiver.
func (r *Receiver) Resync(room, reason string) {
	r.add(Event{Room: room, Body: "resync " + reason})
}

// PresenceBody implements broker.Receiver.
func (r *Receiver) PresenceBody(joined bool, m broker.Member, count int) []byte {
	b, _ := json.Marshal(map[string]any{"joined": joined, "user": m.User, "count": count})
	return b
}

// Announce implements broker.Receiver.
func (r *Receiver) Announce(joined bool, m broker.Member, count int) *broker.Event {
	if !r.Announcing {
		return nil
	}
	ev := &broker.Event{Room: m.Room, Body: r.PresenceBody(joined, m, count), Conn: m.Conn}
	if m.Conn != 0 {
		ev.Exclude = m.User
	}
	return ev
}

// AnnounceTemplate implements broker.AnnounceTemplater: Announce's event
// with PresenceBody's body cut where the count goes (first: the keys are
// sorted), at every room size; none unless Announcing.
func (r *Receiver) AnnounceTemplate(joined bool, m broker.Member) (*broker.Event, []byte, []byte, int, bool) {
	if !r.Announcing {
		return nil, nil, nil, 0, false
	}
	ev := r.Announce(joined, m, 0)
	const head = `{"count":`
	body := string(ev.Body)
	if !strings.HasPrefix(body, head+"0,") {
		panic("brokertest: PresenceBody does not begin with the count: " + body)
	}
	ev.Body = nil
	return ev, []byte(head), []byte(body[len(head)+1:]), math.MaxInt32, true
}

// Len returns how many events of room the receiver has got so far.
func (r *Receiver) Len(room string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if ev.Room == room {
			n++
		}
	}
	return n
}

// Wait returns the events of room once there are n of them, failing the test
// after a while.
func (r *Receiver) Wait(t testing.TB, room string, n int) []Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		var got []Event
		for _, ev := range r.events {
			if ev.Room == room {
				got = append(got, ev)
			}
		}
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.signal:
		case <-deadline:
			t.Fatalf("room %s: %d events, want %d", room, len(got), n)
		}
	}
}

func body(i int) []byte { return []byte(`{"n":` + strconv.Itoa(i) + `}`) }

func subscribe(t *testing.T, b broker.Broker, room string) {
	t.Helper()
	done := make(chan error, 1)
	b.Subscribe(room, func(err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("subscribe %s: %v", room, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("subscribe %s: no confirmation", room)
	}
}

// publish publishes ev and fails the test if the broker reports an error
// (it does not wait for a success).
func publish(t *testing.T, b broker.Broker, ev *broker.Event) {
	t.Helper()
	var failed error
	var mu sync.Mutex
	b.Publish(ev, func(_ uint64, err error) { mu.Lock(); failed = err; mu.Unlock() })
	mu.Lock()
	defer mu.Unlock()
	if failed != nil {
		t.Fatalf("publish: %v", failed)
	}
}

// store publishes a stored event and waits for its offset.
func store(t *testing.T, b broker.Broker, room string, body []byte) uint64 {
	t.Helper()
	type res struct {
		off uint64
		err error
	}
	ch := make(chan res, 1)
	b.Publish(&broker.Event{Room: room, Body: body, Store: true}, func(off uint64, err error) { ch <- res{off, err} })
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("store: %v", r.err)
		}
		return r.off
	case <-time.After(10 * time.Second):
		t.Fatal("store: no answer")
	}
	return 0
}

// Events of one room arrive in the order published, interleaved rooms
// independent of each other.
func publishOrder(t *testing.T, c Cluster) {
	r := NewReceiver()
	b := c.Node(t, r)
	subscribe(t, b, "a")
	subscribe(t, b, "b")
	const n = 500
	for i := 0; i < n; i++ {
		publish(t, b, &broker.Event{Room: "a", Body: body(i)})
		publish(t, b, &broker.Event{Room: "b", Body: body(n - i)})
	}
	for _, room := range []string{"a", "b"} {
		got := r.Wait(t, room, n)
		for i, ev := range got[:n] {
			want := i
			if room == "b" {
				want = n - i
			}
			if ev.Body != string(body(want)) {
				t.Fatalf("room %s event %d: %s, want %s", room, i, ev.Body, body(want))
			}
		}
	}
}

// Once Subscribe confirmed, the next event published reaches the node.
func deliveryAfterSubscribe(t *testing.T, c Cluster) {
	r := NewReceiver()
	b := c.Node(t, r)
	for i := 0; i < 20; i++ {
		room := "fresh" + strconv.Itoa(i)
		subscribe(t, b, room)
		publish(t, b, &broker.Event{Room: room, Body: body(i)})
		if got := r.Wait(t, room, 1); got[0].Body != string(body(i)) {
			t.Fatalf("got %v", got)
		}
	}
}

// The excluded user and the publishing connection travel with the event; an
// event without them has none.
func exclusion(t *testing.T, c Cluster) {
	r := NewReceiver()
	b := c.Node(t, r)
	subscribe(t, b, "x")
	publish(t, b, &broker.Event{Room: "x", Body: body(1), Exclude: "u1", Conn: 1 << 40})
	publish(t, b, &broker.Event{Room: "x", Body: body(2)})
	got := r.Wait(t, "x", 2)
	if got[0].Exclude != "u1" || got[0].Conn != 1<<40 || got[1].Exclude != "" || got[1].Conn != 0 {
		t.Fatalf("got %+v", got)
	}
}

func join(t *testing.T, b broker.Broker, m broker.Member, name string) broker.Membership {
	t.Helper()
	return call(t, func(done func(broker.Membership, error)) { b.Join(m, name, done) })
}

func leave(t *testing.T, b broker.Broker, m broker.Member) broker.Membership {
	t.Helper()
	return call(t, func(done func(broker.Membership, error)) { b.Leave(m, done) })
}

func call(t *testing.T, fn func(func(broker.Membership, error))) broker.Membership {
	t.Helper()
	type res struct {
		st  broker.Membership
		err error
	}
	ch := make(chan res, 1)
	fn(func(st broker.Membership, err error) { ch <- res{st, err} })
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.st
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	return broker.Membership{}
}

func rooms(t *testing.T, b broker.Broker) []broker.Room {
	t.Helper()
	ch := make(chan []broker.Room, 1)
	errc := make(chan error, 1)
	b.Rooms(func(list []broker.Room, err error) {
		if err != nil {
			errc <- err
			return
		}
		ch <- list
	})
	select {
	case list := <-ch:
		return list
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("no room list")
	}
	return nil
}

// Joins and leaves, one per connection, report the member count and whether
// they changed the room's members: a user is a member from its first
// connection to its last.
func membership(t *testing.T, c Cluster) {
	b := c.Node(t, NewReceiver())
	m := func(u string) broker.Member { return broker.Member{Room: "m", User: u, Name: "name " + u} }
	const unknown = -2 // a leave that keeps the user may report -1 or the count
	steps := []struct {
		join    bool
		user    string
		count   int
		changed bool
		comment string
	}{
		{true, "u1", 1, true, "first member"},
		{true, "u2", 2, true, "second"},
		{true, "u2", 2, false, "u2's second connection: no new member"},
		{false, "u3", 2, false, "not a member"},
		{false, "u1", 1, true, "leave"},
		{false, "u2", unknown, false, "u2 keeps a connection"},
		{false, "u2", 0, true, "u2's last connection leaves"},
		{false, "u2", 0, false, "room gone"},
	}
	for _, s := range steps {
		var got broker.Membership
		if s.join {
			got = join(t, b, m(s.user), "M")
		} else {
			got = leave(t, b, m(s.user))
		}
		countOK := got.Count == s.count || (s.count == unknown && (got.Count == -1 || got.Count == 1))
		if !countOK || got.Changed != s.changed {
			t.Fatalf("%s: %+v, want count %d changed %v", s.comment, got, s.count, s.changed)
		}
	}
	if list, n := members(t, b, "m", 10); len(list) != 0 || n != 0 {
		t.Fatalf("members of an emptied room: %v, %d", list, n)
	}
}

// A broker that announces changes (in-process) announces every join or
// leave that changed the room's members, and says so (Announced), with the
// count after it: Receiver.Announce's event, delivered before done. The
// connection that asked (Member.Conn) and, for reference nodes, its user are
// left out; a disconnect (Conn 0) leaves nobody out. A further connection's
// join or leave is not announced. A broker that does not announce says so
// and delivers nothing of the kind.
func announcements(t *testing.T, c Cluster) {
	r := NewReceiver()
	r.Announcing = true
	b := c.Node(t, r)
	subscribe(t, b, "a")
	m := func(u string, conn uint64) broker.Member {
		return broker.Member{Room: "a", User: u, Name: "name " + u, Conn: conn}
	}
	sts := []broker.Membership{
		join(t, b, m("u1", 7), "A"),
		join(t, b, m("u1", 8), "A"), // a further connection
		join(t, b, m("u2", 9), "A"),
		leave(t, b, m("u1", 8)), // u1 keeps a connection
		leave(t, b, m("u1", 0)), // its last, closed
	}
	announced := sts[0].Announced
	for i, st := range sts {
		if st.Announced != (announced && st.Changed) {
			t.Fatalf("step %d: %+v; the first join's Announced was %v", i, st, announced)
		}
	}
	publish(t, b, &broker.Event{Room: "a", Body: body(99)})
	want := []Event{{Room: "a", Body: `{"n":99}`}}
	if announced {
		want = append([]Event{
			{Room: "a", Body: `{"count":1,"joined":true,"user":"u1"}`, Exclude: "u1", Conn: 7},
			{Room: "a", Body: `{"count":2,"joined":true,"user":"u2"}`, Exclude: "u2", Conn: 9},
			{Room: "a", Body: `{"count":1,"joined":false,"user":"u1"}`},
		}, want...)
	}
	if got := r.Wait(t, "a", len(want)); !slices.Equal(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func members(t *testing.T, b broker.Broker, room string, limit int) ([]broker.Member, int) {
	t.Helper()
	type res struct {
		list []broker.Member
		n    int
		err  error
	}
	ch := make(chan res, 1)
	b.Members(room, limit, func(list []broker.Member, n int, err error) { ch <- res{list, n, err} })
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.list, r.n
	case <-time.After(10 * time.Second):
		t.Fatal("no member list")
	}
	return nil, 0
}

// Members lists users (not connections) with their names, up to the limit,
// and the full count.
func memberList(t *testing.T, c Cluster) {
	b := c.Node(t, NewReceiver())
	for i := 0; i < 30; i++ {
		join(t, b, broker.Member{Room: "p", User: fmt.Sprintf("u%02d", i), Name: fmt.Sprintf("User %d", i)}, "P")
	}
	join(t, b, broker.Member{Room: "p", User: "u00", Name: "User 0"}, "P") // a second connection
	list, n := members(t, b, "p", 100)
	if n != 30 || len(list) != 30 {
		t.Fatalf("%d members listed, count %d; want 30", len(list), n)
	}
	seen := map[string]bool{}
	for _, m := range list {
		var i int
		if _, err := fmt.Sscanf(m.User, "u%d", &i); err != nil || m.Name != fmt.Sprintf("User %d", i) || m.Room != "p" || seen[m.User] {
			t.Fatalf("member %+v", m)
		}
		seen[m.User] = true
	}
	if list, n := members(t, b, "p", 7); len(list) != 7 || n != 30 {
		t.Fatalf("limited to 7: %d listed, count %d", len(list), n)
	}
}

// The room list has every room with members, oldest first, with its name
// (the first joiner's), count and creation time; emptied rooms are gone.
func roomList(t *testing.T, c Cluster) {
	b := c.Node(t, NewReceiver())
	var ids []string
	for i := 0; i < 30; i++ {
		id := fmt.Sprintf("room-%02d", 29-i) // ids in the opposite order of creation
		ids = append(ids, id)
		join(t, b, broker.Member{Room: id, User: "u1", Name: "a"}, "Name "+id)
		if i%3 == 0 {
			join(t, b, broker.Member{Room: id, User: "u2", Name: "b"}, "ignored: the room exists")
		}
		if i%10 == 0 {
			time.Sleep(2 * time.Millisecond) // creation times of milliseconds apart as well as equal ones
		}
	}
	leave(t, b, broker.Member{Room: ids[5], User: "u1"})
	list := rooms(t, b)
	var got []string
	for _, r := range list {
		got = append(got, r.ID)
		i := slices.Index(ids, r.ID)
		want := 1
		if i%3 == 0 {
			want = 2
		}
		if r.Name != "Name "+r.ID || r.Members != want {
			t.Fatalf("room %+v, want %d members", r, want)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", r.CreatedAt); err != nil {
			t.Fatalf("room %+v: createdAt: %v", r, err)
		}
	}
	want := slices.Delete(slices.Clone(ids), 5, 6)
	sorted := slices.IsSortedFunc(list, func(a, b broker.Room) int {
		return cmp.Or(cmp.Compare(a.CreatedAt, b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	if !sorted || len(got) != len(want) {
		t.Fatalf("rooms %v\nwant the set %v, oldest first", got, want)
	}
	for _, id := range want {
		if !slices.Contains(got, id) {
			t.Fatalf("room %s missing from %v", id, got)
		}
	}
}

// Two nodes: each receives the events of the rooms it subscribed to, in one
// order for both, and sees the other's members in the counts and the list.
func twoNodes(t *testing.T, c Cluster) {
	ra, rb := NewReceiver(), NewReceiver()
	a := c.Node(t, ra)
	b := c.Node(t, rb)
	if b == nil {
		return // a single-process broker: no second node to check
	}
	subscribe(t, a, "shared")
	subscribe(t, b, "shared")
	subscribe(t, b, "only-b")
	const n = 200
	var wg sync.WaitGroup
	for _, node := range []broker.Broker{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				node.Publish(&broker.Event{Room: "shared", Body: body(i)}, nil)
			}
		}()
	}
	wg.Wait()
	publish(t, a, &broker.Event{Room: "only-b", Body: body(7)})
	ga, gb := ra.Wait(t, "shared", 2*n), rb.Wait(t, "shared", 2*n)
	if !slices.Equal(ga, gb) {
		t.Fatal("the two nodes saw the room's events in different orders")
	}
	if got := rb.Wait(t, "only-b", 1); got[0].Body != string(body(7)) {
		t.Fatalf("only-b: %v", got)
	}
	if st := join(t, a, broker.Member{Room: "shared", User: "ua", Name: "A"}, "Shared"); st.Count != 1 {
		t.Fatalf("join on a: %+v", st)
	}
	if st := join(t, b, broker.Member{Room: "shared", User: "ub", Name: "B"}, "Shared"); st.Count != 2 || !st.Changed {
		t.Fatalf("join on b: %+v", st)
	}
	roomsB := rooms(t, b)
	if len(roomsB) != 1 || roomsB[0].ID != "shared" || roomsB[0].Members != 2 {
		t.Fatalf("rooms seen from b: %+v", roomsB)
	}
	// One user on both nodes is one member until its last node leaves.
	if st := join(t, b, broker.Member{Room: "shared", User: "ua", Name: "A"}, "Shared"); st.Count != 2 || st.Changed {
		t.Fatalf("ua's join on b too: %+v", st)
	}
	if st := leave(t, a, broker.Member{Room: "shared", User: "ua", Name: "A"}); st.Changed {
		t.Fatalf("ua left a but is still on b: %+v", st)
	}
	if list, n := members(t, a, "shared", 10); n != 2 || len(list) != 2 {
		t.Fatalf("members seen from a: %+v (%d)", list, n)
	}
	if st := leave(t, b, broker.Member{Room: "shared", User: "ua", Name: "A"}); st.Count != 1 || !st.Changed {
		t.Fatalf("ua's last node left: %+v", st)
	}
}

// Stored events get offsets 1, 2, 3, ... in one epoch, in publish order,
// and carry them to the receiver; plain events carry none.
func historyOffsets(t *testing.T, c Cluster) {
	r := NewReceiver()
	b := c.Node(t, r)
	subscribe(t, b, "h")
	for i := 1; i <= 5; i++ {
		if off := store(t, b, "h", body(i)); off != uint64(i) {
			t.Fatalf("store %d got offset %d", i, off)
		}
		publish(t, b, &broker.Event{Room: "h", Body: body(100 + i)})
	}
	got := r.Wait(t, "h", 10)
	epoch := got[0].Pos.Epoch
	for i, ev := range got[:10] {
		if i%2 == 0 {
			if ev.Pos.Offset != uint64(i/2+1) || ev.Pos.Epoch != epoch || epoch == "" || ev.Body != string(body(i/2+1)) {
				t.Fatalf("stored event %d: %+v", i, ev)
			}
		} else if ev.Pos != (broker.Position{}) {
			t.Fatalf("plain event %d has a position: %+v", i, ev)
		}
	}
}

func syncCall(t *testing.T, b broker.Broker, r *Receiver, room string, q broker.HistoryQuery) broker.HistoryResult {
	t.Helper()
	type res struct {
		h   broker.HistoryResult
		err error
	}
	ch := make(chan res, 1)
	b.Sync(room, q, func(h broker.HistoryResult, err error) {
		if r != nil {
			r.add(Event{Room: room, Body: "sync", Pos: h.Position})
		}
		ch <- res{h, err}
	})
	select {
	case x := <-ch:
		if x.err != nil {
			t.Fatal(x.err)
		}
		return x.h
	case <-time.After(10 * time.Second):
		t.Fatal("sync: no answer")
	}
	return broker.HistoryResult{}
}

// Sync runs between two deliveries: everything stored up to its position
// was delivered before it, everything after, after it; its messages end at
// its position. Concurrent stores do not break that.
func syncBarrier(t *testing.T, c Cluster) {
	r := NewReceiver()
	b := c.Node(t, r)
	subscribe(t, b, "s")
	// An empty room: offset 0, and already the epoch of its first messages
	// (epochBeforeFirstMessage).
	if h := syncCall(t, b, nil, "s", broker.HistoryQuery{Limit: 5}); h.Offset != 0 || len(h.Messages) != 0 || h.Epoch == "" {
		t.Fatalf("empty room: %+v", h)
	}
	const n = 200
	stop := make(chan struct{})
	go func() {
		for i := 1; i <= n; i++ {
			b.Publish(&broker.Event{Room: "s", Body: body(i), Store: true}, nil)
			if i == n/2 {
				close(stop)
			}
		}
	}()
	<-stop
	h := syncCall(t, b, r, "s", broker.HistoryQuery{Limit: 3})
	got := r.Wait(t, "s", n+1)
	var before, after []uint64
	seen := false
	for _, ev := range got {
		switch {
		case ev.Body == "sync":
			seen = true
			if ev.Pos != h.Position {
				t.Fatalf("sync marker %+v, result %+v", ev.Pos, h.Position)
			}
		case seen:
			after = append(after, ev.Pos.Offset)
		default:
			before = append(before, ev.Pos.Offset)
		}
	}
	if len(before) > 0 && before[len(before)-1] != h.Offset || h.Offset == 0 && len(before) > 0 {
		t.Fatalf("delivered before the sync up to %v, sync at %d", before[len(before)-1], h.Offset)
	}
	if len(after) > 0 && after[0] != h.Offset+1 {
		t.Fatalf("first delivered after the sync %d, sync at %d", after[0], h.Offset)
	}
	// The messages end at the barrier, newest last, without a hole. While
	// the stores go on, the cap (HistorySize) may already have dropped
	// some of the newest 3 by the time they are read, so here there may be
	// fewer; once the stores stop, there must be exactly 3.
	checkNewest := func(h broker.HistoryResult, most int) {
		t.Helper()
		if len(h.Messages) > most {
			t.Fatalf("%d messages at offset %d, want at most %d", len(h.Messages), h.Offset, most)
		}
		for i, p := range h.Messages {
			if _, off := decodeStored(t, p); off != h.Offset-uint64(len(h.Messages)-1-i) {
				t.Fatalf("message %d of %d has offset %d, the barrier is at %d", i, len(h.Messages), off, h.Offset)
			}
		}
	}
	checkNewest(h, 3)
	if want := min(3, int(h.Offset)); int(h.Offset)-want+1 > n-HistorySize && len(h.Messages) != want {
		t.Fatalf("%d messages at offset %d, want the newest %d (the cap keeps them)", len(h.Messages), h.Offset, want)
	}
	// All n were delivered (got): the stores are over.
	h = syncCall(t, b, nil, "s", broker.HistoryQuery{Limit: 3})
	if h.Offset != n || len(h.Messages) != 3 {
		t.Fatalf("after the stores: %d messages at offset %d, want 3 at %d", len(h.Messages), h.Offset, n)
	}
	checkNewest(h, 3)
}

// decodeStored returns a stored payload's n (from body) and offset.
func decodeStored(t *testing.T, p string) (int, uint64) {
	t.Helper()
	var m struct {
		N      int    `json:"n"`
		Offset uint64 `json:"offset"`
	}
	if err := json.Unmarshal([]byte(p), &m); err != nil {
		t.Fatalf("stored payload %q: %v", p, err)
	}
	return m.N, m.Offset
}

// HistoryNow reads room's history and waits for the answer (10 s at most).
func HistoryNow(t *testing.T, b broker.Broker, room string, q broker.HistoryQuery) broker.HistoryResult {
	t.Helper()
	ch := make(chan broker.HistoryResult, 1)
	b.History(room, q, func(h broker.HistoryResult, err error) {
		if err != nil {
			t.Error(err)
		}
		ch <- h
	})
	select {
	case h := <-ch:
		return h
	case <-time.After(10 * time.Second):
		t.Fatal("history: no answer")
	}
	return broker.HistoryResult{}
}

// The history keeps the newest HistorySize messages: paging back, recovery
// after an offset it still covers, and not after one it does not, nor from
// another epoch.
func historyReads(t *testing.T, c Cluster) {
	r := NewReceiver()
	b := c.Node(t, r)
	subscribe(t, b, "p")
	const n = 25
	for i := 1; i <= n; i++ {
		store(t, b, "p", body(i))
	}
	r.Wait(t, "p", n)
	offsets := func(h broker.HistoryResult) []uint64 {
		var out []uint64
		for _, p := range h.Messages {
			k, off := decodeStored(t, p)
			if uint64(k) != off {
				t.Fatalf("payload %q", p)
			}
			out = append(out, off)
		}
		return out
	}
	want := func(from, to uint64) []uint64 {
		var out []uint64
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	}
	h := HistoryNow(t, b, "p", broker.HistoryQuery{Limit: 4})
	if got := offsets(h); !slices.Equal(got, want(22, 25)) || h.Offset != n {
		t.Fatalf("newest 4: %v at %d", got, h.Offset)
	}
	if got := offsets(HistoryNow(t, b, "p", broker.HistoryQuery{Before: 22, Limit: 4})); !slices.Equal(got, want(18, 21)) {
		t.Fatalf("before 22: %v", got)
	}
	if got := offsets(HistoryNow(t, b, "p", broker.HistoryQuery{Before: 18, Limit: 4})); !slices.Equal(got, want(16, 17)) {
		t.Fatalf("before 18 (the cap keeps %d): %v", HistorySize, got)
	}
	epoch := h.Epoch
	rec := syncCall(t, b, nil, "p", broker.HistoryQuery{Since: &broker.Position{Epoch: epoch, Offset: 20}, Limit: 3})
	if got := offsets(rec); !rec.Recovered || !slices.Equal(got, want(21, 25)) {
		t.Fatalf("since 20: recovered %v, %v", rec.Recovered, got)
	}
	rec = syncCall(t, b, nil, "p", broker.HistoryQuery{Since: &broker.Position{Epoch: epoch, Offset: 25}, Limit: 3})
	if !rec.Recovered || len(rec.Messages) != 0 {
		t.Fatalf("since the newest: %+v", rec)
	}
	for _, since := range []broker.Position{{Epoch: epoch, Offset: 5}, {Epoch: "another", Offset: 20}} {
		rec = syncCall(t, b, nil, "p", broker.HistoryQuery{Since: &since, Limit: 3})
		if got := offsets(rec); rec.Recovered || !slices.Equal(got, want(23, 25)) {
			t.Fatalf("since %+v: recovered %v, %v (want the newest 3, not recovered)", since, rec.Recovered, got)
		}
	}
}

// A Sync names the room's epoch even before its first message (a join of
// an empty room tells the client where it stands): every Sync on every node
// names the same one, the first stored messages carry it from offset 1, and
// Since that epoch with any offset up to the newest recovers exactly what
// follows it.
func epochBeforeFirstMessage(t *testing.T, c Cluster) {
	ra := NewReceiver()
	a := c.Node(t, ra)
	subscribe(t, a, "e")
	h := syncCall(t, a, nil, "e", broker.HistoryQuery{})
	epoch := h.Epoch
	if epoch == "" || h.Offset != 0 || len(h.Messages) != 0 || h.Recovered {
		t.Fatalf("Sync of an empty room: %+v, want its epoch and offset 0", h)
	}
	nodes, recvs := []broker.Broker{a}, []*Receiver{ra}
	rb := NewReceiver()
	if b := c.Node(t, rb); b != nil {
		subscribe(t, b, "e")
		nodes, recvs = append(nodes, b), append(recvs, rb)
	}
	for i, n := range nodes {
		for _, q := range []broker.HistoryQuery{{}, {Limit: 5}, {Since: &broker.Position{Epoch: epoch}, Limit: 5}} {
			h := syncCall(t, n, nil, "e", q)
			if h.Epoch != epoch || h.Offset != 0 || len(h.Messages) != 0 || h.Recovered != (q.Since != nil) {
				t.Fatalf("node %d, Sync %+v of the empty room: %+v, want epoch %s, offset 0, recovered %v", i, q, h,
					epoch, q.Since != nil)
			}
		}
	}
	const n = 3
	for i := 1; i <= n; i++ {
		store(t, nodes[i%len(nodes)], "e", body(i))
	}
	for i, r := range recvs {
		got := r.Wait(t, "e", n)
		for k, ev := range got {
			if want := (broker.Position{Epoch: epoch, Offset: uint64(k + 1)}); ev.Pos != want || k >= n {
				t.Fatalf("node %d, event %d: %+v, want a stored event at %+v (and nothing else)", i, k, ev, want)
			}
		}
	}
	for i, node := range nodes {
		for since := uint64(0); since <= n; since++ {
			h := syncCall(t, node, nil, "e", broker.HistoryQuery{Since: &broker.Position{Epoch: epoch, Offset: since}})
			var offs []uint64
			for _, p := range h.Messages {
				_, off := decodeStored(t, p)
				offs = append(offs, off)
			}
			var want []uint64
			for k := since + 1; k <= n; k++ {
				want = append(want, k)
			}
			if !h.Recovered || h.Epoch != epoch || h.Offset != n || !slices.Equal(offs, want) {
				t.Fatalf("node %d, since %s/%d: recovered %v, epoch %s, offset %d, messages %v; want %v", i, epoch, since,
					h.Recovered, h.Epoch, h.Offset, offs, want)
			}
		}
	}
	if h := HistoryNow(t, a, "e", broker.HistoryQuery{Limit: 10}); h.Epoch != epoch || len(h.Messages) != n {
		t.Fatalf("history: %+v", h)
	}
}

// After DeleteHistory the next stored message starts another epoch at
// offset 1, announced by a resync to the members told the old one, and
// Since the old epoch no longer recovers.
func epochAfterDelete(t *testing.T, c Cluster) {
	r := NewReceiver()
	b := c.Node(t, r)
	subscribe(t, b, "d")
	join(t, b, broker.Member{Room: "d", User: "u1", Name: "U"}, "D") // a member told the epoch
	old := syncCall(t, b, nil, "d", broker.HistoryQuery{}).Epoch
	store(t, b, "d", body(1))
	r.Wait(t, "d", 1)
	done := make(chan error, 1)
	b.DeleteHistory("d", func(err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("DeleteHistory: no answer")
	}
	if off := store(t, b, "d", body(2)); off != 1 {
		t.Fatalf("first message after the delete got offset %d, want 1", off)
	}
	got := r.Wait(t, "d", 3)
	if got[1].Body != "resync epoch" || got[2].Pos.Offset != 1 || got[2].Pos.Epoch == old || got[2].Pos.Epoch == "" {
		t.Fatalf("after the delete: %+v, want a resync, then offset 1 of a new epoch (the old one was %s)", got[1:], old)
	}
	h := syncCall(t, b, nil, "d", broker.HistoryQuery{Since: &broker.Position{Epoch: old, Offset: 1}, Limit: 5})
	if h.Recovered || h.Epoch != got[2].Pos.Epoch || h.Offset != 1 || len(h.Messages) != 1 {
		t.Fatalf("since the deleted epoch: %+v", h)
	}
}

// A Since without an epoch names no history, so the history cannot vouch
// for it: recovered is false (with the newest Limit messages), whether the
// room is new or has messages, whatever the offset; Sync and History
// agree.
func sinceWithoutEpoch(t *testing.T, c Cluster) {
	r := NewReceiver()
	b := c.Node(t, r)
	subscribe(t, b, "w")
	for _, since := range []broker.Position{{}, {Offset: 2}} {
		h := syncCall(t, b, nil, "w", broker.HistoryQuery{Since: &since, Limit: 5})
		if h.Recovered || len(h.Messages) != 0 || h.Epoch == "" {
			t.Fatalf("new room, since %+v: %+v, want recovered false and the room's epoch", since, h)
		}
	}
	for i := 1; i <= 3; i++ {
		store(t, b, "w", body(i))
	}
	r.Wait(t, "w", 3)
	for _, since := range []broker.Position{{}, {Offset: 1}, {Offset: 3}, {Offset: 9}} {
		h := syncCall(t, b, nil, "w", broker.HistoryQuery{Since: &since, Limit: 2})
		if h.Recovered || h.Offset != 3 || len(h.Messages) != 2 {
			t.Fatalf("since %+v: recovered %v, offset %d, %d messages; want not recovered, the newest 2 at 3",
				since, h.Recovered, h.Offset, len(h.Messages))
		}
	}
}

// A Since above the newest offset of its epoch was never stored there: the
// history cannot vouch for it (recovered false, the newest Limit); Since
// the newest itself recovers nothing, truthfully.
func sinceAboveNewest(t *testing.T, c Cluster) {
	r := NewReceiver()
	b := c.Node(t, r)
	subscribe(t, b, "v")
	epoch := syncCall(t, b, nil, "v", broker.HistoryQuery{}).Epoch
	h := syncCall(t, b, nil, "v", broker.HistoryQuery{Since: &broker.Position{Epoch: epoch, Offset: 1}, Limit: 5})
	if h.Recovered || h.Offset != 0 || len(h.Messages) != 0 {
		t.Fatalf("empty room, since %s/1: %+v, want recovered false", epoch, h)
	}
	for i := 1; i <= 3; i++ {
		store(t, b, "v", body(i))
	}
	r.Wait(t, "v", 3)
	for _, off := range []uint64{4, 100} {
		h = syncCall(t, b, nil, "v", broker.HistoryQuery{Since: &broker.Position{Epoch: epoch, Offset: off}, Limit: 2})
		if h.Recovered || h.Offset != 3 || len(h.Messages) != 2 {
			t.Fatalf("since %s/%d above the newest 3: recovered %v, offset %d, %d messages", epoch, off, h.Recovered,
				h.Offset, len(h.Messages))
		}
	}
	h = syncCall(t, b, nil, "v", broker.HistoryQuery{Since: &broker.Position{Epoch: epoch, Offset: 3}, Limit: 2})
	if !h.Recovered || h.Offset != 3 || len(h.Messages) != 0 {
		t.Fatalf("since the newest: %+v", h)
	}
}

// RoomBytes is the byte bound per room's history that the contract expects
// the brokers of a Cluster to be configured with, and roomBytesEntry what
// each stored message of historyRoomBytes counts against it: brokers count
// a message's stored payload plus a fixed cost (the Redis broker: its time
// and a space, 14 bytes; the memory broker: the same, for one bound).
const (
	RoomBytes       = 1000
	roomBytesEntry  = 14
	roomBytesFiller = 180
)

// A room's history keeps at most RoomBytes of messages, the oldest going
// first, exactly; a message larger than the bound is delivered with its
// offset but not kept, so a recovery across it is not recovered.
func historyRoomBytes(t *testing.T, c Cluster) {
	r := NewReceiver()
	b := c.Node(t, r)
	subscribe(t, b, "y")
	big := func(i int) []byte {
		return []byte(`{"n":` + strconv.Itoa(i) + `,"pad":"` + strings.Repeat("x", roomBytesFiller) + `"}`)
	}
	const n = 9 // one-digit offsets: equal sizes
	for i := 1; i <= n; i++ {
		store(t, b, "y", big(i))
	}
	r.Wait(t, "y", n)
	h := HistoryNow(t, b, "y", broker.HistoryQuery{Limit: 100})
	if len(h.Messages) == 0 {
		t.Fatal("nothing kept")
	}
	size := len(h.Messages[0]) + roomBytesEntry
	keep := RoomBytes / size
	if len(h.Messages) != keep {
		t.Fatalf("kept %d messages of %d bytes each (with the entry cost), want %d within %d bytes", len(h.Messages),
			size, keep, RoomBytes)
	}
	for i, p := range h.Messages {
		if k, off := decodeStored(t, p); off != uint64(n-keep+1+i) || k != int(off) {
			t.Fatalf("message %d is offset %d, want the newest %d", i, off, keep)
		}
	}
	huge := []byte(`{"n":10,"pad":"` + strings.Repeat("y", RoomBytes) + `"}`)
	if off := store(t, b, "y", huge); off != n+1 {
		t.Fatalf("a message over the bound got offset %d", off)
	}
	if got := r.Wait(t, "y", n+1); got[n].Pos.Offset != n+1 {
		t.Fatalf("the message over the bound was not delivered: %+v", got[n])
	}
	h2 := syncCall(t, b, nil, "y", broker.HistoryQuery{Since: &broker.Position{Epoch: h.Epoch, Offset: n}, Limit: 100})
	if h2.Recovered || h2.Offset != n+1 || len(h2.Messages) != keep {
		t.Fatalf("since %d across the message not kept: recovered %v, offset %d, %d messages", n, h2.Recovered,
			h2.Offset, len(h2.Messages))
	}
}

// RunNoHistory checks a broker configured without history: stored events
// get no offset, carry none, and a Sync finds nothing to recover.
func RunNoHistory(t *testing.T, b broker.Broker, r *Receiver) {
	subscribe(t, b, "n")
	if off := store(t, b, "n", body(1)); off != 0 {
		t.Fatalf("offset %d without history", off)
	}
	if got := r.Wait(t, "n", 1); got[0].Pos != (broker.Position{}) {
		t.Fatalf("delivered with a position: %+v", got[0])
	}
	h := syncCall(t, b, nil, "n", broker.HistoryQuery{Since: &broker.Position{Epoch: "e", Offset: 1}, Limit: 5})
	if h.Recovered || len(h.Messages) != 0 || h.Offset != 0 {
		t.Fatalf("sync without history: %+v", h)
	}
	h = syncCall(t, b, nil, "n", broker.HistoryQuery{Since: &broker.Position{}, Limit: 5})
	if h.Recovered || len(h.Messages) != 0 || h.Offset != 0 {
		t.Fatalf("sync without history, since {\"\", 0}: %+v", h)
	}
}
