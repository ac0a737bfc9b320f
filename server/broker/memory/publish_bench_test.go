package memory_test

import (
	"testing"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/memory"
)

// A Publish to a room with a member, handed to a receiver that does
// nothing: the broker's own cost per event, not stored (e.g. typing) or
// stored (the history's payload), and from several goroutines into one room
// (its publish lock).
func BenchmarkPublish(b *testing.B) {
	newRoom := func(b *testing.B) *memory.Broker {
		br := memory.New(memory.Options{})
		if err := br.Start(nopReceiver{}); err != nil {
			b.Fatal(err)
		}
		br.Join(broker.Member{Room: "r", User: "u"}, "r", func(broker.Membership, error) {})
		return br
	}
	body := []byte(`{"type":"message","content":"hello"}`)
	for _, store := range []bool{false, true} {
		name := "unstored"
		if store {
			name = "stored"
		}
		b.Run(name, func(b *testing.B) {
			br := newRoom(b)
			ev := &broker.Event{Room: "r", Body: body, Store: store}
			b.ReportAllocs()
			for b.Loop() {
				br.Publish(ev, nil)
			}
		})
	}
	b.Run("unstored-parallel", func(b *testing.B) {
		br := newRoom(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ev := &broker.Event{Room: "r", Body: body}
			for pb.Next() {
				br.Publish(ev, nil)
			}
		})
	})
}

type nopReceiver struct{}

func (nopReceiver) Receive(string, string) error                 { return nil }
func (nopReceiver) Deliver(*broker.Event)                        {}
func (nopReceiver) Resync(string, string)                        {}
func (nopReceiver) PresenceBody(bool, broker.Member, int) []byte { return nil }

func (nopReceiver) Announce(bool, broker.Member, int) *broker.Event { return nil }
