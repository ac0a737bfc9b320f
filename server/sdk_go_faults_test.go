package server_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	chatdclient "github.com/chatd/chatd/clients/go"
	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
)

// The Go client across faults: a node drained or killed, Redis restarted
// empty. Every room comes back with what was missed (contiguous offsets) or
// a GapEvent: never a silent hole.

// A room joined while empty names its epoch, so that a client that only
// published there recovers on another node what others said meanwhile.
// (Depends on the v2 contract fix "a join names its room's epoch, even
// empty".)
func TestSDKGoEmptyRoomRecovery(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs, 2, nil)
	A, B := sdkURL(nodes[0].srv.Addr()), sdkURL(nodes[1].srv.Addr())
	alice := sdkConnect(t, A, "alice", func(c *chatdclient.Config) {
		c.AltURLs = []string{B}
		c.BackoffMin, c.BackoffMax = time.Second, time.Second // bob speaks while she is away
	})
	ra := sdkRecord(alice)
	room := sdkJoin(t, alice, "fresh", nil)
	joinedAt := room.Position()
	if joinedAt.Epoch == "" || joinedAt.Offset != 0 {
		t.Fatalf("position after joining an empty room %+v, want its epoch and offset 0", joinedAt)
	}
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		p, err := room.Publish(ctx, fmt.Sprint("alice ", i))
		if err != nil || p.Offset != uint64(i) || p.Epoch != joinedAt.Epoch {
			t.Fatalf("publish %d: %+v, %v", i, p, err)
		}
	}
	bob := sdkConnect(t, B, "bob", nil)
	roomB := sdkJoin(t, bob, "fresh", nil)

	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := nodes[0].srv.Shutdown(dctx); err != nil {
		t.Fatal(err)
	}
	ra.wait(t, 10*time.Second, "alice's drop", func(evs []chatdclient.Event) bool {
		return sdkCount(evs, func(e chatdclient.StateEvent) bool { return e.State == chatdclient.StateReconnecting }) > 0
	})
	for i := 4; i <= 5; i++ {
		if _, err := roomB.Publish(ctx, fmt.Sprint("bob ", i)); err != nil {
			t.Fatal(err)
		}
	}
	ra.wait(t, 10*time.Second, "the room back", func(evs []chatdclient.Event) bool {
		return sdkCount[chatdclient.RecoveredEvent](evs, nil)+sdkCount[chatdclient.GapEvent](evs, nil) > 0
	})
	evs := ra.events()
	if sdkCount[chatdclient.GapEvent](evs, nil) != 0 {
		t.Fatalf("a gap after joining an empty room: %s", sdkDescribe(evs))
	}
	ra.wait(t, 5*time.Second, "bob's two messages", func(evs []chatdclient.Event) bool {
		return len(sdkMessages(evs, "fresh")) == 2
	})
	for i, m := range sdkMessages(ra.events(), "fresh") {
		if m.Offset != uint64(4+i) || m.Content != fmt.Sprint("bob ", 4+i) || !m.Replay {
			t.Fatalf("recovered %+v", m)
		}
	}
}

// On a cluster that keeps no history (-history-size -1), a client that comes
// back cannot be told what it missed: every room reports a gap.
func TestSDKGoNoHistoryGap(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs, 2, func(o *redisbroker.Options) { o.HistorySize = -1 })
	A, B := sdkURL(nodes[0].srv.Addr()), sdkURL(nodes[1].srv.Addr())
	alice := sdkConnect(t, A, "alice", func(c *chatdclient.Config) { c.AltURLs = []string{B} })
	ra := sdkRecord(alice)
	sdkJoin(t, alice, "nohist", nil)
	bob := sdkConnect(t, B, "bob", nil)
	room := sdkJoin(t, bob, "nohist", nil)
	if p, err := room.Publish(context.Background(), "unnumbered"); err != nil || p.Offset != 0 {
		t.Fatalf("publish %+v, %v: want no offset", p, err)
	}
	ra.wait(t, 5*time.Second, "bob's message", func(evs []chatdclient.Event) bool { return sdkHas(evs, "nohist", "unnumbered") })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nodes[0].srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ra.wait(t, 10*time.Second, "the room back", func(evs []chatdclient.Event) bool {
		return sdkCount[chatdclient.RecoveredEvent](evs, nil)+sdkCount[chatdclient.GapEvent](evs, nil) > 0
	})
	if sdkCount(ra.events(), func(e chatdclient.GapEvent) bool { return e.RoomID == "nohist" }) != 1 {
		t.Fatalf("want a gap: %s", sdkDescribe(ra.events()))
	}
}

// A node is killed (SIGKILL) under traffic: the client reconnects to the
// other node and every room recovers; each room's messages end up exactly
// the published ones, offsets 1..N, once each, in order.
func TestSDKGoNodeKilled(t *testing.T) {
	longTest(t)
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server (the killed node is a child process)")
	}
	bin := buildChatd(t, t.TempDir())
	B := startClusterNode(t, rs, "B", nil)
	K := startChildNode(t, bin, rs, "K", "-rate-limit", "-1")
	urlK, urlB := sdkURL(K.addr), sdkURL(B.srv.Addr())
	rooms := []string{"k1", "k2", "k3"}

	alice := sdkConnect(t, urlK, "alice", func(c *chatdclient.Config) { c.AltURLs = []string{urlB} })
	ra := sdkRecord(alice)
	for _, r := range rooms {
		sdkJoin(t, alice, r, &chatdclient.JoinOptions{History: 10})
	}
	pub := sdkConnect(t, urlB, "pub", nil)
	sdkRecord(pub) // (its events are drained)
	var pubRooms []*chatdclient.Room
	for _, r := range rooms {
		pubRooms = append(pubRooms, sdkJoin(t, pub, r, nil))
	}
	acked := make([][]uint64, len(rooms))
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		defer close(done)
		for i := 0; i < 600; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			p, err := pubRooms[i%3].Publish(context.Background(), fmt.Sprint("m", i))
			if err != nil {
				done <- err
				return
			}
			acked[i%3] = append(acked[i%3], p.Offset)
		}
	}()
	ra.wait(t, 20*time.Second, "traffic before the kill", func(evs []chatdclient.Event) bool {
		return sdkCount[chatdclient.MessageEvent](evs, nil) >= 60
	})
	if err := K.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-K.exited
	ra.wait(t, 20*time.Second, "every room back on B", func(evs []chatdclient.Event) bool {
		return sdkCount[chatdclient.RecoveredEvent](evs, nil)+sdkCount[chatdclient.GapEvent](evs, nil) >= len(rooms)
	})
	// Traffic after the recovery, then the end.
	n := sdkCount[chatdclient.MessageEvent](ra.events(), nil)
	ra.wait(t, 20*time.Second, "traffic after the kill", func(evs []chatdclient.Event) bool {
		return sdkCount[chatdclient.MessageEvent](evs, nil) >= n+60
	})
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("publisher: %v", err)
	}
	for i, r := range pubRooms {
		p, err := r.Publish(context.Background(), "end")
		if err != nil {
			t.Fatal(err)
		}
		acked[i] = append(acked[i], p.Offset)
	}
	ra.wait(t, 20*time.Second, "the end in every room", func(evs []chatdclient.Event) bool {
		for _, r := range rooms {
			if !sdkHas(evs, r, "end") {
				return false
			}
		}
		return true
	})

	evs := ra.events()
	down := slices.IndexFunc(evs, func(ev chatdclient.Event) bool {
		e, ok := ev.(chatdclient.StateEvent)
		return ok && e.State == chatdclient.StateDisconnected
	})
	up := slices.IndexFunc(evs, func(ev chatdclient.Event) bool {
		e, ok := ev.(chatdclient.StateEvent)
		return ok && e.State == chatdclient.StateConnected && e.URL == urlB
	})
	if down < 0 || up < down || evs[down].(chatdclient.StateEvent).Code != chatdclient.CloseAbnormal {
		t.Fatalf("want a drop (1006) and a connection to B after it: %s", sdkDescribe(evs))
	}
	if g := sdkCount[chatdclient.GapEvent](evs, nil); g != 0 {
		t.Fatalf("%d gaps: the history covered the outage", g)
	}
	for i, r := range rooms {
		gaps, got := sdkCheckNoSilentHole(t, "alice", evs, r, 1)
		var offsets []uint64
		for _, m := range sdkMessages(evs, r) {
			offsets = append(offsets, m.Offset)
		}
		if gaps != 0 || got != len(acked[i]) || !slices.Equal(offsets, acked[i]) {
			t.Fatalf("room %s: %d messages (offsets %v..), %d published (%v..)", r, got, sdkHead(offsets), len(acked[i]),
				sdkHead(acked[i]))
		}
		if sdkCount(evs, func(e chatdclient.RecoveredEvent) bool { return e.RoomID == r && e.Reason == "reconnect" }) != 1 {
			t.Fatalf("room %s: no recovery after the reconnect: %s", r, sdkDescribe(evs))
		}
	}
	t.Logf("alice: %+v", alice.Stats())
}

func sdkHead(s []uint64) []uint64 { return s[:min(len(s), 5)] }

// Redis restarts with its data gone, under traffic on two nodes: the
// history's epoch changes, and every client is told so with a GapEvent in
// every room; within an epoch the offsets stay contiguous; nothing is
// delivered twice; traffic goes on.
func TestSDKGoRedisRestartedEmpty(t *testing.T) {
	longTest(t)
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server (a restart that loses the data)")
	}
	nodes := startCluster(t, rs, 2, nil)
	A, B := sdkURL(nodes[0].srv.Addr()), sdkURL(nodes[1].srv.Addr())
	rooms := []string{"f1", "f2"}
	type listener struct {
		name string
		c    *chatdclient.Client
		rec  *sdkRecorder
	}
	var ls []listener
	for i, url := range []string{A, B} {
		name := fmt.Sprint("listener", i)
		c := sdkConnect(t, url, name, func(c *chatdclient.Config) { c.AltURLs = []string{A, B} })
		rec := sdkRecord(c)
		for _, r := range rooms {
			sdkJoin(t, c, r, &chatdclient.JoinOptions{History: 20})
		}
		ls = append(ls, listener{name, c, rec})
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	acked, refused := 0, 0
	for i, url := range []string{A, B} {
		c := sdkConnect(t, url, fmt.Sprint("sender", i), nil)
		sdkRecord(c)
		var rs []*chatdclient.Room
		for _, r := range rooms {
			rs = append(rs, sdkJoin(t, c, r, nil))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 4000; j++ {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := rs[j%2].Publish(ctx, fmt.Sprint(i, "-", j))
				cancel()
				mu.Lock()
				if err == nil {
					acked++
				} else {
					refused++ // Redis away: cluster_unavailable, a timeout, or not_in_room while re-joining
				}
				mu.Unlock()
			}
		}()
	}
	total := func(r *sdkRecorder) int { return sdkCount[chatdclient.MessageEvent](r.events(), nil) }
	for _, l := range ls {
		l.rec.wait(t, 20*time.Second, "traffic before the restart", func(evs []chatdclient.Event) bool {
			return sdkCount[chatdclient.MessageEvent](evs, nil) >= 100
		})
	}
	rs.Kill()
	rs.Restart()
	waitFor(t, 20*time.Second, "both nodes healthy", func() bool { return nodes[0].broker.Healthy() && nodes[1].broker.Healthy() })
	for _, l := range ls {
		n := total(l.rec)
		l.rec.wait(t, 30*time.Second, "a gap in every room and traffic after it", func(evs []chatdclient.Event) bool {
			for _, r := range rooms {
				if sdkCount(evs, func(e chatdclient.GapEvent) bool { return e.RoomID == r }) == 0 {
					return false
				}
			}
			return sdkCount[chatdclient.MessageEvent](evs, nil) >= n+100
		})
	}
	close(stop)
	wg.Wait()
	last := sdkConnect(t, A, "last", nil)
	for _, r := range rooms {
		room := sdkJoin(t, last, r, nil)
		if _, err := room.Publish(context.Background(), "the end"); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range ls {
		l.rec.wait(t, 20*time.Second, "the end", func(evs []chatdclient.Event) bool {
			return sdkHas(evs, "f1", "the end") && sdkHas(evs, "f2", "the end")
		})
		evs := l.rec.events()
		for _, r := range rooms {
			gaps, n := sdkCheckNoSilentHole(t, l.name, evs, r, 1)
			t.Logf("%s, room %s: %d messages, %d gaps, %d recoveries", l.name, r, n, gaps,
				sdkCount(evs, func(e chatdclient.RecoveredEvent) bool { return e.RoomID == r }))
			if gaps == 0 {
				t.Fatalf("%s, room %s: the history was lost, but no gap reported", l.name, r)
			}
		}
		// (Duplicates and Stale count what the client dropped: pushes at or below a join's
		// offset, or of the lost epoch after the re-join.)
		t.Logf("%s: %+v", l.name, l.c.Stats())
	}
	t.Logf("%d publishes acked, %d refused", acked, refused)
}

// The README's Go example (clients/go/examples/echobot) runs as written: it
// answers a message in general.
func TestSDKGoReadmeExample(t *testing.T) {
	longTest(t)
	s := startServer(t, nil)
	url := sdkURL(s.Addr())
	alice := sdkConnect(t, url, "alice", nil)
	ra := sdkRecord(alice)
	room := sdkJoin(t, alice, "general", nil)

	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "echobot")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/chatd/chatd/clients/go/examples/echobot").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "CHATD_URL="+url)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("echobot's log:\n%s", stderr.String())
		}
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	ra.wait(t, 20*time.Second, "echobot in general", func(evs []chatdclient.Event) bool {
		return sdkCount(evs, func(e chatdclient.JoinedEvent) bool { return e.User.Name == "echobot" }) == 1
	})
	if _, err := room.Publish(context.Background(), "hello"); err != nil {
		t.Fatal(err)
	}
	ra.wait(t, 10*time.Second, "the echo", func(evs []chatdclient.Event) bool {
		return sdkHas(evs, "general", "echo: hello")
	})
	select {
	case line := <-lines:
		if line != "alice: hello" {
			t.Fatalf("echobot printed %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("echobot printed nothing")
	}
}
