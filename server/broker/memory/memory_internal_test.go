package memory

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
)

// A Publish that looked its room up before the room emptied and was made
// again by a joiner is still ordered with the joiner's Sync: the joiner gets
// the event exactly once, in its history read or delivered after it became
// a member, stored or not. The Publish is held between its lookup and its
// room lock (lockRoom) while the last member leaves and the joiner joins
// and Syncs; it goes on while the Sync is between its history read and fn,
// and fn waits until the Publish has delivered or waits for the room lock.
// Were the Publish to lock the old record (removed when the room emptied)
// and the Sync the new one, the Publish would store and deliver in that
// gap: the joiner would miss the event.
func TestPublishOrderedWithSyncOfRoomMadeAgain(t *testing.T) {
	for _, store := range []bool{true, false} {
		t.Run(map[bool]string{true: "stored", false: "unstored"}[store], func(t *testing.T) {
			b, rec := newRecorded(t)
			old := broker.Member{Room: "r", User: "old"}
			b.Join(old, "R", nop)

			lookedUp, resume, held := make(chan struct{}), make(chan struct{}), make(chan struct{})
			var calls atomic.Int32
			var contended sync.Once
			b.lockRoom = func(r *room) {
				if calls.Add(1) == 1 { // the Publish's
					close(lookedUp)
					<-resume
				}
				if !r.pubMu.TryLock() {
					contended.Do(func() { close(held) }) // by the Sync, which waits for this
					r.pubMu.Lock()
				}
			}
			published := make(chan struct{})
			go func() {
				defer close(published)
				b.Publish(&broker.Event{Room: "r", Body: []byte(`{"n":1}`), Store: store}, nil)
			}()
			<-lookedUp
			b.Leave(old, nop)        // the room empties
			b.Join(joiner, "R", nop) // and is made again

			read, join, synced := make(chan broker.HistoryResult), make(chan struct{}), make(chan struct{})
			go func() {
				defer close(synced)
				b.Sync("r", broker.HistoryQuery{Limit: 10}, func(res broker.HistoryResult, err error) {
					if err != nil {
						t.Error(err)
					}
					read <- res
					<-join
					rec.join()
				})
			}()
			res := <-read
			close(resume)
			select {
			case <-published:
			case <-held:
			case <-time.After(10 * time.Second):
				t.Fatal("the Publish neither delivered nor waits for a room lock")
			}
			close(join)
			<-synced
			<-published
			rec.checkOnce(t, res)
		})
	}
}

// A stored event whose Publish is delivering when its room's last member
// leaves and a joiner makes the room again is not got twice by the joiner,
// in its history read and by delivery after it became a member. The
// delivery is held (the receiver) while the leave, the join and the
// joiner's Sync are asked for; they wait for the room lock (lockRoom: a
// membership change is a step of the room's order, as a Sync is), and the
// delivery then goes on. Were the Sync to lock a new record of the room
// while the Publish holds the old one, it would read the stored event and
// run fn before the delivery.
func TestSyncOrderedWithDeliveryOfRoomMadeAgain(t *testing.T) {
	b, rec := newRecorded(t)
	delivering := make(chan struct{})
	rec.delivering, rec.deliver = delivering, make(chan struct{})
	old := broker.Member{Room: "r", User: "old"}
	b.Join(old, "R", nop)
	published := make(chan struct{})
	go func() {
		defer close(published)
		b.Publish(&broker.Event{Room: "r", Body: []byte(`{"n":1}`), Store: true}, nil)
	}()
	<-delivering // stored, delivering

	held := make(chan struct{})
	var contended sync.Once
	b.lockRoom = func(r *room) {
		if !r.pubMu.TryLock() {
			contended.Do(func() { close(held) }) // by the Publish, which waits for this
			r.pubMu.Lock()
		}
	}
	var res broker.HistoryResult
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		b.Leave(old, nop)        // the room empties
		b.Join(joiner, "R", nop) // and is made again
		b.Sync("r", broker.HistoryQuery{Limit: 10}, func(h broker.HistoryResult, err error) {
			if err != nil {
				t.Error(err)
			}
			res = h
			rec.join()
		})
	}()
	select {
	case <-synced:
		t.Fatal("the leave, the join and the Sync ran while the delivery was held")
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the leave neither ran nor waits for the room lock")
	}
	close(rec.deliver)
	<-published
	<-synced
	rec.checkOnce(t, res)
}

var joiner = broker.Member{Room: "r", User: "joiner"}

func nop(broker.Membership, error) {}

func newRecorded(t *testing.T) (*Broker, *joinRecorder) {
	t.Helper()
	b := New(Options{HistorySize: 10})
	rec := &joinRecorder{}
	if err := b.Start(rec); err != nil {
		t.Fatal(err)
	}
	return b, rec
}

// joinRecorder is a receiver that counts the events delivered before and
// after the joiner became a member (join). With delivering set, the first
// delivery closes it and waits for deliver first.
type joinRecorder struct {
	delivering, deliver chan struct{}

	mu            sync.Mutex
	joined        bool
	before, after int
}

// join makes the joiner a member: deliveries reach it from now on.
func (r *joinRecorder) join() {
	r.mu.Lock()
	r.joined = true
	r.mu.Unlock()
}

// checkOnce fails unless the joiner got the event {"n":1} exactly once: in
// res, its Sync's history read, or delivered after it joined.
func (r *joinRecorder) checkOnce(t *testing.T, res broker.HistoryResult) {
	t.Helper()
	inHistory := 0
	for _, p := range res.Messages {
		if strings.Contains(p, `"n":1`) {
			inHistory++
		}
	}
	r.mu.Lock()
	before, after := r.before, r.after
	r.mu.Unlock()
	if inHistory+after != 1 {
		t.Fatalf("the joiner got the event %d times (in its history read %d, delivered after it joined %d, "+
			"before %d), want once", inHistory+after, inHistory, after, before)
	}
}

func (r *joinRecorder) Receive(string, string) error { return nil }

func (r *joinRecorder) Deliver(*broker.Event) {
	if r.delivering != nil {
		close(r.delivering)
		r.delivering = nil // only the Publish goroutine delivers
		<-r.deliver
	}
	r.mu.Lock()
	if r.joined {
		r.after++
	} else {
		r.before++
	}
	r.mu.Unlock()
}

func (r *joinRecorder) Resync(string, string) {}

func (r *joinRecorder) PresenceBody(bool, broker.Member, int) []byte { return nil }

func (r *joinRecorder) Announce(bool, broker.Member, int) *broker.Event { return nil }
