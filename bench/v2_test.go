package bench

import (
	"bytes"
	"context"
	"os"
	"testing"
)

// v2Config is countConfig speaking v2, each member in k rooms.
func v2Config(t *testing.T, url string, clients, rooms, k, count int) *Config {
	cfg := countConfig(t, url, clients, rooms, count)
	cfg.Proto, cfg.RoomsPerClient = "v2", k
	return cfg
}

func summary(r *Result) string {
	var b bytes.Buffer
	WriteSummary(&b, r)
	return b.String()
}

// One room per member: every publish is answered ok and pushed to every other member exactly
// once; every member knows every offset of its room once.
func TestV2FanoutExact(t *testing.T) {
	fs := newFakeHistServer(t, histOpts{})
	const clients, rooms, count = 12, 2, 20
	cfg := v2Config(t, fs.url(), clients, rooms, 1, count)
	cfg.WaitNotices = true
	res, err := RunLocal(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := fs.counts()
	sent := uint64(clients * count)
	if !res.Pass || res.Sent != sent || res.Expected != sent*5 || res.Delivered != res.Expected || uint64(n.pushes) != res.Delivered ||
		res.Acks != sent || res.AcksMissing != 0 || res.Echoes != 0 || res.EchoesMissing != 0 || res.AckLatency.Count != sent {
		t.Fatalf("v2 fanout (server: %+v):\n%s", n, summary(res))
	}
	// Each room: 6 receivers * 120 messages, own ones known from the publish replies.
	if !res.OffsetsJudged || res.OffsetExpected != 2*6*120 || res.OffsetDistinct != res.OffsetExpected || res.OffsetMissing != 0 ||
		res.OffsetDuplicated != 0 || res.WithOffset != res.Delivered+res.Acks || !res.SettleOK {
		t.Fatalf("offsets:\n%s", summary(res))
	}
}

// Against a server without history (chatd today) v2 fanout is judged by the per-sender account
// alone; offsets are reported missing, not judged.
func TestV2FanoutWithoutHistory(t *testing.T) {
	fs := newFakeHistServer(t, histOpts{noHistory: true})
	res, err := RunLocal(context.Background(), v2Config(t, fs.url(), 8, 2, 1, 10), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pass || res.OffsetsJudged || res.WithOffset != 0 || res.NoOffset != res.Delivered+res.Acks || res.Delivered != 80*3 {
		t.Fatalf("without history:\n%s", summary(res))
	}
}

// Several rooms per member, and a server that drops pushes: the per-room account is exact,
// and the offset ledger finds the same holes.
func TestV2MultiRoomCountsLosses(t *testing.T) {
	fs := newFakeHistServer(t, histOpts{lossy: true})
	// 6 members in 2 of 3 rooms each: 4 members per room, 12 messages each, 6 per room.
	const clients, rooms, k, count = 6, 3, 2, 12
	res, err := RunLocal(context.Background(), v2Config(t, fs.url(), clients, rooms, k, count), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := fs.counts()
	sent := uint64(clients * count)
	// Per room: 4 members * 6 messages = 24 published, each to 3 others.
	if res.Sent != sent || res.Expected != rooms*24*3 || res.Delivered != uint64(n.pushes) || res.Lost != uint64(n.dropped) ||
		n.dropped == 0 || res.Duplicated != 0 || res.OutOfOrder != 0 || res.Stray != 0 || res.Holes != res.Lost || res.Pass {
		t.Fatalf("lossy multi-room (server: %+v):\n%s", n, summary(res))
	}
	if !res.OffsetsJudged || res.OffsetExpected != rooms*4*24 || res.OffsetMissing != uint64(n.dropped) || res.Acks != sent {
		t.Fatalf("offsets (server: %+v):\n%s", n, summary(res))
	}
}

// Multi-room across two load processes, through the CLI: counts merge exactly.
func TestV2MultiRoomAcrossProcesses(t *testing.T) {
	fs := newFakeHistServer(t, histOpts{})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// 9 members in 3 of 4 rooms each: 27 memberships, rooms of 7, 7, 7 and 6.
	args := []string{"fanout", "-proto", "v2", "-url", fs.url(), "-clients", "9", "-rooms", "4", "-rooms-per-client", "3",
		"-rate", "500", "-count", "9", "-warmup", "0", "-duration", "1m", "-drain", "1m", "-progress", "0", "-procs", "2"}
	cfg, err := ParseFlags(args[0], args[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunParent(context.Background(), cfg, exe, args, nil, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	// Every member sends 3 messages to each of its rooms.
	var expected, offsets uint64
	for _, size := range []uint64{7, 7, 7, 6} {
		expected += size * (size*3 - 3)
		offsets += size * size * 3
	}
	if !res.Pass || res.Procs != 2 || res.Sent != 81 || res.Expected != expected || res.Delivered != expected ||
		res.Acks != 81 || res.OffsetExpected != offsets || res.OffsetMissing != 0 || res.RoomsPerClient != 3 {
		t.Fatalf("2 processes, 3 rooms per member (server: %+v):\n%s", fs.counts(), summary(res))
	}
}

func recoveryConfig(t *testing.T, url string) *Config {
	cfg, err := ParseFlags("recovery", []string{"-url", url, "-clients", "12", "-rooms", "3", "-rooms-per-client", "2",
		"-rate", "40", "-count", "60", "-warmup", "0", "-duration", "1m", "-drain", "1m", "-progress", "0",
		"-churn-share", "0.34", "-away", "150ms-300ms", "-client-loops", "2", "-room-prefix", "rec"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Four of twelve members go away for a while and come back with since: every message reaches
// every member exactly once, part of them through the join results.
func TestRecoveryNothingLost(t *testing.T) {
	fs := newFakeHistServer(t, histOpts{})
	res, err := RunLocal(context.Background(), recoveryConfig(t, fs.url()), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := fs.counts()
	sent := uint64(12 * 60)
	if !res.Pass || res.Sent != sent || res.Lost != 0 || res.Duplicated != 0 || res.Delivered != res.Expected ||
		res.Acks != sent || res.OffsetMissing != 0 || res.OffsetDuplicated != 0 || !res.OffsetsJudged {
		t.Fatalf("recovery (server: %+v):\n%s", n, summary(res))
	}
	if res.Outages != 4 || res.Reconnects != 4 || res.Recovered != 8 || n.sinceJoins != 8 || n.recovered != 8 ||
		res.RecoveredMessages != uint64(n.recoveredOther) || res.OwnRecovered != uint64(n.recoveredOwn) ||
		res.RecoveredMessages == 0 || res.ReconnectLatency.Count != 4 {
		t.Fatalf("outages (server: %+v):\n%s", n, summary(res))
	}
	t.Logf("\n%s", summary(res))
}

// The same against a server that drops pushes: a drop is lost unless the member's recovery
// happened to return it. The fake knows which; the client must count exactly those. (Pushes the
// fake wrote just before a member dropped its connection never arrive, and come back through the
// recovery: so the fake's push count is no oracle for deliveries here.)
func TestRecoveryCountsLosses(t *testing.T) {
	fs := newFakeHistServer(t, histOpts{lossy: true})
	res, err := RunLocal(context.Background(), recoveryConfig(t, fs.url()), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := fs.counts()
	lost := uint64(fs.neverSeen())
	if res.Pass || lost == 0 || res.Lost != lost || res.OffsetMissing != lost || res.Duplicated != 0 || res.OffsetDuplicated != 0 ||
		res.RecoveredMessages != uint64(n.recoveredOther) || res.Outages != 4 || res.Reconnects != 4 || res.Recovered != 8 {
		t.Fatalf("lossy recovery: server dropped %d, %d never recovered (%+v):\n%s", n.dropped, lost, n, summary(res))
	}
}

// A server that cannot recover (recovered: false): each re-join counts as a recovery failure, and
// what the members missed while away is lost, exactly.
func TestRecoveryRefused(t *testing.T) {
	fs := newFakeHistServer(t, histOpts{forget: true})
	res, err := RunLocal(context.Background(), recoveryConfig(t, fs.url()), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := fs.counts()
	lost := uint64(fs.neverSeen())
	if res.Pass || lost == 0 || res.Lost != lost || res.OffsetMissing != lost || res.RecoveryFailed != 8 || res.Recovered != 0 ||
		res.RecoveredMessages != 0 || res.Reconnects != 4 || n.sinceJoins != 8 {
		t.Fatalf("recovery refused: %d never seen (server %+v):\n%s", lost, n, summary(res))
	}
}

// A resync push is answered by a re-join with since, which recovers what the member missed.
func TestV2ResyncIsAnswered(t *testing.T) {
	fs := newFakeHistServer(t, histOpts{resyncAt: 10})
	res, err := RunLocal(context.Background(), v2Config(t, fs.url(), 8, 2, 1, 20), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := fs.counts()
	// Both rooms reach offset 10 with their 4 members joined: 8 resyncs, 8 re-joins.
	if !res.Pass || n.resyncs != 8 || res.Resyncs != 8 || n.sinceJoins != 8 || res.Recovered != 8 || res.Lost != 0 ||
		res.Duplicated != 0 || res.OffsetDuplicated != 0 || res.Delivered != 160*3 ||
		res.RecoveredMessages+res.RecoveredKnown+res.OwnRecovered != uint64(n.recoveredOther+n.recoveredOwn) {
		t.Fatalf("resync (server %+v):\n%s", n, summary(res))
	}
}

// recovery needs history: against a server without it, every member stops at its first publish,
// whose answer has no offset (a room without messages yet answers a join with epoch "" even on a
// server with history, so the join cannot tell), and the run says why. The one member that goes
// away (share 0.1 of 6) may do so before its first publish; back, it sends at once what fell due
// while away (catch-up: 20/s for 100 ms, 2, or 3 at a timer boundary) before any answer can stop
// it: so at most 5 + 3 publishes.
func TestRecoveryNeedsHistory(t *testing.T) {
	fs := newFakeHistServer(t, histOpts{noHistory: true})
	var out, errOut bytes.Buffer
	code := Main([]string{"recovery", "-url", fs.url(), "-clients", "6", "-rooms", "2", "-rate", "20", "-count", "20",
		"-warmup", "0", "-away", "100ms", "-progress", "0"}, &out, &errOut)
	said := bytes.Contains(errOut.Bytes(), []byte("keeps no history")) || bytes.Contains(out.Bytes(), []byte("keeps no history"))
	if code == 0 || !said || fs.counts().publishes > 5+3 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
}

// Recovery in two load processes: each plans its own members' outages from the parent's seed.
func TestRecoveryAcrossProcesses(t *testing.T) {
	fs := newFakeHistServer(t, histOpts{})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"recovery", "-url", fs.url(), "-clients", "12", "-rooms", "3", "-rooms-per-client", "2",
		"-rate", "40", "-count", "60", "-warmup", "0", "-duration", "1m", "-drain", "1m", "-progress", "0",
		"-churn-share", "0.34", "-away", "150ms-300ms", "-procs", "2", "-seed", "42"}
	cfg, err := ParseFlags(args[0], args[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunParent(context.Background(), cfg, exe, args, nil, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	n := fs.counts()
	// 6 members per process: round(0.34 * 6) = 2 outages each.
	if !res.Pass || res.Procs != 2 || res.Seed != 42 || res.Lost != 0 || res.Outages != 4 || res.Reconnects != 4 ||
		res.Recovered != 8 || res.RecoveredMessages != uint64(n.recoveredOther) || res.OffsetMissing != 0 {
		t.Fatalf("recovery in 2 processes (server %+v):\n%s", n, summary(res))
	}
}
