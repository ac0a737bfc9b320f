package eventloop_test

import (
	"testing"

	"github.com/chatd/chatd/eventloop"
)

// TestContinuationLimit: a message may have MaxContinuationFrames
// continuation frames; one more closes with 1009, counted as a protocol
// error, before the rest of the message is read.
func TestContinuationLimit(t *testing.T) {
	message := func(conts int) []byte {
		w := frag(1, []byte("x"), false)
		for i := 1; i <= conts; i++ {
			w = append(w, frag(0, nil, i == conts)...)
		}
		return w
	}
	for _, tc := range []struct {
		name  string
		limit int // 0: the default
		conts int
		close bool
	}{
		{"default limit", 0, 1024, false},
		{"one over the default", 0, 1025, true},
		{"limit 2", 2, 2, false},
		{"one over 2", 2, 3, true},
		{"no limit", -1, 5000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, h := framingEngine(t, func(c *eventloop.Config) { c.MaxContinuationFrames = tc.limit })
			c := dialWS(t, e)
			recvOpen(t, h.openCh)
			c.send(message(tc.conts))
			if !tc.close {
				c.expectMessage(1, []byte("x"))
				return
			}
			c.expectClose(1009)
			if got := recvCode(t, h.closeCh); got != eventloop.CloseTooBig {
				t.Fatalf("Handler.Close(%d), want 1009", got)
			}
			if n := e.Stats().ProtocolErrors; n != 1 {
				t.Fatalf("ProtocolErrors = %d, want 1", n)
			}
		})
	}
}
