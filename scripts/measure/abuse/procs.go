package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// proc is a process the attack started; stop kills it (SIGKILL: nothing of
// a run's state is kept).
type proc struct {
	cmd    *exec.Cmd
	pid    int
	addr   string        // host:port it serves
	exited chan struct{} // closed once it exited
}

// newProc starts cmd and watches for its exit.
func newProc(cmd *exec.Cmd, addr string) (*proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, addr: addr, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// cluster is the nodes (and the Redis) of one attack.
type cluster struct {
	redis *proc
	nodes []*proc
}

func (c *cluster) stop() {
	for _, n := range c.nodes {
		n.stop()
	}
	c.redis.stop()
}

func (c *cluster) url(i int) string { return "ws://" + c.nodes[i%len(c.nodes)].addr + "/ws" }

func (c *cluster) pids() []int {
	var p []int
	for _, n := range c.nodes {
		p = append(p, n.pid)
	}
	if c.redis != nil {
		p = append(p, c.redis.pid)
	}
	return p
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startCluster starts n chatd nodes with flags (n > 1: on a private
// redis-server too) and waits until each is ready.
func (e *env) startCluster(n int, flags ...string) (*cluster, error) {
	flags = append(flags, e.extra...)
	c := &cluster{}
	var redisURL string
	if n > 1 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "no", "--dir", e.dir)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if c.redis, err = newProc(cmd, fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			return nil, err
		}
		if err := waitRedis(c.redis.addr); err != nil {
			c.stop()
			return nil, err
		}
		redisURL = "redis://" + c.redis.addr
	}
	for i := 0; i < n; i++ {
		var err error
		for attempt := 0; ; attempt++ { // another process may take the free port first
			err = e.startNode(c, i, redisURL, flags)
			if err == nil || attempt == 4 || !strings.Contains(err.Error(), "address already in use") {
				break
			}
		}
		if err != nil {
			c.stop()
			return nil, err
		}
	}
	setup := fmt.Sprintf("%d node(s)", n)
	if n > 1 {
		setup += " + redis-server"
	}
	if len(flags) > 0 {
		setup += ", flags " + strings.Join(flags, " ")
	} else {
		setup += ", default flags"
	}
	e.res.Setup = setup
	return c, nil
}

// startNode starts node i of c on a free port and waits until it is ready.
func (e *env) startNode(c *cluster, i int, redisURL string, flags []string) error {
	{
		port, err := freePort()
		if err != nil {
			return err
		}
		args := []string{"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-node-id", fmt.Sprintf("n%d", i+1), "-drain-window", "0"}
		if redisURL != "" {
			args = append(args, "-redis", redisURL)
		}
		args = append(args, flags...)
		cmd := exec.Command(e.chatd, args...)
		logf, err := os.Create(filepath.Join(e.dir, fmt.Sprintf("n%d.log", i+1)))
		if err != nil {
			return err
		}
		defer logf.Close()
		cmd.Stdout, cmd.Stderr = logf, logf
		p, err := newProc(cmd, fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return err
		}
		if err := waitReady(p.addr, p.exited); err != nil {
			p.stop()
			return fmt.Errorf("node %d: %w (log: %s)", i+1, err, tail(logf.Name()))
		}
		c.nodes = append(c.nodes, p)
	}
	return nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return strings.TrimSpace(string(b))
}

func waitRedis(addr string) error {
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if rc.Ping(context.Background()).Err() == nil {
			return nil
		}
	}
	return fmt.Errorf("redis-server on %s not up", addr)
}

func waitReady(addr string, exited chan struct{}) error {
	hc := http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			return fmt.Errorf("exited before it was ready")
		default:
		}
		if resp, err := hc.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
	}
	return fmt.Errorf("%s not ready in 20 s", addr)
}

// hasFlag reports whether the binary knows a flag (BEFORE lacks later ones).
func (e *env) hasFlag(name string) bool {
	out, _ := exec.Command(e.chatd, "-help").CombinedOutput()
	return strings.Contains(string(out), "\n  -"+name+"\n") || strings.Contains(string(out), "  -"+name+" ")
}

// procStatus reads a field of /proc/<pid>/status in KiB (VmRSS, VmHWM).
func procStatus(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == key+":" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return -1
}

// cpuSeconds is a process's user + system CPU so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100 // USER_HZ
}

// metrics reads a node's /metrics into name{labels} -> value.
func metrics(addr string) map[string]float64 {
	m := map[string]float64{}
	hc := http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[line[:i]] = v
		}
	}
	return m
}

// metricSum adds every series of a metric whose name starts with prefix
// (all label sets), over the given nodes.
func (c *cluster) metricSum(prefix string) float64 {
	var s float64
	for _, n := range c.nodes {
		for k, v := range metrics(n.addr) {
			if k == prefix || strings.HasPrefix(k, prefix+"{") {
				s += v
			}
		}
	}
	return s
}

// redisUsedMemory is INFO memory's used_memory.
func redisUsedMemory(addr string) int64 {
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	info, err := rc.Info(context.Background(), "memory").Result()
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return -1
}

func sortStrings(s []string) []string { sort.Strings(s); return s }
