package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	chatdclient "github.com/chatd/chatd/clients/go"
)

// Helpers of the Go client's tests against live nodes (sdk_go_test.go,
// sdk_go_faults_test.go).

// sdkURL is a node's WebSocket URL.
func sdkURL(addr string) string { return "ws://" + addr + "/ws" }

// sdkConnect connects a Go client to url as name; mod adjusts its config
// (after test-sized backoff). It is closed when the test ends.
func sdkConnect(t *testing.T, url, name string, mod func(*chatdclient.Config)) *chatdclient.Client {
	t.Helper()
	cfg := chatdclient.Config{URL: url, Name: name, BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := chatdclient.Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sdkJoin joins a room, failing the test on an error.
func sdkJoin(t *testing.T, c *chatdclient.Client, room string, opts *chatdclient.JoinOptions) *chatdclient.Room {
	t.Helper()
	r, err := c.Join(context.Background(), room, opts)
	if err != nil {
		t.Fatalf("join %s: %v", room, err)
	}
	return r
}

// sdkRecorder keeps every event of a client, read from its own goroutine, and
// lets a test wait for a condition on them (woken by each new event).
type sdkRecorder struct {
	mu      sync.Mutex
	evs     []chatdclient.Event
	closed  bool
	changed chan struct{} // (cap 1)
}

func sdkRecord(c *chatdclient.Client) *sdkRecorder {
	r := &sdkRecorder{changed: make(chan struct{}, 1)}
	go func() {
		for ev := range c.Events() {
			r.mu.Lock()
			r.evs = append(r.evs, ev)
			r.mu.Unlock()
			r.notify()
		}
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		r.notify()
	}()
	return r
}

func (r *sdkRecorder) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// events returns a copy of the events so far.
func (r *sdkRecorder) events() []chatdclient.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]chatdclient.Event(nil), r.evs...)
}

// wait waits until cond holds on the events, failing after d.
func (r *sdkRecorder) wait(t *testing.T, d time.Duration, what string, cond func(evs []chatdclient.Event) bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok, closed := cond(r.evs), r.closed
		r.mu.Unlock()
		if ok {
			return
		}
		if closed {
			t.Fatalf("events closed while waiting for %s: %s", what, sdkDescribe(r.events()))
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s; events: %s", d, what, sdkDescribe(r.events()))
		}
	}
}

// waitClosed waits until the client's events have closed.
func (r *sdkRecorder) waitClosed(t *testing.T, d time.Duration) {
	t.Helper()
	r.wait(t, d, "events to close", func([]chatdclient.Event) bool { return r.closed })
}

// messages returns the room's message events, in order.
func sdkMessages(evs []chatdclient.Event, room string) []chatdclient.MessageEvent {
	var out []chatdclient.MessageEvent
	for _, ev := range evs {
		if m, ok := ev.(chatdclient.MessageEvent); ok && m.RoomID == room {
			out = append(out, m)
		}
	}
	return out
}

// sdkHas reports whether the room has a message with this content.
func sdkHas(evs []chatdclient.Event, room, content string) bool {
	for _, m := range sdkMessages(evs, room) {
		if m.Content == content {
			return true
		}
	}
	return false
}

// sdkCount counts the events of type T that match.
func sdkCount[T chatdclient.Event](evs []chatdclient.Event, match func(T) bool) int {
	n := 0
	for _, ev := range evs {
		if v, ok := ev.(T); ok && (match == nil || match(v)) {
			n++
		}
	}
	return n
}

// describe renders events for a failure message (the last 40).
func sdkDescribe(evs []chatdclient.Event) string {
	if len(evs) > 40 {
		evs = evs[len(evs)-40:]
	}
	var sb strings.Builder
	for _, ev := range evs {
		switch e := ev.(type) {
		case chatdclient.MessageEvent:
			fmt.Fprintf(&sb, "\n  message %s %s/%d %q replay=%v", e.RoomID, e.Epoch, e.Offset, e.Content, e.Replay)
		default:
			fmt.Fprintf(&sb, "\n  %T %+v", ev, ev)
		}
	}
	return sb.String()
}

// sdkCheckNoSilentHole checks one room's events as an application sees them:
// the first message is offset first; after it each message is the next
// offset of the same epoch, unless a GapEvent came just before (then it is in
// the gap's epoch, at or below the gap's newest offset + 1: no hole after
// the point the gap names); no (epoch, offset) twice. It returns the number
// of gaps and of messages.
func sdkCheckNoSilentHole(t *testing.T, who string, evs []chatdclient.Event, room string, first uint64) (gaps, n int) {
	t.Helper()
	var epoch string
	var last uint64
	seen := map[string]bool{}
	afterGap := false
	var gap chatdclient.GapEvent
	for i, ev := range evs {
		switch e := ev.(type) {
		case chatdclient.GapEvent:
			if e.RoomID == room {
				gaps++
				afterGap, gap = true, e
			}
		case chatdclient.MessageEvent:
			if e.RoomID != room {
				continue
			}
			n++
			key := fmt.Sprint(e.Epoch, "/", e.Offset)
			if seen[key] {
				t.Fatalf("%s, room %s: %s delivered twice (event %d)%s", who, room, key, i, sdkDescribe(evs[:i+1]))
			}
			seen[key] = true
			switch {
			case afterGap:
				// (A gap naming no epoch is a room with no stored message at the time, on a server
				// that does not name the epoch to come: its first message names it.)
				if (gap.Epoch != "" && e.Epoch != gap.Epoch) || e.Offset > gap.Offset+1 {
					t.Fatalf("%s, room %s: %s after %+v%s", who, room, key, gap, sdkDescribe(evs[:i+1]))
				}
				afterGap = false
			case last == 0:
				if e.Offset != first {
					t.Fatalf("%s, room %s: first message %s, want offset %d%s", who, room, key, first, sdkDescribe(evs[:i+1]))
				}
			case e.Epoch != epoch || e.Offset != last+1:
				t.Fatalf("%s, room %s: %s after %s/%d without a gap reported: a silent hole%s", who, room, key,
					epoch, last, sdkDescribe(evs[:i+1]))
			}
			epoch, last = e.Epoch, e.Offset
		}
	}
	return gaps, n
}
