package chat

import (
	"io"
	"log/slog"
	"testing"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/hooks"
)

// What a join or publish decision tells the client: nothing when allowed,
// the backend's refusal (counted under one label), chatd's error when the
// call failed under the refuse policy, and draining when the node began
// to drain while the call was out.
func TestHookErrorOfDecisions(t *testing.T) {
	failed := Errorf(CodeServiceUnavailable, "x: service unavailable")
	for _, tc := range []struct {
		name     string
		r        hooks.Result
		draining bool
		want     *Error
	}{
		{"allowed", hooks.Result{}, false, nil},
		{"allowed by policy", hooks.Result{Failure: "timeout"}, false, nil},
		{"refused", hooks.Result{Outcome: hooks.Refused, Code: "banned", Message: "No"}, false,
			&Error{Code: "banned", Msg: "No", byHook: true}},
		{"unavailable", hooks.Result{Outcome: hooks.Unavailable, Failure: "error"}, false, failed},
		{"allowed while draining", hooks.Result{}, true, ErrDraining},
		{"refused while draining", hooks.Result{Outcome: hooks.Refused, Code: "c", Message: "m"}, true,
			&Error{Code: "c", Msg: "m", byHook: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &Node{}
			n.draining.Store(tc.draining)
			s := &Session{node: n}
			got := s.hookError(&tc.r, failed)
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// The sessions of the users the connect hook named are found by user, and
// forgotten when they go.
func TestHookNamedSessionsByUser(t *testing.T) {
	var h hookState
	a1, a2, b := &Session{who: &broker.Identity{User: "a"}}, &Session{who: &broker.Identity{User: "a"}}, &Session{who: &broker.Identity{User: "b"}}
	for _, s := range []*Session{a1, a2, b} {
		h.named(s)
	}
	if got := h.sessionsOf("a"); len(got) != 2 {
		t.Fatalf("sessions of a: %d, want 2", len(got))
	}
	h.forget(a1)
	if got := h.sessionsOf("a"); len(got) != 1 || got[0] != a2 {
		t.Fatalf("sessions of a after one left: %v", got)
	}
	h.forget(a2)
	h.forget(b)
	if len(h.byUser) != 0 {
		t.Fatalf("%d users left after every session went", len(h.byUser))
	}
}

// A join without this session's approval is refused, never made without
// asking the join hook.
func TestJoinApprovedNeedsTheSessionsApproval(t *testing.T) {
	s := &Session{node: &Node{cfg: Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}}
	other := &Session{}
	for _, a := range []JoinApproval{{}, {s: other, room: "r"}} {
		var got *Error
		s.JoinApproved(a, "", nil, func(_ JoinResult, e *Error) { got = e })
		if got != ErrJoinFailed {
			t.Fatalf("approval %+v: got %v, want join_failed", a, got)
		}
	}
}
