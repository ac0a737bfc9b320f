package memory_test

import (
	"testing"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/brokertest"
	"github.com/chatd/chatd/server/broker/memory"
)

// The memory broker keeps the seam's contract (a single node).
func TestContract(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) brokertest.Cluster {
		started := false
		return brokertest.Cluster{Node: func(t *testing.T, r broker.Receiver) broker.Broker {
			if started {
				return nil
			}
			started = true
			b := memory.New(memory.Options{HistorySize: brokertest.HistorySize, HistoryRoomBytes: brokertest.RoomBytes})
			if err := b.Start(r); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b
		}}
	})
}

func TestNoHistory(t *testing.T) {
	b := memory.New(memory.Options{HistorySize: -1})
	r := brokertest.NewReceiver()
	if err := b.Start(r); err != nil {
		t.Fatal(err)
	}
	brokertest.RunNoHistory(t, b, r)
}
