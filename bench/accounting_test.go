package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// The -procs tests re-execute this test binary as chatbench children.
	if os.Getenv(ChildEnv) != "" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	if chatdBuild.dir != "" {
		os.RemoveAll(chatdBuild.dir)
	}
	os.Exit(code)
}

// countConfig is a run bounded by message count, not time: every member sends exactly count
// messages as fast as the rate allows, and the run ends when all last messages arrived. Nothing
// in it depends on timing; the time bounds are only there so a broken build cannot hang.
func countConfig(t *testing.T, url string, clients, rooms, count int) *Config {
	cfg, err := Preset("fanout")
	if err != nil {
		t.Fatal(err)
	}
	cfg.URLs = []string{url}
	cfg.Clients, cfg.Rooms, cfg.Rate, cfg.Count = clients, rooms, 500, count
	cfg.Warmup, cfg.Duration, cfg.Drain = 0, time.Minute, time.Minute
	cfg.Progress = 0
	cfg.Loops = 2
	cfg.RoomPrefix = "test"
	cfg.Pids = []int{os.Getpid()}
	return cfg
}

func TestAccountingExactAgainstMisbehavingServer(t *testing.T) {
	fs := newFakeServer(t, true)
	const clients, rooms, count = 12, 2, 40
	cfg := countConfig(t, fs.url(), clients, rooms, count)
	res, err := RunLocal(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := fs.oracle()
	sent := uint64(clients * count)
	expected := sent * uint64(clients/rooms-1)
	if res.Sent != sent || res.Expected != expected {
		t.Fatalf("sent %d expected %d, want %d and %d", res.Sent, res.Expected, sent, expected)
	}
	if res.Delivered != want.delivered || res.Duplicated != want.duplicated || res.OutOfOrder != want.outOfOrder {
		t.Fatalf("delivered/dup/ooo %d/%d/%d, server wrote %d/%d/%d",
			res.Delivered, res.Duplicated, res.OutOfOrder, want.delivered, want.duplicated, want.outOfOrder)
	}
	if res.Lost != expected-want.delivered {
		t.Fatalf("lost %d, want %d", res.Lost, expected-want.delivered)
	}
	// The pattern must really have exercised every kind of misdelivery.
	if res.Lost == 0 || res.Duplicated == 0 || res.OutOfOrder == 0 {
		t.Fatalf("pattern did not trigger: lost %d dup %d ooo %d", res.Lost, res.Duplicated, res.OutOfOrder)
	}
	if res.Echoes != sent || res.EchoesMissing != 0 || res.Holes != res.Lost {
		t.Fatalf("echoes %d missing %d holes %d", res.Echoes, res.EchoesMissing, res.Holes)
	}
	if !res.DrainComplete || res.Pass {
		t.Fatalf("drain complete %v, pass %v (a lossy run must fail)", res.DrainComplete, res.Pass)
	}
	if res.Joined != clients || res.UserJoined != res.UserJoinedExpected || res.UserJoinedExpected != rooms*(6*5/2) {
		t.Fatalf("joined %d, userJoined %d of %d", res.Joined, res.UserJoined, res.UserJoinedExpected)
	}
	fs.mu.Lock()
	pings, pongs := fs.pings, fs.pongs
	fs.mu.Unlock()
	// Pongs were written right after roomJoined, long before our close frame, which the fake
	// server has read by the time the close handshake finished.
	if pings != clients || pongs != clients || len(res.Server) != 1 || res.Server[0].RSSBaselineKB <= 0 {
		t.Fatalf("pings %d (pongs so far %d), server samples %+v", pings, pongs, res.Server)
	}
}

func TestAccountingCleanServerPasses(t *testing.T) {
	fs := newFakeServer(t, false)
	cfg := countConfig(t, fs.url(), 10, 3, 25)
	cfg.Size = 200
	cfg.WaitNotices = true
	res, err := RunLocal(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Rooms of 4, 3 and 3 members.
	expected := uint64(4*25*3 + 3*25*2 + 3*25*2)
	if !res.Pass || res.Expected != expected || res.Delivered != expected || res.Lost+res.Duplicated+res.OutOfOrder != 0 {
		t.Fatalf("pass %v expected %d delivered %d lost %d dup %d ooo %d", res.Pass, res.Expected, res.Delivered, res.Lost, res.Duplicated, res.OutOfOrder)
	}
	if !res.SettleOK || res.Latency.Count != expected || res.EchoLatency.Count != 250 {
		t.Fatalf("settle %v latency n=%d echo n=%d", res.SettleOK, res.Latency.Count, res.EchoLatency.Count)
	}
}

func TestAccountingAcrossProcesses(t *testing.T) {
	fs := newFakeServer(t, true)
	const clients, rooms, count = 12, 2, 40
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"fanout", "-url", fs.url(), "-clients", "12", "-rooms", "2", "-rate", "500", "-count", "40",
		"-warmup", "0", "-duration", "1m", "-drain", "1m", "-progress", "0", "-procs", "3"}
	cfg, err := ParseFlags(args[0], args[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunParent(context.Background(), cfg, exe, args, nil, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	want := fs.oracle()
	sent := uint64(clients * count)
	if res.Sent != sent || res.Expected != sent*5 || res.Delivered != want.delivered ||
		res.Duplicated != want.duplicated || res.OutOfOrder != want.outOfOrder || res.Lost != sent*5-want.delivered {
		t.Fatalf("3 processes: sent %d expected %d delivered %d dup %d ooo %d lost %d; server wrote %+v",
			res.Sent, res.Expected, res.Delivered, res.Duplicated, res.OutOfOrder, res.Lost, want)
	}
	if res.Procs != 3 || res.Joined != clients || res.Latency.Count != want.delivered || !res.DrainComplete {
		t.Fatalf("procs %d joined %d latency n=%d drain %v", res.Procs, res.Joined, res.Latency.Count, res.DrainComplete)
	}
}

func TestChurnAgainstFakeServer(t *testing.T) {
	fs := newFakeServer(t, false)
	cfg := countConfig(t, fs.url(), 4, 2, 0)
	cfg.Workload = "churn"
	cfg.Rate = 0
	cfg.ChurnRate = 200
	cfg.Duration = 200 * time.Millisecond
	res, err := RunLocal(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The number of cycles depends on timing; what must hold is that each dialed cycle ended
	// as a completed cycle or a counted failure, and the stable members saw joins and leaves.
	if res.ChurnDialed == 0 || res.ChurnCycles+res.ChurnFailed != res.ChurnDialed || res.ChurnFailed != 0 {
		t.Fatalf("churn dialed %d cycles %d failed %d errors %v", res.ChurnDialed, res.ChurnCycles, res.ChurnFailed, res.Errors)
	}
	if !res.Pass {
		t.Fatalf("churn run failed: %+v", res)
	}
}

// With -dial-until-joined a member keeps its dial slot until roomJoined: against a server that
// answers joins slowly, never more than -dial-concurrency connections are upgraded but not yet
// joined. Without it the slot is freed at the upgrade, and joins pile up at the slow server.
func TestDialUntilJoinedBoundsJoinsInFlight(t *testing.T) {
	for _, tc := range []struct {
		until bool
		check func(max int) bool
		want  string
	}{
		{true, func(m int) bool { return m <= 3 }, "at most 3"},
		{false, func(m int) bool { return m > 3 }, "more than 3 (the slots are freed at the upgrade)"},
	} {
		t.Run(fmt.Sprint("until=", tc.until), func(t *testing.T) {
			fs := newFakeServer(t, false)
			fs.joinDelay = 20 * time.Millisecond
			cfg := countConfig(t, fs.url(), 24, 3, 1)
			cfg.DialConcurrency = 3
			cfg.DialUntilJoined = tc.until
			res, err := RunLocal(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Pass || res.Joined != 24 {
				t.Fatalf("pass %v joined %d", res.Pass, res.Joined)
			}
			fs.mu.Lock()
			m := fs.maxUnjoined
			fs.mu.Unlock()
			if !tc.check(m) {
				t.Fatalf("%d connections upgraded and waiting for roomJoined at once, want %s", m, tc.want)
			}
		})
	}
}
