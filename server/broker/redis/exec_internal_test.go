package redis

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/internal/redistest"
)

// publishErr publishes a stored message in room and returns its error.
func publishErr(t *testing.T, b *Broker, room string) error {
	t.Helper()
	done := make(chan error, 1)
	b.Publish(&broker.Event{Room: room, Body: []byte(`{"type":"message","content":"x"}`), Store: true},
		func(_ uint64, err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-time.After(2 * broker.DefaultOpTimeout):
		t.Fatal("publish: no answer")
		return nil
	}
}

// A write whose slot has no master in the broker's slot map is not failed
// at once: the map is reloaded and the write waits for it (a map read from
// a node that had not yet heard of every master, as CI saw once). A slot
// that no master serves fails after the bounded rounds, as unavailable.
func TestClusterWriteWaitsForSlotOwner(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	// No periodic reload (it comes every HeartbeatInterval): only the
	// write's own request can mend the map below.
	b, err := New(Options{Cluster: rc.Seeds(), NodeID: "n", Logger: quietLogger(),
		HeartbeatInterval: time.Hour, HeartbeatTTL: 3 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(&recordingReceiver{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	const room = "beta"
	slot := b.keys.roomSlot(room)

	// The map is behind the cluster: the slot's owner is unknown. (A reload
	// the broker's start asked for may still mend it first; then the write
	// found its owner and the step is tried again.)
	held := false
	for try := 0; try < 20 && !held; try++ {
		b.topo.mu.Lock()
		b.topo.owners[slot] = ""
		b.topo.mu.Unlock()
		loads, redirects := b.stats.topologyLoads.Load(), b.stats.redirects.Load()
		if err := publishErr(t, b, room); err != nil {
			t.Fatalf("publish with a stale map: %v", err)
		}
		held = b.stats.redirects.Load() > redirects
		if held && (b.topo.owner(slot) == "" || b.stats.topologyLoads.Load() == loads) {
			t.Fatalf("owner %q, topology loads %d -> %d", b.topo.owner(slot), loads, b.stats.topologyLoads.Load())
		}
	}
	if !held {
		t.Fatal("the map was mended before every write: the wait was never tried")
	}

	// No master serves the slot: unavailable, after the rounds.
	ctx := context.Background()
	for i := range rc.Size() {
		if err := rc.Node(i).ClusterDelSlots(ctx, slot).Err(); err != nil {
			t.Fatal(err)
		}
	}
	b.topo.mu.Lock()
	b.topo.owners[slot] = ""
	b.topo.mu.Unlock()
	err = publishErr(t, b, room)
	if !errors.Is(err, broker.ErrUnavailable) || !strings.Contains(err.Error(), "no master serves the slot") {
		t.Fatalf("publish to a slot no master serves: %v", err)
	}
}
