package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
)

// listener is a v2 member that records every push it gets, from its own
// reader goroutine.
type listener struct {
	c      *v2client
	mu     sync.Mutex
	msgs   []pushRec
	resync int
	done   chan struct{}
}

type pushRec struct {
	epoch   string
	offset  int
	content string
}

func listen(t *testing.T, addr, name string, rooms ...string) *listener {
	t.Helper()
	l := &listener{c: connectV2(t, addr, name), done: make(chan struct{})}
	for _, r := range rooms {
		l.c.join(r)
	}
	go func() {
		defer close(l.done)
		for {
			_ = l.c.ws.SetReadDeadline(time.Now().Add(time.Minute))
			_, p, err := l.c.ws.ReadMessage()
			if err != nil {
				return
			}
			var m msg
			if json.Unmarshal(p, &m) != nil {
				continue
			}
			l.mu.Lock()
			switch m.str("type") {
			case "message":
				l.msgs = append(l.msgs, pushRec{m.str("epoch"), m.num("offset"), m.str("content")})
			case "resync":
				l.resync++
			}
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() { l.c.ws.Close(); <-l.done })
	return l
}

// has reports whether the listener got a message with this content.
func (l *listener) has(content string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if m.content == content {
			return true
		}
	}
	return false
}

// count returns how many messages the listener got.
func (l *listener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.msgs)
}

// check reports whether the offsets are contiguous within each epoch (from
// the first one seen in it) with no duplicate, and how many resyncs came.
func (l *listener) check() (contiguous bool, resyncs int, detail string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := map[string]int{}
	for _, m := range l.msgs {
		if prev, ok := last[m.epoch]; ok && m.offset != prev+1 {
			return false, l.resync, fmt.Sprintf("epoch %s: offset %d after %d", m.epoch, m.offset, prev)
		}
		last[m.epoch] = m.offset
	}
	return true, l.resync, fmt.Sprintf("%d messages, epochs %v", len(l.msgs), last)
}

// sender publishes to room through its own connection until stopped,
// counting what was acknowledged; refusals (Redis down) are counted apart.
type sender struct {
	acked, refused atomic.Int64
	stop           chan struct{}
	done           chan struct{}
}

func startSender(t *testing.T, addr, name, room string, every time.Duration) *sender {
	t.Helper()
	c := connectV2(t, addr, name)
	c.join(room)
	s := &sender{stop: make(chan struct{}), done: make(chan struct{})}
	var wmu sync.Mutex
	// join's read left a 5 s deadline, which would end this reader early.
	_ = c.ws.SetReadDeadline(time.Time{})
	go func() { // reader: acks and errors
		for {
			_, p, err := c.ws.ReadMessage()
			if err != nil {
				return
			}
			var m msg
			_ = json.Unmarshal(p, &m)
			switch {
			case m.str("type") == "ok" && m["offset"] != nil:
				s.acked.Add(1)
			case m.str("type") == "error":
				s.refused.Add(1)
			}
		}
	}()
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for i := 1; ; i++ {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			wmu.Lock()
			err := c.ws.WriteJSON(map[string]any{"type": "publish", "roomId": room, "content": fmt.Sprint(name, i), "id": i})
			wmu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { s.halt(); c.ws.Close() })
	return s
}

func (s *sender) halt() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// Ten senders on three nodes, 1000 messages: every member on every node sees
// offsets 1..1000 with no hole and no duplicate, in one order.
func TestClusterOffsetsContiguous(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs, 3, nil)
	var ls []*listener
	for i, n := range nodes {
		ls = append(ls, listen(t, n.srv.Addr(), fmt.Sprint("listener", i), "c"))
	}
	var wg sync.WaitGroup
	for k := 0; k < 10; k++ {
		c := connectV2(t, nodes[k%3].srv.Addr(), fmt.Sprint("sender", k))
		c.join("c")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if err := c.ws.WriteJSON(map[string]any{"type": "publish", "roomId": "c", "content": fmt.Sprint(k, "/", i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, l := range ls {
		waitFor(t, 20*time.Second, "1000 messages at every listener", func() bool { return l.count() >= 1000 })
	}
	ref := ls[0]
	for i, l := range ls {
		ok, resyncs, detail := l.check()
		l.mu.Lock()
		n := len(l.msgs)
		order := true
		for j := range l.msgs {
			if j < len(ref.msgs) && l.msgs[j].content != ref.msgs[j].content {
				order = false
			}
		}
		first, last := l.msgs[0].offset, l.msgs[n-1].offset
		l.mu.Unlock()
		if !ok || resyncs != 0 || n != 1000 || first != 1 || last != 1000 || !order {
			t.Fatalf("listener %d: contiguous %v (%s), %d resyncs, %d messages %d..%d, same order %v", i, ok, detail,
				resyncs, n, first, last, order)
		}
	}
}

// A Pub/Sub message lost on the way to a node is read back from the history
// and delivered in its place: the member sees every offset, in order.
func TestClusterDroppedDeliveryFilled(t *testing.T) {
	rs := redistest.Start(t)
	var dropped atomic.Int32
	A := startClusterNode(t, rs, "A", nil)
	B := startClusterNode(t, rs, "B", func(o *redisbroker.Options) {
		o.DropDelivery = func(room, payload string) bool {
			// The fifth stored message, once.
			return strings.Contains(payload, `,"offset":5,`) && dropped.CompareAndSwap(0, 1)
		}
	})
	l := listen(t, B.srv.Addr(), "listener", "d")
	p := connectV2(t, A.srv.Addr(), "pub")
	p.join("d")
	for i := 1; i <= 10; i++ {
		p.publish("d", fmt.Sprint(i))
	}
	waitFor(t, 10*time.Second, "10 messages", func() bool { return l.count() >= 10 })
	ok, resyncs, detail := l.check()
	st := B.broker.Stats()
	if dropped.Load() != 1 || !ok || resyncs != 0 || l.count() != 10 || st.GapsFilled != 1 || st.Filled != 1 {
		t.Fatalf("dropped %d; contiguous %v (%s), %d resyncs, %d messages; stats %+v", dropped.Load(), ok, detail,
			resyncs, l.count(), st)
	}
}

// Faults with a real redis-server while two senders publish to two nodes:
// every v2 member ends with contiguous offsets or was told to resync, never
// a silent hole.
func TestClusterHistoryFaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		persist bool
		fault   func(t *testing.T, rs *redistest.Server, nodes []*clusterNode)
	}{
		{"redis restarted with its data", true, func(t *testing.T, rs *redistest.Server, _ []*clusterNode) { rs.Kill(); rs.Restart() }},
		{"redis restarted empty", false, func(t *testing.T, rs *redistest.Server, _ []*clusterNode) { rs.Kill(); rs.Restart() }},
		{"subscriber connection killed", false, func(t *testing.T, rs *redistest.Server, _ []*clusterNode) {
			if err := rs.Client().Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rs *redistest.Server
			if tc.persist {
				rs = redistest.StartPersistent(t)
			} else {
				rs = redistest.Start(t)
			}
			if rs.Mini() {
				t.Skip("needs a real redis-server (restarts, CLIENT KILL)")
			}
			nodes := startCluster(t, rs, 2, nil)
			var ls []*listener
			for i, n := range nodes {
				ls = append(ls, listen(t, n.srv.Addr(), fmt.Sprint("listener", i), "f"))
			}
			s1 := startSender(t, nodes[0].srv.Addr(), "s1", "f", 5*time.Millisecond)
			s2 := startSender(t, nodes[1].srv.Addr(), "s2", "f", 5*time.Millisecond)
			waitFor(t, 10*time.Second, "traffic before the fault", func() bool { return ls[0].count() >= 50 && ls[1].count() >= 50 })
			tc.fault(t, rs, nodes)
			waitFor(t, 20*time.Second, "both nodes healthy", func() bool { return nodes[0].broker.Healthy() && nodes[1].broker.Healthy() })
			before := [2]int{ls[0].count(), ls[1].count()}
			waitFor(t, 20*time.Second, "traffic after the fault", func() bool {
				return ls[0].count() >= before[0]+50 && ls[1].count() >= before[1]+50
			})
			s1.halt()
			s2.halt()
			acked := s1.acked.Load() + s2.acked.Load()
			// A last message, published after every other: once a listener
			// has it, it has had (or was told it lost) all of them.
			last := connectV2(t, nodes[0].srv.Addr(), "last")
			last.join("f")
			// (Pushes of messages still on their way may come before its ok.)
			if _, err := publishOK(t, last, "f", "the end"); err != nil {
				t.Fatal(err)
			}
			for _, l := range ls {
				waitFor(t, 10*time.Second, "the last message", func() bool { return l.has("the end") })
			}
			for i, l := range ls {
				ok, resyncs, detail := l.check()
				st := nodes[i].broker.Stats()
				t.Logf("node %d: contiguous %v, %d resyncs (%s); gaps filled %d (%d messages), unfilled %d, epoch changes %d; %d acked, %d refused",
					i, ok, resyncs, detail, st.GapsFilled, st.Filled, st.GapsUnfilled, st.EpochChanges, acked,
					s1.refused.Load()+s2.refused.Load())
				if !ok && resyncs == 0 {
					t.Fatalf("node %d: a silent hole: %s", i, detail)
				}
				if !tc.persist && tc.name == "redis restarted empty" && resyncs == 0 {
					t.Fatalf("node %d: history lost, but no resync", i)
				}
			}
		})
	}
}

// Recovery works across nodes: the client comes back on another node than
// the publisher's.
func TestClusterRecovery(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs, 2, func(o *redisbroker.Options) { o.HistorySize = 100 })
	checkRecovery(t, nodes[0].srv.Addr(), nodes[1].srv.Addr(), 100)
}
