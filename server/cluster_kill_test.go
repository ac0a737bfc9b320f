package server_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
)

// buildChatd builds the chatd binary into dir.
func buildChatd(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "chatd")
	start := time.Now()
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/chatd/chatd/cmd/chatd").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/chatd: %v\n%s", err, out)
	}
	t.Logf("built chatd in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// A node killed with SIGKILL: the survivors remove its members, announce
// userLeft with the corrected counts (once), and delete the rooms it alone
// had, within the heartbeat TTL.
func TestClusterNodeKilled(t *testing.T) {
	longTest(t)
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server: miniredis does not expire keys (heartbeats) by itself")
	}
	const interval, ttl = time.Second, 3 * time.Second
	dir := t.TempDir()
	bin := buildChatd(t, dir)
	nodes := startCluster(t, rs, 2, func(o *redisbroker.Options) {
		o.HeartbeatInterval, o.HeartbeatTTL = interval, ttl
	})
	A, B := nodes[0], nodes[1]
	rc := rs.Client()
	child := startChildNode(t, bin, rs, "doomed", "-heartbeat-interval", interval.String(), "-heartbeat-ttl", ttl.String())
	doomed, doomedExited, addr := child.cmd, child.exited, child.addr
	a := dialChat(t, A.srv.Addr())
	b := dialChat(t, B.srv.Addr())
	c := dialChat(t, A.srv.Addr())
	d1, d2, d3, d4 := dialChat(t, addr), dialChat(t, addr), dialChat(t, addr), dialChat(t, addr)
	a.join("k", "a")
	d1.join("k", "d1")
	a.expect("userJoined")
	d2.join("k", "d2")
	a.expect("userJoined")
	d1.expect("userJoined")
	if m := b.join("k", "b"); m.num("memberCount") != 4 {
		t.Fatalf("count %v", m)
	}
	a.expect("userJoined")
	c.join("k2", "c")
	if m := d3.join("k2", "d3"); m.num("memberCount") != 2 {
		t.Fatalf("count %v", m)
	}
	c.expect("userJoined")
	d4.join("k3", "d4")

	if err := doomed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-doomedExited
	limit := ttl + interval + time.Second // + scheduling and the reap itself

	// Each survivor hears both departures once, with falling counts.
	for _, cl := range []*client{a, b} {
		var ids []string
		for n := 3; n >= 2; n-- {
			m := expectWithin(cl, "userLeft", limit)
			if m.num("memberCount") != n {
				t.Fatalf("userLeft %v, want count %d", m, n)
			}
			ids = append(ids, m.str("userId"))
		}
		slices.Sort(ids)
		want := []string{d1.userID, d2.userID}
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Fatalf("userLeft for %v, want %v", ids, want)
		}
	}
	if m := expectWithin(c, "userLeft", limit); m.str("userId") != d3.userID || m.str("username") != "d3" || m.num("memberCount") != 1 {
		t.Fatalf("got %v", m)
	}
	took := time.Since(killed)
	t.Logf("dead node's members removed %v after kill -9 (TTL %v, interval %v)", took.Round(time.Millisecond), ttl, interval)
	if took > ttl+500*time.Millisecond { // (+ scheduling and the reap itself)
		t.Fatalf("took %v, more than the TTL", took)
	}
	// Announced once: the next event after them is a new message.
	sendChat(a, "still here")
	if m := b.expect("message"); m.str("content") != "still here" {
		t.Fatalf("got %v (a duplicate userLeft?)", m)
	}

	// Redis agrees.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	mem := rc.SMembers(ctx, "room_members:k").Val()
	slices.Sort(mem)
	want := []string{a.userID, b.userID}
	slices.Sort(want)
	if !slices.Equal(mem, want) {
		t.Fatalf("room_members:k %v, want %v", mem, want)
	}
	waitFor(t, 5*time.Second, "the dead node forgotten", func() bool {
		return !rc.SIsMember(ctx, "chatd:nodes", "doomed").Val() &&
			rc.Exists(ctx, "chatd:node:doomed:members", "user_data:k:"+d1.userID, "room_info:k3", "room_members:k3").Val() == 0
	})
	rooms := roomList(c)
	if got := roomsString(rooms); len(rooms) != 2 || rooms[0].str("roomId") != "k" || rooms[0].num("memberCount") != 2 ||
		rooms[1].str("roomId") != "k2" || rooms[1].num("memberCount") != 1 {
		t.Fatalf("room list %s", got)
	}
	var reaped int64
	for _, n := range nodes {
		reaped += n.broker.Stats().Reaped
	}
	if reaped != 4 {
		t.Fatalf("reaped %d members in all, want 4", reaped)
	}
}

// childNode is a chatd node running as a real child process.
type childNode struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	addr    string
	logPath string
	err     error // the exit status, once exited is closed
}

// startChildNode runs bin as a cluster node named id on a free port and
// waits until it is registered in Redis and ready. The child is killed at
// cleanup.
func startChildNode(t *testing.T, bin string, rs *redistest.Server, id string, args ...string) *childNode {
	t.Helper()
	rc := rs.Client()
	beats := func() bool { return rc.Exists(context.Background(), "chatd:node:"+id+":alive").Val() == 1 }
	return runChildNode(t, bin, id, []string{"-redis", rs.URL()}, beats, args...)
}

// runChildNode runs bin as a node named id on a free port, with brokerArgs
// (its Redis or Redis Cluster) and args, and waits until beats reports its
// heartbeat and it is ready. A port taken by another process between the
// probe and the bind makes the child exit at start; it is then retried on
// another port. The child is killed at cleanup.
func runChildNode(t *testing.T, bin, id string, brokerArgs []string, beats func() bool, args ...string) *childNode {
	t.Helper()
	dir := t.TempDir()
	for attempt := 0; ; attempt++ {
		n := &childNode{addr: "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t)), exited: make(chan struct{}),
			logPath: filepath.Join(dir, fmt.Sprintf("%s-%d.log", id, attempt))}
		logf, err := os.Create(n.logPath)
		if err != nil {
			t.Fatal(err)
		}
		argv := append([]string{"-addr", n.addr}, brokerArgs...)
		argv = append(argv, "-node-id", id, "-loops", "1")
		n.cmd = exec.Command(bin, append(argv, args...)...)
		n.cmd.Stdout, n.cmd.Stderr = logf, logf
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		logf.Close()
		go func() { n.err = n.cmd.Wait(); close(n.exited) }()
		t.Cleanup(func() {
			_ = n.cmd.Process.Kill()
			<-n.exited
			if t.Failed() {
				b, _ := os.ReadFile(n.logPath)
				t.Logf("%s's log:\n%s", id, b)
			}
		})
		started := false
		waitFor(t, 20*time.Second, "the child node up", func() bool {
			select {
			case <-n.exited:
				return true
			default:
			}
			started = beats() && readyz(n.addr) == 200
			return started
		})
		if started {
			return n
		}
		if attempt == 2 {
			t.Fatalf("the child node exited at start three times")
		}
		t.Logf("the child node exited at start (port taken?); again")
	}
}
