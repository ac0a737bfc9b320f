package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// progressPrinter turns snapshots (one per process) into one progress line per interval.
type progressPrinter struct {
	w     io.Writer
	start time.Time
	prev  Counters
	prevT time.Time
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	return &progressPrinter{w: w, start: time.Now(), prevT: time.Now()}
}

// print merges the processes' latest snapshots and prints rates since the previous line.
func (p *progressPrinter) print(snaps []*Snapshot, serverRSSKB int64) {
	if p.w == nil {
		return
	}
	var c Counters
	lat := NewHist()
	open := 0
	phase := ""
	for _, s := range snaps {
		if s == nil {
			continue
		}
		c.add(&s.Counters)
		lat.Merge(s.Latency)
		open += s.Open
		if phase == "" || phaseOrder(s.Phase) < phaseOrder(phase) {
			phase = s.Phase
		}
	}
	if phase == "" {
		return // no process has reported yet
	}
	now := time.Now()
	dt := now.Sub(p.prevT).Seconds()
	if dt <= 0 {
		dt = 1
	}
	line := fmt.Sprintf("[%6.1fs] %-7s open %d joined %d failed %d | sent/s %.0f deliv/s %.0f | p99 %s | dup %d ooo %d",
		now.Sub(p.start).Seconds(), phase, open, c.Joined, c.ConnectFailed+c.JoinFailed,
		float64(c.Sent-p.prev.Sent)/dt, float64(c.Delivered-p.prev.Delivered)/dt,
		fmtMs(lat.Percentile(0.99)), c.Duplicated, c.OutOfOrder)
	if c.ChurnDialed > 0 {
		line += fmt.Sprintf(" | churn/s %.0f", float64(c.ChurnCycles-p.prev.ChurnCycles)/dt)
	}
	if serverRSSKB > 0 {
		line += fmt.Sprintf(" | server rss %.1f MiB", float64(serverRSSKB)/1024)
	}
	fmt.Fprintln(p.w, line)
	p.prev, p.prevT = c, now
}

func phaseOrder(p string) int {
	for i, q := range []string{"connect", "settle", "send", "drain", "hold", "close"} {
		if p == q {
			return i
		}
	}
	return 99
}

func fmtMs(ns int64) string { return fmt.Sprintf("%.2fms", float64(ns)/1e6) }

func fmtLat(s LatencySummary) string {
	if s.Count == 0 {
		return "(none)"
	}
	return fmt.Sprintf("p50 %.2fms p90 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms (n=%d)",
		s.P50Ms, s.P90Ms, s.P99Ms, s.P999Ms, s.MaxMs, s.Count)
}

// WriteSummary prints the human summary of a result.
func WriteSummary(w io.Writer, r *Result) {
	pf := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	proto := ""
	if r.Proto == "v2" {
		proto = fmt.Sprintf(" (protocol v2, %d room(s) per client)", r.RoomsPerClient)
	}
	pf("chatbench %s%s: %d clients in %d rooms over %d URL(s), %d process(es); %.3g msg/s per client, %gs (+%gs warmup)",
		r.Workload, proto, r.Clients, r.Rooms, len(r.URLs), r.Procs, r.RatePerClient, r.DurationSec, r.WarmupSec)
	pf("connect   dialed %d, upgraded %d, connect failed %d, not dialed %d; joined %d, join failed %d",
		r.Dialed, r.Connected, r.ConnectFailed, r.NotDialed, r.Joined, r.JoinFailed)
	pf("          join phase %.2fs (%.0f joins/s); dial to roomJoined %s", r.JoinPhaseSec, r.JoinsPerSec, fmtLat(r.JoinLatency))
	settle := ""
	if r.SettleSec > 0 {
		settle = fmt.Sprintf("; all joins seen after %.2fs", r.SettleSec)
		if !r.SettleOK {
			settle += " (TIMED OUT)"
		}
	}
	pf("notices   userJoined %d (at least %d: one per pair of members), userLeft %d%s", r.UserJoined, r.UserJoinedExpected, r.UserLeft, settle)
	pf("messages  sent %d (%.0f/s); expected %d, delivered %d, lost %d, duplicated %d, out-of-order %d",
		r.Sent, r.SentPerSec, r.Expected, r.Delivered, r.Lost, r.Duplicated, r.OutOfOrder)
	if r.Proto == "v2" {
		writeSummaryV2(pf, r)
	} else {
		pf("          echoes %d (missing %d, duplicated %d); stray %d, foreign %d, untracked %d, unparsed %d, server errors %d",
			r.Echoes, r.EchoesMissing, r.EchoDuplicated, r.Stray, r.Foreign, r.Untracked, r.Unparsed, r.ServerErrors)
		pf("latency   %s", fmtLat(r.Latency))
		pf("echo      %s", fmtLat(r.EchoLatency))
	}
	pf("rate      %.0f deliveries/s after warmup; drain %.2fs (%s)", r.DeliveriesPerSec, r.DrainSec, map[bool]string{true: "complete", false: "timed out"}[r.DrainComplete])
	if r.ChurnDialed > 0 {
		pf("churn     %d cycles (%.1f/s), %d failed, dial to roomJoined %s", r.ChurnCycles, r.ChurnPerSec, r.ChurnFailed, fmtLat(r.ChurnLatency))
	}
	perRead := 0.0
	if r.Reads > 0 {
		perRead = float64(r.Delivered+r.Echoes) / float64(r.Reads)
	}
	pf("load      CPU %.2fs during send+drain, %.2fs total; %.2f CPU-s per 1M deliveries; %.1f messages per read; max send lag %s, %d late sends",
		r.LoadCPUSec, r.LoadCPUTotalSec, r.LoadCPUPerMDeliveries, perRead, fmtMs(r.MaxSendLagNs), r.LateSends)
	for _, s := range r.Server {
		e := ""
		if s.Err != "" {
			e = " (" + s.Err + ")"
		}
		pf("server    pid %d: CPU %.2fs; RSS %.1f MiB before, %.1f MiB joined, %.1f MiB end, %.1f MiB peak%s",
			s.Pid, s.CPUSec, kbMiB(s.RSSBaselineKB), kbMiB(s.RSSStartKB), kbMiB(s.RSSEndKB), kbMiB(s.RSSPeakKB), e)
	}
	if len(r.Server) > 0 {
		pf("server    total CPU %.2fs, %.2f CPU-s per 1M deliveries; RSS per joined connection %.0f bytes",
			r.ServerCPUSec, r.ServerCPUPerMDeliveries, r.ServerRSSPerConnBytes)
	}
	if r.Disconnects > 0 || r.HoldDisconnects > 0 || len(r.CloseCodes) > 0 {
		pf("closes    %d joined members lost; %d closed by the server during -hold; close codes %s",
			r.Disconnects, r.HoldDisconnects, fmtMap(r.CloseCodes))
	}
	if len(r.Errors) > 0 {
		pf("errors    %s", fmtMap(r.Errors))
	}
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL: " + strings.Join(r.Failures, "; ")
	}
	pf("result    %s", verdict)
}

func kbMiB(kb int64) float64 { return float64(kb) / 1024 }

func fmtMap(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || (m[keys[i]] == m[keys[j]] && keys[i] < keys[j]) })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, "; ")
}

// writeSummaryV2 prints what v2 accounts beside the per-sender streams: publish replies,
// offsets, and the outages of the recovery workload.
func writeSummaryV2(pf func(string, ...any), r *Result) {
	pf("          acks %d (missing %d, duplicated %d, late %d, refused %d); pushed back to the publisher %d, bad replies %d",
		r.Acks, r.AcksMissing, r.AckDuplicated, r.AckLate, r.AckErrors, r.SelfPushes, r.BadReplies)
	pf("          stray %d, foreign %d, untracked %d, unparsed %d, server errors %d", r.Stray, r.Foreign, r.Untracked, r.Unparsed, r.ServerErrors)
	switch {
	case r.OffsetsJudged:
		pf("offsets   expected %d, known %d, missing %d, duplicated %d; rooms with an offset beyond their messages %d, below the first join's %d",
			r.OffsetExpected, r.OffsetDistinct, r.OffsetMissing, r.OffsetDuplicated, r.OffsetBeyond, r.OffsetStray)
	case r.WithOffset == 0 && r.NoOffset == 0:
		pf("offsets   no messages")
	case r.WithOffset == 0:
		pf("offsets   none (%d messages and replies without one: the server keeps no history); not judged", r.NoOffset)
	default:
		pf("offsets   %d with, %d without: not judged", r.WithOffset, r.NoOffset)
	}
	pf("latency   %s", fmtLat(r.Latency))
	pf("ack       %s", fmtLat(r.AckLatency))
	if r.Workload == "recovery" || r.Outages > 0 || r.Resyncs > 0 {
		pf("recovery  %d outages (share %.3g, away %gs-%gs, seed %d; %d skipped, %d gave up waiting for replies), %d back, %d failed to come back",
			r.Outages, r.ChurnShare, r.AwayMinSec, r.AwayMaxSec, r.Seed, r.OutagesSkipped, r.AwayUnanswered, r.Reconnects, r.ReconnectFailed)
		pf("          re-joins recovered %d, not recovered %d; %d messages recovered (+%d own, +%d pushed meanwhile), resyncs %d, epoch changes %d",
			r.Recovered, r.RecoveryFailed, r.RecoveredMessages, r.OwnRecovered, r.RecoveredKnown, r.Resyncs, r.EpochChanges)
		pf("          reconnect to every room re-joined %s", fmtLat(r.ReconnectLatency))
	}
}

// WriteJSON prints the result as one JSON line.
func WriteJSON(w io.Writer, r *Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
