package redis

import (
	"testing"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/internal/redistest"
)

// healthAtResync records whether the broker reported itself healthy when
// each resync was pushed.
type healthAtResync struct {
	recordingReceiver
	b       *Broker
	healthy []bool
}

func (r *healthAtResync) Resync(room, reason string) { r.healthy = append(r.healthy, r.b.Healthy()) }

// When Redis came back empty and the subscriber side noticed first (its
// checkpoint finds the room's epoch gone) while the command side still
// waits in the liveness loop's backoff, the read that found it is proof
// that the command side works: the node is healthy before it tells its
// members to resync, so their re-joins are not refused as unavailable
// (issue 24 item 6), and its members are re-registered.
func TestCheckpointMarksRedisBackBeforeResync(t *testing.T) {
	rs := redistest.Start(t)
	b, err := New(Options{URL: rs.URL(), NodeID: "n", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.closeClients()
	r := &healthAtResync{b: b}
	b.recv = r
	// (Not started: no liveness loop to bring the command side back.)
	b.setSub(true, nil)
	b.setCmd(false, nil)
	b.needReconcile.Store(false)
	f := &roomFlow{pos: broker.Position{Epoch: "lost", Offset: 7}, based: true, busy: true}
	b.flows["r"] = f
	thenRan := false
	b.checkpoint("r", f, func() { thenRan = true })
	if len(r.healthy) != 1 || !r.healthy[0] || !b.Healthy() || !b.needReconcile.Load() || !thenRan {
		t.Fatalf("resyncs pushed while healthy: %v; healthy now %v, reconcile asked %v, then ran %v", r.healthy,
			b.Healthy(), b.needReconcile.Load(), thenRan)
	}
	if f.pos != (broker.Position{}) || f.busy {
		t.Fatalf("flow after the checkpoint: %+v", f)
	}
}
