package brokertest

import (
	"fmt"

	"github.com/chatd/chatd/server/broker"
)

// Identities makes n distinct identities (user and name "user-000000" on),
// as the heap tests of both brokers join them.
func Identities(n int) []*broker.Identity {
	ids := make([]*broker.Identity, n)
	for i := range ids {
		u := fmt.Sprintf("user-%06d", i)
		ids[i] = &broker.Identity{User: u, Name: u}
	}
	return ids
}
