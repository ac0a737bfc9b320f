package memory_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/brokertest"
	"github.com/chatd/chatd/server/broker/memory"
	"github.com/chatd/chatd/server/sink"
)

// Every stored message goes to the sink queue with its place (room, epoch,
// offset) and its stored payload, in offset order per room, rooms with
// members or not; events that are not stored do not; a full queue refuses
// and counts.
func TestSinkQueueGetsEveryStoredMessage(t *testing.T) {
	q := sink.NewMemory(7, 0)
	b := memory.New(memory.Options{HistorySize: 3, Sink: q})
	r := brokertest.NewReceiver()
	if err := b.Start(r); err != nil {
		t.Fatal(err)
	}
	if b.SinkQueue() == nil || memory.New(memory.Options{}).SinkQueue() != nil {
		t.Fatal("SinkQueue: want the queue with Options.Sink, nil without")
	}
	b.Join(broker.Member{Room: "a", User: "u"}, "A", func(broker.Membership, error) {})
	pub := func(room, content string, store bool) {
		b.Publish(&broker.Event{Room: room, Body: []byte(`{"type":"message","content":"` + content + `"}`), Store: store},
			nil)
	}
	for i := range 4 {
		pub("a", fmt.Sprint("a", i+1), true)
		pub("b", fmt.Sprint("b", i+1), true) // a room without members
		pub("a", "typing", false)
	}
	es, n, err := q.Read(context.Background(), 0, 100)
	if err != nil || n != 7 || len(es) != 7 {
		t.Fatalf("queue: %d entries (backlog %d, err %v), want 7 (the bound)", len(es), n, err)
	}
	if d, _ := q.TakeDropped(context.Background(), 0); d != 1 {
		t.Fatalf("dropped %d, want 1", d)
	}
	next := map[string]uint64{"a": 1, "b": 1}
	for _, e := range es {
		if e.Offset != next[e.Room] || e.Epoch == "" || e.At == 0 {
			t.Fatalf("entry %+v: want offset %d of room %s", e, next[e.Room], e.Room)
		}
		want := fmt.Sprintf(`"content":"%s%d","offset":%d,"epoch":"%s"}`, e.Room, e.Offset, e.Offset, e.Epoch)
		if !strings.HasSuffix(e.Payload, want) {
			t.Fatalf("payload %s, want the stored one ending %s", e.Payload, want)
		}
		next[e.Room]++
	}
}
