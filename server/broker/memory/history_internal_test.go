package memory

import (
	"strconv"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/brokertest"
)

// clocked returns a started broker whose clock the test moves.
func clocked(t *testing.T, o Options) (*Broker, *brokertest.Receiver, *time.Time) {
	t.Helper()
	b := New(o)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.now = func() time.Time { return now }
	r := brokertest.NewReceiver()
	if err := b.Start(r); err != nil {
		t.Fatal(err)
	}
	return b, r, &now
}

func syncOf(b *Broker, room string, q broker.HistoryQuery) broker.HistoryResult {
	var res broker.HistoryResult
	b.Sync(room, q, func(h broker.HistoryResult, err error) { res = h })
	return res
}

func joinOf(t *testing.T, b *Broker, room, user string) {
	t.Helper()
	b.Join(broker.Member{Room: room, User: user, Name: user}, room, func(broker.Membership, error) {})
}

// An epoch named before the first message lives HistoryAge after the last
// Sync that found the room empty: joins keep it; once it lapses, the next
// Sync names another, and the members told the old one get a resync before
// anything of the new one.
func TestEmptyEpochLifetime(t *testing.T) {
	const age = time.Hour
	b, r, now := clocked(t, Options{HistorySize: 10, HistoryAge: age})
	joinOf(t, b, "r", "u1")
	e1 := syncOf(b, "r", broker.HistoryQuery{}).Epoch
	*now = now.Add(age - time.Minute)
	if e := syncOf(b, "r", broker.HistoryQuery{}).Epoch; e != e1 {
		t.Fatalf("a join within the age named %s, want %s", e, e1)
	}
	*now = now.Add(age - time.Minute) // 2h - 2m after the first Sync, under an hour after the last
	if e := syncOf(b, "r", broker.HistoryQuery{}).Epoch; e != e1 {
		t.Fatalf("the last Sync did not renew the empty epoch: %s, want %s", e, e1)
	}
	*now = now.Add(age + time.Second)
	e2 := syncOf(b, "r", broker.HistoryQuery{}).Epoch
	if e2 == e1 || e2 == "" {
		t.Fatalf("after the age: epoch %q (was %s)", e2, e1)
	}
	got := r.Wait(t, "r", 1)
	if len(got) != 1 || got[0].Body != "resync epoch" {
		t.Fatalf("events %+v, want one resync", got)
	}
	b.Publish(&broker.Event{Room: "r", Body: []byte(`{"n":1}`), Store: true}, nil)
	if got := r.Wait(t, "r", 2); len(got) != 2 || got[1].Pos != (broker.Position{Epoch: e2, Offset: 1}) {
		t.Fatalf("events %+v, want the message at %s/1 and no other resync", got, e2)
	}
}

// A history's epoch is not renewed by Syncs once it has messages: it
// expires HistoryAge after its last message, and a member told it gets a
// resync before the next epoch's first message.
func TestEpochExpiresAfterLastMessage(t *testing.T) {
	const age = time.Hour
	b, r, now := clocked(t, Options{HistorySize: 10, HistoryAge: age})
	joinOf(t, b, "r", "u1")
	e1 := syncOf(b, "r", broker.HistoryQuery{}).Epoch
	b.Publish(&broker.Event{Room: "r", Body: []byte(`{"n":1}`), Store: true}, nil)
	*now = now.Add(age / 2)
	syncOf(b, "r", broker.HistoryQuery{})
	*now = now.Add(age/2 + time.Second)
	b.Publish(&broker.Event{Room: "r", Body: []byte(`{"n":2}`), Store: true}, nil)
	got := r.Wait(t, "r", 3)
	if got[0].Pos != (broker.Position{Epoch: e1, Offset: 1}) || got[1].Body != "resync epoch" ||
		got[2].Pos.Offset != 1 || got[2].Pos.Epoch == e1 {
		t.Fatalf("events %+v", got)
	}
}

// The bytes accounted are the bytes held: trimming a history to its cap
// gives back what it drops, and histories without messages count too, so
// that joins of many rooms cannot grow the node without bound.
func TestHistoryBytesAccounting(t *testing.T) {
	b, _, _ := clocked(t, Options{HistorySize: 3, HistoryMaxBytes: 4000})
	for i := 0; i < 50; i++ {
		b.Publish(&broker.Event{Room: "big", Body: []byte(`{"n":` + strconv.Itoa(i) + `}`), Store: true}, nil)
	}
	held := func() int {
		n := 0
		for room, h := range b.hist {
			n += histOverhead + len(room)
			for _, m := range h.ring {
				n += len(m.payload)
			}
		}
		return n
	}
	if b.histBytes != held() || len(b.hist["big"].ring) != 3 {
		t.Fatalf("accounted %d bytes, held %d (%d messages)", b.histBytes, held(), len(b.hist["big"].ring))
	}
	for i := 0; i < 100; i++ {
		syncOf(b, "empty"+strconv.Itoa(i), broker.HistoryQuery{})
	}
	if b.histBytes != held() || b.histBytes > 4000 || len(b.hist) >= 100 {
		t.Fatalf("after 100 empty rooms: %d histories, accounted %d bytes, held %d", len(b.hist), b.histBytes, held())
	}
}
