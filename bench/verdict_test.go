package bench

import (
	"slices"
	"testing"
)

// Each thing the verdict judges fails a run alone, under its own name, and only loss,
// duplicates and reordering set exit status bits.
func TestVerdictNamesEachFailure(t *testing.T) {
	clean := func(proto, workload string) Result {
		r := Result{Proto: proto, Workload: workload, Counters: Counters{Joined: 4}}
		if workload == "recovery" {
			r.OffsetsJudged, r.Outages, r.Reconnects = true, 2, 2
		}
		return r
	}
	for _, tc := range []struct {
		proto, workload string
		breaks          func(*Result)
		want            string
		code            int
	}{
		{"v1", "fanout", func(r *Result) {}, "", ExitPass},
		{"v1", "fanout", func(r *Result) { r.Lost = 3 }, "3 messages lost", ExitFail | ExitLost},
		{"v1", "fanout", func(r *Result) { r.Duplicated = 2 }, "2 messages duplicated", ExitFail | ExitDuplicated},
		{"v1", "fanout", func(r *Result) { r.OutOfOrder = 5 }, "5 messages out of order", ExitFail | ExitReordered},
		{"v1", "fanout", func(r *Result) { r.Excess = 1 }, "1 deliveries beyond the expected", ExitFail},
		{"v1", "fanout", func(r *Result) { r.EchoesMissing = 1 }, "1 echoes missing", ExitFail},
		{"v1", "fanout", func(r *Result) { r.EchoDuplicated = 1 }, "1 echoes duplicated", ExitFail},
		{"v1", "fanout", func(r *Result) { r.ConnectFailed = 1 }, "1 members failed to connect", ExitFail},
		{"v1", "fanout", func(r *Result) { r.JoinFailed = 1 }, "1 members failed to join", ExitFail},
		{"v1", "fanout", func(r *Result) { r.NotDialed = 1 }, "1 members not dialed (the join phase ended first)", ExitFail},
		{"v1", "fanout", func(r *Result) { r.Disconnects = 1 }, "1 joined members disconnected", ExitFail},
		{"v1", "fanout", func(r *Result) { r.Interrupted = true }, "interrupted", ExitFail},
		{"v1", "fanout", func(r *Result) { r.Joined = 0 }, "no member joined", ExitFail},
		{"v2", "fanout", func(r *Result) {}, "", ExitPass},
		{"v2", "fanout", func(r *Result) { r.OutOfOrder = 1 }, "1 messages out of order", ExitFail | ExitReordered},
		{"v2", "fanout", func(r *Result) { r.AcksMissing = 1 }, "1 publishes unanswered", ExitFail},
		{"v2", "fanout", func(r *Result) { r.AckDuplicated = 1 }, "1 publishes answered twice", ExitFail},
		{"v2", "fanout", func(r *Result) { r.SelfPushes = 1 }, "1 messages pushed back to their publisher", ExitFail},
		{"v2", "fanout", func(r *Result) { r.BadReplies = 1 }, "1 replies matching no request", ExitFail},
		{"v2", "fanout", func(r *Result) { r.OffsetsJudged, r.OffsetMissing = true, 1 }, "1 offsets missing", ExitFail | ExitLost},
		{"v2", "fanout", func(r *Result) { r.OffsetsJudged, r.OffsetDuplicated = true, 1 }, "1 offsets duplicated", ExitFail | ExitDuplicated},
		{"v2", "fanout", func(r *Result) { r.OffsetsJudged, r.OffsetBeyond = true, 1 }, "1 rooms with an offset beyond their messages", ExitFail},
		{"v2", "fanout", func(r *Result) { r.OffsetsJudged, r.OffsetStray = true, 1 }, "1 offsets at or below the first join's", ExitFail},
		{"v2", "fanout", func(r *Result) { r.OffsetDuplicated = 1 }, "", ExitPass}, // offsets not judged
		{"v2", "recovery", func(r *Result) {}, "", ExitPass},
		{"v2", "recovery", func(r *Result) { r.OffsetsJudged = false }, "offsets not judged (the server's history is missing or incomplete)", ExitFail},
		{"v2", "recovery", func(r *Result) { r.Outages, r.Reconnects = 0, 0 }, "no member went away", ExitFail},
		{"v2", "recovery", func(r *Result) { r.Reconnects = 1 }, "1 of 2 members that went away came back", ExitFail},
		{"v2", "recovery", func(r *Result) { r.ReconnectFailed = 1 }, "1 members failed to come back", ExitFail},
		{"v2", "recovery", func(r *Result) { r.RecoveryFailed = 1 }, "1 re-joins not recovered", ExitFail},
		{"v2", "recovery", func(r *Result) { r.EpochChanges = 1 }, "1 epoch changes", ExitFail},
		{"v2", "recovery", func(r *Result) { r.NoHistory = 1 }, "1 members stopped: the server keeps no history", ExitFail},
	} {
		r := clean(tc.proto, tc.workload)
		tc.breaks(&r)
		r.judge()
		var want []string
		if tc.want != "" {
			want = []string{tc.want}
		}
		if r.Pass != (tc.want == "") || !slices.Equal(r.Failures, want) || r.ExitStatus() != tc.code {
			t.Errorf("%s %s, want %q: pass %v, failures %q, exit status %d (want %d)",
				tc.proto, tc.workload, tc.want, r.Pass, r.Failures, r.ExitStatus(), tc.code)
		}
	}
}
