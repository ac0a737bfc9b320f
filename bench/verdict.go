package bench

import "fmt"

// The verdict. A run passes when nothing it can judge went wrong; each way it failed is named
// in Result.Failures (and on the summary's result line), and the three delivery faults a chat
// server must never commit (loss, duplicate, reorder) are also in the exit status, so that a
// script can tell them apart without parsing the report.

// Exit statuses of chatbench (Main). A failed run exits with ExitFail plus the bit of each
// delivery fault it saw: 5 lost, 9 duplicated, 17 out of order, 29 all three.
const (
	ExitPass       = 0  // every check passed
	ExitFail       = 1  // the run failed a check
	ExitUsage      = 2  // bad flags or environment, or the run could not be made
	ExitLost       = 4  // with ExitFail: messages (v2: offsets) that never arrived
	ExitDuplicated = 8  // with ExitFail: messages (v2: offsets) that arrived twice
	ExitReordered  = 16 // with ExitFail: messages that arrived out of their sender's order
)

// judge names every failure of r in r.Failures, from its derived figures, and sets r.Pass.
func (r *Result) judge() {
	r.Failures = nil
	fail := func(n uint64, what string) {
		if n > 0 {
			r.Failures = append(r.Failures, fmt.Sprintf("%d %s", n, what))
		}
	}
	failIf := func(cond bool, what string) {
		if cond {
			r.Failures = append(r.Failures, what)
		}
	}
	fail(r.Lost, "messages lost")
	fail(r.Duplicated, "messages duplicated")
	fail(r.OutOfOrder, "messages out of order")
	fail(r.Excess, "deliveries beyond the expected")
	fail(r.EchoesMissing, "echoes missing")
	fail(r.EchoDuplicated, "echoes duplicated")
	fail(r.ConnectFailed, "members failed to connect")
	fail(r.JoinFailed, "members failed to join")
	fail(r.NotDialed, "members not dialed (the join phase ended first)")
	fail(r.Disconnects, "joined members disconnected")
	failIf(r.Interrupted, "interrupted")
	failIf(r.Joined == 0, "no member joined")
	if r.Proto != "v2" {
		r.Pass = len(r.Failures) == 0
		return
	}
	fail(r.AcksMissing, "publishes unanswered")
	fail(r.AckDuplicated, "publishes answered twice")
	fail(r.SelfPushes, "messages pushed back to their publisher")
	fail(r.BadReplies, "replies matching no request")
	if r.OffsetsJudged {
		fail(r.OffsetMissing, "offsets missing")
		fail(r.OffsetDuplicated, "offsets duplicated")
		fail(r.OffsetBeyond, "rooms with an offset beyond their messages")
		fail(r.OffsetStray, "offsets at or below the first join's")
	}
	if r.Workload == "recovery" {
		// The workload exists to judge recovery: it must have happened, from a server that
		// numbers its messages, and worked every time.
		failIf(!r.OffsetsJudged, "offsets not judged (the server's history is missing or incomplete)")
		failIf(r.Outages == 0, "no member went away")
		failIf(r.Reconnects != r.Outages, fmt.Sprintf("%d of %d members that went away came back", r.Reconnects, r.Outages))
		fail(r.ReconnectFailed, "members failed to come back")
		fail(r.RecoveryFailed, "re-joins not recovered")
		fail(r.EpochChanges, "epoch changes")
		fail(r.NoHistory, "members stopped: the server keeps no history")
	}
	r.Pass = len(r.Failures) == 0
}

// ExitStatus is chatbench's exit status for r (see ExitPass and the others).
func (r *Result) ExitStatus() int {
	if r.Pass {
		return ExitPass
	}
	code := ExitFail
	if r.Lost > 0 || r.OffsetMissing > 0 {
		code |= ExitLost
	}
	if r.Duplicated > 0 || r.OffsetDuplicated > 0 {
		code |= ExitDuplicated
	}
	if r.OutOfOrder > 0 {
		code |= ExitReordered
	}
	return code
}
