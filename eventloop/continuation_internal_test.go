package eventloop

import (
	"slices"
	"testing"

	"github.com/gobwas/ws"
)

// TestContinuationCountAtHeader: the frame over the limit is refused from
// its header, before its payload arrives; a new message starts a new count.
func TestContinuationCountAtHeader(t *testing.T) {
	var d decoder
	src := &fakeSource{b: cat(mfrag(ws.OpBinary, "a", false), mfrag(ws.OpContinuation, "b", false),
		mfrag(ws.OpContinuation, "c", true), mfrag(ws.OpText, "d", false), mfrag(ws.OpContinuation, "e", false),
		mfrag(ws.OpContinuation, "f", false))}
	var kinds []eventKind
	for range 6 {
		ev := d.next(src, 1<<20, 2)
		kinds = append(kinds, ev.kind)
		src.b = src.b[ev.n:]
	}
	if want := []eventKind{evFragment, evFragment, evMessage, evFragment, evFragment, evFragment}; !slices.Equal(kinds, want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	src.b = maskedFrame(false, ws.OpContinuation, key1, make([]byte, 1000))[:8] // header only
	if ev := d.next(src, 1<<20, 2); ev.kind != evError || ev.code != CloseTooBig {
		t.Fatalf("third continuation: %+v, want 1009 before the payload", ev)
	}
}
