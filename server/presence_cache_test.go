package server_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/memory"
)

// countingBroker counts the member reads that reach the broker.
type countingBroker struct {
	*memory.Broker
	reads atomic.Int64
}

func (b *countingBroker) Members(room string, limit int, done func([]broker.Member, int, error)) {
	b.reads.Add(1)
	b.Broker.Members(room, limit, done)
}

// Presence requests of one room share one read of its members per
// -presence-cache: ten members asking five times each cost one read; a join
// on this node drops the read, so the joiner sees itself at once.
func TestPresenceAnsweredFromCache(t *testing.T) {
	b := &countingBroker{Broker: memory.New(memory.Options{})}
	s := startServer(t, func(c *server.Config) {
		c.Broker = b
		c.PresenceCache = time.Hour
		c.RateLimit = -1
	})
	var cs []*v2client
	for i := 0; i < 10; i++ {
		c := connectV2(t, s.Addr(), "m")
		c.join("big")
		cs = append(cs, c)
	}
	for round := 0; round < 5; round++ {
		for _, c := range cs {
			c.nextID++
			c.send(map[string]any{"type": "presence", "roomId": "big", "id": c.nextID})
		}
		for _, c := range cs {
			if m := replyTo(c, c.nextID); m.num("memberCount") != 10 || len(m["members"].([]any)) != 10 {
				t.Fatalf("presence %v", m)
			}
		}
	}
	if n := b.reads.Load(); n != 1 {
		t.Fatalf("%d member reads for 50 presence requests, want 1", n)
	}
	late := connectV2(t, s.Addr(), "late")
	late.join("big")
	if m := late.call(map[string]any{"type": "presence", "roomId": "big"}); m.num("memberCount") != 11 {
		t.Fatalf("the joiner does not see itself: %v", m)
	}
	if n := b.reads.Load(); n != 2 {
		t.Fatalf("%d member reads after a local join, want 2", n)
	}
}

// With -presence-cache negative, every request reads.
func TestPresenceCacheOff(t *testing.T) {
	b := &countingBroker{Broker: memory.New(memory.Options{})}
	s := startServer(t, func(c *server.Config) { c.Broker = b; c.PresenceCache = -1 })
	c := connectV2(t, s.Addr(), "m")
	c.join("r")
	for i := 0; i < 3; i++ {
		c.call(map[string]any{"type": "presence", "roomId": "r"})
	}
	if n := b.reads.Load(); n != 3 {
		t.Fatalf("%d reads, want 3", n)
	}
}

// replyTo reads c's messages up to the reply with id, skipping pushes.
func replyTo(c *v2client, id int) msg {
	c.t.Helper()
	for {
		m := c.read()
		if t := m.str("type"); (t == "ok" || t == "error") && m.num("id") == id {
			return m
		}
		if m["id"] != nil {
			c.t.Fatalf("got %v waiting for the reply to %d", m, id)
		}
	}
}

// heldBroker holds back the answer of one member read once armed: the list
// is read at once (the room as it was then) and answered on release.
type heldBroker struct {
	*memory.Broker
	armed   atomic.Bool
	reads   atomic.Int64
	started chan struct{}
	release chan struct{}
}

func (b *heldBroker) Members(room string, limit int, done func([]broker.Member, int, error)) {
	b.reads.Add(1)
	if !b.armed.CompareAndSwap(true, false) {
		b.Broker.Members(room, limit, done)
		return
	}
	b.Broker.Members(room, limit, func(list []broker.Member, n int, err error) {
		close(b.started)
		go func() {
			<-b.release
			done(list, n, err)
		}()
	})
}

// A presence request whose read is under way when a member joins gets a list
// with that member: the joined notice reaches the client before the answer,
// and the answer must not be older than the notice (the web client's member
// list lost the joiner this way). The read is done again, counted.
func TestPresenceReadOvertakenByJoin(t *testing.T) {
	for _, cache := range []time.Duration{time.Hour, -1} {
		t.Run(fmt.Sprintf("cache %v", cache), func(t *testing.T) {
			b := &heldBroker{Broker: memory.New(memory.Options{}), started: make(chan struct{}), release: make(chan struct{})}
			s := startServer(t, func(c *server.Config) { c.Broker = b; c.PresenceCache = cache })
			alice := connectV2(t, s.Addr(), "alice")
			alice.join("r")
			b.armed.Store(true)
			reads := b.reads.Load()
			alice.nextID++
			asked := alice.nextID
			alice.send(map[string]any{"type": "presence", "roomId": "r", "id": asked})
			select {
			case <-b.started:
			case <-time.After(5 * time.Second):
				t.Fatal("the presence read never started")
			}
			bob := connectV2(t, s.Addr(), "bob")
			bob.join("r")
			if m := alice.expect("joined"); m.str("userId") != bob.userID {
				t.Fatalf("alice got %v, want bob's joined", m)
			}
			close(b.release)
			m := replyTo(alice, asked)
			if m.str("type") != "ok" || m.num("memberCount") != 2 || len(m["members"].([]any)) != 2 {
				t.Fatalf("presence after bob's joined notice: %v, want alice and bob", m)
			}
			if n := b.reads.Load() - reads; n != 2 {
				t.Fatalf("%d member reads, want 2 (the overtaken one and one again)", n)
			}
			if got := scrape(t, s)["chatd_presence_rereads_total"]; got != 1 {
				t.Fatalf("chatd_presence_rereads_total %v, want 1", got)
			}
		})
	}
}
