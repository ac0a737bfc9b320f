package memory_test

import (
	"fmt"
	"testing"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/memory"
)

// A member leaving a room and joining again, through the broker (its lock,
// its room lookup): the cost of the sorted list's search and move, and of
// the map past 1,024 members.
func BenchmarkJoinLeave(b *testing.B) {
	for _, size := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			br := memory.New(memory.Options{})
			ids := make([]*broker.Identity, size)
			for i := range ids {
				u := fmt.Sprintf("%010d", i*7919%size) // joined out of order
				ids[i] = &broker.Identity{User: u, Name: "name " + u}
				br.Join(member(ids[i]), "r", func(broker.Membership, error) {})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				m := member(ids[i%size])
				br.Leave(m, func(broker.Membership, error) {})
				br.Join(m, "r", func(broker.Membership, error) {})
			}
		})
	}
}

func member(id *broker.Identity) broker.Member {
	return broker.Member{Room: "r", User: id.User, Name: id.Name, ID: id}
}
