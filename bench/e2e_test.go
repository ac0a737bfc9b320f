package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startChatd builds ./cmd/chatd (or uses $CHATD_BIN) and runs one node (embedded broker) on a
// free loopback port.
func startChatd(t *testing.T) (addr string, pid int) {
	t.Helper()
	addr, pid, _ = startChatdProc(t)
	return addr, pid
}

// startChatdProc is startChatd that also returns a channel closed when the node exits.
func startChatdProc(t *testing.T) (addr string, pid int, gone <-chan struct{}) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds and runs chatd")
	}
	bin := os.Getenv("CHATD_BIN")
	if bin == "" {
		var err error
		if bin, err = builtChatd(); err != nil {
			t.Fatal(err)
		}
	}
	// The port is probed free, then chatd binds it: another process may take it in between
	// (the load tests of this package open thousands of outgoing connections). A node that
	// exits at start saying so is started again on another port.
	for attempt := 1; ; attempt++ {
		addr, pid, gone, inUse := runChatd(t, bin)
		if !inUse {
			return addr, pid, gone
		}
		if attempt == 3 {
			t.Fatalf("chatd found its port taken three times")
		}
		t.Logf("chatd's port %s was taken before it could bind it; again", addr)
	}
}

// runChatd starts bin on a free loopback port and waits until it accepts connections. inUse
// reports a node that exited at start because the port was taken meanwhile.
func runChatd(t *testing.T, bin string) (addr string, pid int, gone <-chan struct{}, inUse bool) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer // read only once the process has exited (Wait has copied all)
	cmd := exec.Command(bin, "-addr", addr, "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chatd: %v", err)
	}
	exited := make(chan error, 1)
	goneCh := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(goneCh) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-goneCh
		if t.Failed() {
			t.Logf("chatd output:\n%s", logs.String())
		}
	})
	// Ready when it accepts connections (or fail if it exits first).
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			if strings.Contains(logs.String(), "address already in use") {
				return addr, 0, nil, true
			}
			t.Fatalf("chatd exited before listening: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("chatd did not listen on %s: %v", addr, err)
		}
	}
	return addr, cmd.Process.Pid, goneCh, false
}

// chatdBuild is ./cmd/chatd built once for every test of this binary that runs a node.
var chatdBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// builtChatd builds ./cmd/chatd on first use; TestMain removes it at the end.
func builtChatd() (string, error) {
	b := &chatdBuild
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "chatbench-chatd-"); b.err != nil {
			return
		}
		b.bin = filepath.Join(b.dir, "chatd")
		build := exec.Command("go", "build", "-o", b.bin, "./cmd/chatd")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build chatd: %v\n%s", err, out)
		}
	})
	return b.bin, b.err
}

// TestEndToEndFanoutAgainstChatd runs a short, count-bounded fanout against a real chatd: every
// message must reach every other member of its room exactly once, in order.
func TestEndToEndFanoutAgainstChatd(t *testing.T) {
	longTest(t)
	addr, pid := startChatd(t)
	const clients, rooms, count = 50, 5, 10
	// Two URLs on the same node: exercises spreading a room's members over URLs.
	args := []string{"fanout", "-url", fmt.Sprintf("ws://%s/ws,ws://%s", addr, addr),
		"-clients", strconv.Itoa(clients), "-rooms", strconv.Itoa(rooms), "-rate", "5", "-count", strconv.Itoa(count),
		"-warmup", "0", "-duration", "1m", "-drain", "30s", "-progress", "0", "-pids", strconv.Itoa(pid)}
	cfg, err := ParseFlags(args[0], args[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunLocal(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var summary bytes.Buffer
	WriteSummary(&summary, res)
	sent := uint64(clients * count)
	if !res.Pass || res.Sent != sent || res.Expected != sent*(clients/rooms-1) || res.Delivered != res.Expected ||
		res.Lost != 0 || res.Duplicated != 0 || res.OutOfOrder != 0 || res.Echoes != sent {
		t.Fatalf("fanout against chatd:\n%s", summary.String())
	}
	if len(res.Server) != 1 || res.Server[0].RSSStartKB <= 0 {
		t.Fatalf("server not sampled: %+v", res.Server)
	}
	t.Logf("\n%s", summary.String())

	// The same through the CLI with two load processes and a JSON line.
	var out, errOut bytes.Buffer
	cliArgs := append(append([]string{}, args...), "-procs", "2", "-json")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pcfg, err := ParseFlags(cliArgs[0], cliArgs[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	pres, err := RunParent(context.Background(), pcfg, exe, cliArgs, nil, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !pres.Pass || pres.Delivered != res.Expected || pres.Procs != 2 {
		WriteSummary(&out, pres)
		t.Fatalf("2 processes against chatd:\n%s\n%s", out.String(), errOut.String())
	}
	if err := WriteJSON(&out, pres); err != nil || !strings.Contains(out.String(), `"pass":true`) {
		t.Fatalf("json %v: %s", err, out.String())
	}
}

// TestEndToEndRoomcastAgainstChatd: one message per room from its first member; every other
// member gets exactly that one, through two load processes.
func TestEndToEndRoomcastAgainstChatd(t *testing.T) {
	addr, pid := startChatd(t)
	const clients, rooms = 60, 6
	args := []string{"roomcast", "-url", "ws://" + addr + "/ws", "-clients", strconv.Itoa(clients),
		"-rooms", strconv.Itoa(rooms), "-total-rate", "100", "-drain", "30s", "-progress", "0",
		"-pids", strconv.Itoa(pid), "-procs", "2"}
	cfg, err := ParseFlags(args[0], args[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	res, err := RunParent(context.Background(), cfg, exe, args, nil, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var summary bytes.Buffer
	WriteSummary(&summary, res)
	if !res.Pass || res.Sent != rooms || res.Expected != rooms*(clients/rooms-1) || res.Delivered != res.Expected ||
		res.Echoes != rooms || res.Joined != clients || res.SendersPerRoom != 1 {
		t.Fatalf("roomcast against chatd:\n%s\n%s", summary.String(), errOut.String())
	}
}

// phaseWatch is a progress writer that closes seen when a line shows the phase.
type phaseWatch struct {
	phase string
	once  sync.Once
	seen  chan struct{}
}

func (w *phaseWatch) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "] "+w.phase+" ") {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// TestEndToEndHoldSurvivesADrain: with -hold the connections stay open after the accounting;
// draining the node then closes them all (1001) without failing the run.
func TestEndToEndHoldSurvivesADrain(t *testing.T) {
	longTest(t)
	addr, pid, gone := startChatdProc(t)
	const clients, rooms = 40, 4
	cfg, err := ParseFlags("roomcast", []string{"-url", "ws://" + addr + "/ws", "-clients", strconv.Itoa(clients),
		"-rooms", strconv.Itoa(rooms), "-total-rate", "100", "-drain", "30s", "-hold", "30s", "-progress", "50ms"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	watch := &phaseWatch{phase: "hold", seen: make(chan struct{})}
	type out struct {
		res *Result
		err error
	}
	done := make(chan out, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		res, err := RunLocal(ctx, cfg, watch)
		done <- out{res, err}
	}()
	select {
	case <-watch.seen:
	case o := <-done:
		t.Fatalf("run ended before its hold phase: %v %+v", o.err, o.res)
	case <-time.After(time.Minute):
		t.Fatal("no hold phase within a minute")
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The node exits once the drain has closed every member. The hold would then run out;
	// cancel it instead (the test need not wait 30 s; an interrupted hold still reports all).
	select {
	case <-gone:
	case <-time.After(30 * time.Second):
		t.Fatal("chatd did not exit after SIGTERM")
	}
	cancel()
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	res := o.res
	if res.Lost != 0 || res.Delivered != res.Expected || res.Disconnects != 0 || res.HoldDisconnects != clients ||
		res.CloseCodes["1001"] != clients {
		var s bytes.Buffer
		WriteSummary(&s, res)
		t.Fatalf("hold + drain:\n%s", s.String())
	}
}
