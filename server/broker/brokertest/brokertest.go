// Package brokertest is the contract of the broker seam as a test: one table
// of checks that every broker.Broker implementation runs in its own tests
// (server/broker/memory, server/broker/redis), so that the chat can rely on
// the same behaviour whichever broker cmd/chatd wires.
package brokertest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
)

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
		{"Members", memberList},
		{"RoomList", roomList},
		{"TwoNodes", twoNodes},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newCluster(t)) })
	}
}

// Event is what a Receiver got: the body (header members removed), the
// excluded user and the publishing connection.
type Event struct {
	Room, Body, Exclude string
	Conn                uint64
}

// Receiver records the events a broker delivers. It reads the header
// members back from serialized payloads, so memory and wire deliveries
// compare equal.
type Receiver struct {
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
	delete(m, broker.HeaderExclude)
	delete(m, broker.HeaderOrigin)
	delete(m, broker.HeaderConn)
	body, _ := json.Marshal(m) // sorted keys: compare bodies as canonical JSON
	r.add(Event{Room: room, Body: string(body), Exclude: ex, Conn: conn})
	return nil
}

// Deliver implements broker.Receiver.
func (r *Receiver) Deliver(ev *broker.Event) {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(ev.Body, &m)
	body, _ := json.Marshal(m)
	r.add(Event{Room: ev.Room, Body: string(body), Exclude: ev.Exclude, Conn: ev.Conn})
}

// PresenceBody implements broker.Receiver.
func (r *Receiver) PresenceBody(joined bool, m broker.Member, count int) []byte {
	b, _ := json.Marshal(map[string]any{"joined": joined, "user": m.User, "count": count})
	return b
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

func publish(t *testing.T, b broker.Broker, ev *broker.Event) {
	t.Helper()
	var failed error
	var mu sync.Mutex
	b.Publish(ev, func(err error) { mu.Lock(); failed = err; mu.Unlock() })
	mu.Lock()
	defer mu.Unlock()
	if failed != nil {
		t.Fatalf("publish: %v", failed)
	}
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
