package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// -procs N: the CLI re-executes itself as N children, each owning a block of the members (and a
// share of the -src addresses); this process becomes the parent. Children and parent speak JSON
// lines: children write events on stdout, the parent answers with commands on their stdin. The
// parent holds the phase barriers (all joined; all settled -> one common start time; all
// drained), samples the servers at them, prints the merged progress line, and merges the
// children's raw results (counts add, histograms merge exactly).

// ChildEnv names the environment variable that makes the CLI a child: its value is the index.
const ChildEnv = "CHATBENCH_CHILD"

type childEvent struct {
	Ev     string    `json:"ev"` // joined, settled, progress, drained, result
	Failed []int     `json:"failed,omitempty"`
	AtNs   int64     `json:"atNs,omitempty"`
	OK     bool      `json:"ok,omitempty"`
	Snap   *Snapshot `json:"snap,omitempty"`
	Raw    *Raw      `json:"raw,omitempty"`
	Err    string    `json:"err,omitempty"`
}

type parentCmd struct {
	Cmd     string `json:"cmd"` // failed, start, finish
	Failed  []int  `json:"failed,omitempty"`
	StartNs int64  `json:"startNs,omitempty"`
}

// pipeCoordinator is a child's side of the barriers.
type pipeCoordinator struct {
	mu   sync.Mutex
	out  *json.Encoder
	cmds chan parentCmd
}

func newPipeCoordinator(in io.Reader, out io.Writer, parentGone func()) *pipeCoordinator {
	p := &pipeCoordinator{out: json.NewEncoder(out), cmds: make(chan parentCmd, 4)}
	go func() {
		defer close(p.cmds)
		defer parentGone()
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 256<<20)
		for sc.Scan() {
			var c parentCmd
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				fmt.Fprintf(os.Stderr, "chatbench child: bad command from parent: %v\n", err)
				return
			}
			p.cmds <- c
		}
	}()
	return p
}

func (p *pipeCoordinator) send(ev childEvent) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.out.Encode(ev); err != nil {
		return fmt.Errorf("write to parent: %w", err)
	}
	return nil
}

func (p *pipeCoordinator) await(ctx context.Context, want string) (parentCmd, error) {
	select {
	case c, ok := <-p.cmds:
		if !ok {
			return c, fmt.Errorf("parent closed the pipe while we waited for %q", want)
		}
		if c.Cmd != want {
			return c, fmt.Errorf("parent sent %q, want %q", c.Cmd, want)
		}
		return c, nil
	case <-ctx.Done():
		return parentCmd{}, ctx.Err()
	}
}

func (p *pipeCoordinator) Joined(ctx context.Context, failed []int) ([]int, error) {
	if err := p.send(childEvent{Ev: "joined", Failed: failed}); err != nil {
		return nil, err
	}
	c, err := p.await(ctx, "failed")
	return c.Failed, err
}

func (p *pipeCoordinator) Settled(ctx context.Context, atNs int64, ok bool) (int64, error) {
	if err := p.send(childEvent{Ev: "settled", AtNs: atNs, OK: ok}); err != nil {
		return 0, err
	}
	c, err := p.await(ctx, "start")
	return c.StartNs, err
}

func (p *pipeCoordinator) Drained(ctx context.Context) error {
	if err := p.send(childEvent{Ev: "drained"}); err != nil {
		return err
	}
	_, err := p.await(ctx, "finish")
	return err
}

func (p *pipeCoordinator) Progress(s *Snapshot) { p.send(childEvent{Ev: "progress", Snap: s}) }

// RunChild runs a child's share and sends its raw result to the parent on out.
func RunChild(ctx context.Context, cfg *Config, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	co := newPipeCoordinator(in, out, cancel)
	raw, err := Run(ctx, cfg, co)
	ev := childEvent{Ev: "result", Raw: raw}
	if err != nil {
		ev.Err = err.Error()
	}
	if raw == nil {
		ev.Ev = "error"
	}
	if serr := co.send(ev); serr != nil && err == nil {
		err = serr
	}
	return err
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	enc   *json.Encoder
	stage int // 0 running, 1 joined, 2 settled, 3 drained, 4 result
	raw   *Raw
	snap  *Snapshot
}

type indexedEvent struct {
	i    int
	ev   childEvent
	exit error // set on the child's exit
	done bool
}

// RunParent runs the workload as cfg.Procs children of exe (this program) with args, and merges
// their results. Children's stderr goes to childStderr; the progress line to progress.
func RunParent(ctx context.Context, cfg *Config, exe string, args []string, progress, childStderr io.Writer) (*Result, error) {
	ss := newServerSampler(cfg.Pids)
	prog := newProgressPrinter(progress)
	cpu0 := selfCPU()
	events := make(chan indexedEvent, 64)
	kids := make([]*child, cfg.Procs)
	killAll := func() {
		for _, k := range kids {
			if k != nil && k.cmd.Process != nil {
				k.cmd.Process.Kill()
			}
		}
	}
	childStderr = &lockedWriter{w: childStderr}
	for i := range kids {
		// The children must agree on what the parent drew at random.
		cmd := exec.Command(exe, append(append([]string{}, args...), "-room-prefix", cfg.RoomPrefix,
			"-seed", strconv.FormatUint(cfg.Seed, 10))...)
		cmd.Env = append(os.Environ(), ChildEnv+"="+strconv.Itoa(i))
		cmd.Stderr = childStderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			killAll()
			return nil, fmt.Errorf("child %d: stdin pipe: %w", i, err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			killAll()
			return nil, fmt.Errorf("child %d: stdout pipe: %w", i, err)
		}
		if err := cmd.Start(); err != nil {
			killAll()
			return nil, fmt.Errorf("child %d: start %s: %w", i, exe, err)
		}
		kids[i] = &child{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin)}
		go func(i int, r io.Reader) {
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 256<<20)
			for sc.Scan() {
				var ev childEvent
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					events <- indexedEvent{i: i, ev: childEvent{Ev: "error", Err: fmt.Sprintf("bad event: %v", err)}}
					continue
				}
				events <- indexedEvent{i: i, ev: ev}
			}
			events <- indexedEvent{i: i, done: true, exit: cmd.Wait()}
		}(i, stdout)
	}

	var failedAll []int
	sent := map[int]bool{} // barriers already released
	release := func(stage int) error {
		for _, k := range kids {
			if k.stage < stage {
				return nil
			}
		}
		if sent[stage] {
			return nil
		}
		sent[stage] = true
		var cmd parentCmd
		switch stage {
		case 1:
			cmd = parentCmd{Cmd: "failed", Failed: failedAll}
		case 2:
			ss.start = ss.sample()
			cmd = parentCmd{Cmd: "start", StartNs: wallNow() + int64(startDelay)}
		case 3:
			ss.end = ss.sample()
			cmd = parentCmd{Cmd: "finish"}
		}
		for _, k := range kids {
			if k.stage == stage {
				if err := k.enc.Encode(cmd); err != nil {
					return fmt.Errorf("send %s to a child: %w", cmd.Cmd, err)
				}
			}
		}
		return nil
	}
	var tick <-chan time.Time
	if cfg.Progress > 0 {
		t := time.NewTicker(cfg.Progress)
		defer t.Stop()
		tick = t.C
	}
	interrupted := false
	exited := 0
	var firstErr error
	for exited < len(kids) {
		select {
		case <-ctx.Done():
			if !interrupted {
				interrupted = true
				for _, k := range kids {
					k.cmd.Process.Signal(syscall.SIGINT)
				}
			}
			ctx = context.Background()
		case <-tick:
			snaps := make([]*Snapshot, len(kids))
			for i, k := range kids {
				snaps[i] = k.snap
			}
			prog.print(snaps, ss.tick())
		case e := <-events:
			k := kids[e.i]
			if e.done {
				exited++
				if k.raw == nil && firstErr == nil {
					firstErr = fmt.Errorf("child %d exited without a result: %v", e.i, e.exit)
					killAll()
				}
				continue
			}
			var err error
			switch e.ev.Ev {
			case "joined":
				failedAll = append(failedAll, e.ev.Failed...)
				k.stage = 1
				err = release(1)
			case "settled":
				k.stage = 2
				err = release(2)
			case "drained":
				k.stage = 3
				err = release(3)
			case "progress":
				k.snap = e.ev.Snap
			case "result":
				k.raw, k.stage = e.ev.Raw, 4
				if e.ev.Err != "" && firstErr == nil {
					firstErr = fmt.Errorf("child %d: %s", e.i, e.ev.Err)
				}
				k.stdin.Close()
				// A child that ended early (interrupted) counts as past every barrier.
				for s := 1; s <= 3 && err == nil; s++ {
					err = release(s)
				}
			case "error":
				err = fmt.Errorf("child %d: %s", e.i, e.ev.Err)
			}
			if err != nil && firstErr == nil {
				firstErr = err
				killAll()
			}
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	raws := make([]*Raw, len(kids))
	for i, k := range kids {
		raws[i] = k.raw
	}
	m := mergeRaw(raws, cfg.Rooms)
	m.LoadCPUTotalSec += selfCPU() - cpu0
	m.Interrupted = m.Interrupted || interrupted
	return finalize(cfg, m, failedAll, ss), nil
}

// lockedWriter serializes the children's stderr copies into one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return len(p), nil
	}
	return l.w.Write(p)
}
