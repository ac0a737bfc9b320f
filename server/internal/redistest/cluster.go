package redistest

import (
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

	"github.com/redis/go-redis/v9"
)

// Cluster is a private Redis Cluster for a test: redis-server children in
// cluster mode on free loopback ports, in a temporary directory, without
// persistence, killed when the test ends. Its masters share the 16384 slots
// evenly; each has its replicas. A test can kill a master (SIGKILL) and
// wait until one of its replicas took over.
//
// There is no fallback: miniredis has no cluster mode. Without redis-server
// the test is skipped, unless CHATD_REQUIRE_REDIS=1 makes it fail.
type Cluster struct {
	t   testing.TB
	bin string
	dir string

	mu    sync.Mutex
	nodes []*clusterNode
	raws  map[int]*redis.Client

	client *redis.ClusterClient
}

type clusterNode struct {
	port   int
	id     string
	cmd    *exec.Cmd
	exit   chan struct{}
	frozen bool
}

// NodeTimeout is the cluster-node-timeout of the helper's clusters: a
// master that stops answering for this long is failed over.
const NodeTimeout = 1000 * time.Millisecond

// StartCluster starts a cluster of masters masters with replicas replicas
// each and waits until it serves every slot.
func StartCluster(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	quietOnce.Do(func() { redis.SetLogger(quiet{}) })
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CHATD_REQUIRE_REDIS") == "1" {
			t.Fatalf("redistest: redis-server not found and CHATD_REQUIRE_REDIS=1: %v", err)
		}
		t.Skipf("redistest: redis-server not found (a Redis Cluster has no miniredis stand-in)")
	}
	c := &Cluster{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(c.killAll)
	for i := 0; i < masters*(1+replicas); i++ {
		c.nodes = append(c.nodes, c.startNode(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, n := range c.nodes {
		cl := c.raw(i)
		id, err := cl.ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatalf("redistest: CLUSTER MYID on %d: %v", n.port, err)
		}
		n.id = id
	}
	for i := 0; i < masters; i++ {
		lo, hi := i*16384/masters, (i+1)*16384/masters-1
		if err := c.raw(i).ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER ADDSLOTSRANGE: %v", err)
		}
	}
	for _, n := range c.nodes[1:] {
		if err := c.raw(0).ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(n.port)).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER MEET: %v", err)
		}
	}
	c.waitUntil(ctx, "every node to know every other", func() bool {
		for i := range c.nodes {
			s, err := c.raw(i).ClusterNodes(ctx).Result()
			if err != nil || strings.Count(strings.TrimSpace(s), "\n")+1 != len(c.nodes) || strings.Contains(s, "handshake") {
				return false
			}
		}
		return true
	})
	for i := masters; i < len(c.nodes); i++ {
		m := c.nodes[(i-masters)%masters]
		if err := c.raw(i).ClusterReplicate(ctx, m.id).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER REPLICATE: %v", err)
		}
	}
	c.waitUntil(ctx, "the cluster to serve every slot, replicas in sync", func() bool {
		for i := range c.nodes {
			info, err := c.raw(i).ClusterInfo(ctx).Result()
			if err != nil || !servesEverySlot(info) {
				return false
			}
			if i >= masters {
				r, err := c.raw(i).Info(ctx, "replication").Result()
				if err != nil || !strings.Contains(r, "master_link_status:up") {
					return false
				}
			}
		}
		return true
	})
	return c
}

// startNode runs one redis-server in cluster mode on a free port.
func (c *Cluster) startNode(i int) *clusterNode {
	c.t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		n := &clusterNode{port: freeClusterPort(c.t)}
		if lastErr = c.run(n); lastErr == nil {
			return n
		}
	}
	c.t.Fatalf("redistest: cannot start cluster node %d: %v", i, lastErr)
	return nil
}

// freeClusterPort returns a loopback TCP port that was free a moment ago,
// with its cluster bus port (10,000 higher) free too. redis-server refuses
// cluster mode on a port above 55535, and the kernel hands out ephemeral
// ports up to 60999 (on this machine), in runs of nearby numbers: five
// tries of freePort alone once all fell above it.
func freeClusterPort(t testing.TB) int { return clusterPortFrom(t, func() int { return freePort(t) }) }

// clusterPortFrom is freeClusterPort over the ports next returns.
func clusterPortFrom(t testing.TB, next func() int) int {
	for range 1000 {
		p := next()
		if p > 55535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return p
	}
	t.Fatal("redistest: no free port with a free cluster bus port")
	return 0
}

// run starts n's redis-server and waits until it answers PING.
func (c *Cluster) run(n *clusterNode) error {
	dir := filepath.Join(c.dir, strconv.Itoa(n.port))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(c.bin, "--port", strconv.Itoa(n.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir, "--protected-mode", "no",
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.Itoa(int(NodeTimeout/time.Millisecond)),
		// Keep serving the slots of the other masters while one fails over.
		"--cluster-require-full-coverage", "no")
	cmd.Stdout, cmd.Stderr = logf, logf
	// A test binary killed (a -timeout, ^C) takes its cluster with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exit := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exit) }()
	addr := "127.0.0.1:" + strconv.Itoa(n.port)
	deadline := time.Now().Add(10 * time.Second)
	for !ping(addr) {
		select {
		case <-exit:
			return fmt.Errorf("redis-server exited at start (see %s)", filepath.Join(dir, "redis.log"))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exit
			return fmt.Errorf("redis-server did not answer PING within 10 s")
		}
	}
	n.cmd, n.exit = cmd, exit
	return nil
}

func (c *Cluster) waitUntil(ctx context.Context, what string, cond func() bool) {
	c.t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			c.t.Fatalf("redistest: timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// raw returns a plain client of node i (the same one every time), closed
// when the test ends.
func (c *Cluster) raw(i int) *redis.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raws == nil {
		c.raws = map[int]*redis.Client{}
	}
	cl := c.raws[i]
	if cl == nil {
		cl = redis.NewClient(&redis.Options{Addr: c.Addr(i), Protocol: 2, DisableIdentity: true, MaxRetries: -1,
			DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
		c.raws[i] = cl
		c.t.Cleanup(func() { _ = cl.Close() })
	}
	return cl
}

// Node returns a plain client of node i, for commands to that node alone.
func (c *Cluster) Node(i int) *redis.Client { return c.raw(i) }

// Addr returns node i's host:port.
func (c *Cluster) Addr(i int) string { return "127.0.0.1:" + strconv.Itoa(c.nodes[i].port) }

// Seeds returns every node's address, comma-separated: the -redis-cluster
// form.
func (c *Cluster) Seeds() string {
	var a []string
	for i := range c.nodes {
		a = append(a, c.Addr(i))
	}
	return strings.Join(a, ",")
}

// Size returns the number of nodes (masters and replicas).
func (c *Cluster) Size() int { return len(c.nodes) }

// Client returns a go-redis cluster client (the same one every time),
// closed when the test ends.
func (c *Cluster) Client() *redis.ClusterClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		var addrs []string
		for i := range c.nodes {
			addrs = append(addrs, c.Addr(i))
		}
		cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Protocol: 2, DisableIdentity: true})
		c.client = cl
		c.t.Cleanup(func() { _ = cl.Close() })
	}
	return c.client
}

// Slot returns the hash slot of key (CLUSTER KEYSLOT, asked of a node
// that answers).
func (c *Cluster) Slot(key string) int {
	c.t.Helper()
	for i := range c.nodes {
		if !c.alive(i) {
			continue
		}
		n, err := c.raw(i).ClusterKeySlot(context.Background(), key).Result()
		if err != nil {
			c.t.Fatalf("redistest: CLUSTER KEYSLOT: %v", err)
		}
		return int(n)
	}
	c.t.Fatal("redistest: no cluster node runs")
	return -1
}

// MasterOf returns the index of the node that serves slot now, as a live
// node other than a killed one sees it (-1 if none does).
func (c *Cluster) MasterOf(slot int) int {
	c.t.Helper()
	for i := range c.nodes {
		if !c.alive(i) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		slots, err := c.raw(i).ClusterSlots(ctx).Result()
		cancel()
		if err != nil {
			continue
		}
		for _, s := range slots {
			if slot >= s.Start && slot <= s.End && len(s.Nodes) > 0 {
				return c.index(s.Nodes[0].Addr)
			}
		}
		return -1
	}
	return -1
}

// Masters returns the indexes of the nodes serving slots now.
func (c *Cluster) Masters() []int {
	seen := map[int]bool{}
	var out []int
	for s := 0; s < 16384; s += 16384 / 64 {
		if m := c.MasterOf(s); m >= 0 && !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

func (c *Cluster) index(addr string) int {
	for i := range c.nodes {
		if c.Addr(i) == addr {
			return i
		}
	}
	return -1
}

// alive reports whether node i runs (and answers: not frozen).
func (c *Cluster) alive(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].cmd != nil && !c.nodes[i].frozen
}

// Kill stops node i at once (SIGKILL) and waits until it is gone.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	n := c.nodes[i]
	cmd, exit := n.cmd, n.exit
	n.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Process.Signal(syscall.SIGCONT) // (a frozen process dies only once it runs)
	<-exit
}

// WaitFailover waits until a node other than old serves slot and every
// live node says the cluster is fine, and returns the new master's index.
func (c *Cluster) WaitFailover(slot, old int, timeout time.Duration) int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m := -1
	c.waitUntil(ctx, "a replica to take over", func() bool {
		m = c.MasterOf(slot)
		if m < 0 || m == old {
			return false
		}
		for i := range c.nodes {
			if !c.alive(i) {
				continue
			}
			info, err := c.raw(i).ClusterInfo(ctx).Result()
			if err != nil || !servesEverySlot(info) {
				return false
			}
		}
		return true
	})
	return m
}

// servesEverySlot reports whether a node's CLUSTER INFO says the cluster
// serves every slot. cluster_state:ok alone is not enough: with
// cluster-require-full-coverage off a node says ok before gossip has told
// it who serves the other masters' slots, and a client that reads its slot
// map from it then finds slots without an owner.
func servesEverySlot(info string) bool {
	return strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384")
}

func (c *Cluster) killAll() {
	for i := range c.nodes {
		c.Kill(i)
	}
}

// Restart starts node i again on its port, with its cluster configuration
// (nodes.conf: the same node id and slots) and no data, as a master
// restarted without persistence would, and waits until the cluster is fine.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.Kill(i)
	n := c.nodes[i]
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.run(n)
		if err == nil {
			break
		}
		if time.Now().After(deadline) { // the port may linger briefly
			c.t.Fatalf("redistest: restart cluster node on port %d: %v", n.port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c.waitUntil(ctx, "the cluster fine after the restart", func() bool {
		for j := range c.nodes {
			if !c.alive(j) {
				continue
			}
			info, err := c.raw(j).ClusterInfo(ctx).Result()
			if err != nil || !servesEverySlot(info) {
				return false
			}
		}
		return true
	})
}

// MigrateSlot moves slot from master from to master to the way
// redis-cli --cluster reshard does, while clients keep using it: the slot
// is marked importing and migrating, its keys are moved with MIGRATE in
// batches (clients get ASK for the moved ones, TRYAGAIN for multi-key
// commands split between the two), then every node is told the new owner
// (subscribers of its shard channels on the old owner get sunsubscribe).
// pause runs between the batches, so a test can interleave traffic.
func (c *Cluster) MigrateSlot(slot, from, to int, pause func()) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	src, dst := c.raw(from), c.raw(to)
	fromID, toID := c.nodes[from].id, c.nodes[to].id
	must := func(err error) {
		c.t.Helper()
		if err != nil {
			c.t.Fatalf("redistest: migrate slot %d: %v", slot, err)
		}
	}
	must(dst.Do(ctx, "cluster", "setslot", slot, "importing", fromID).Err())
	must(src.Do(ctx, "cluster", "setslot", slot, "migrating", toID).Err())
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, slot, 1).Result()
		must(err)
		if len(keys) == 0 {
			break
		}
		args := []any{"migrate", "127.0.0.1", c.nodes[to].port, "", 0, 5000, "keys"}
		for _, k := range keys {
			args = append(args, k)
		}
		must(src.Do(ctx, args...).Err())
		if pause != nil {
			pause()
		}
	}
	must(dst.Do(ctx, "cluster", "setslot", slot, "node", toID).Err())
	must(src.Do(ctx, "cluster", "setslot", slot, "node", toID).Err())
	for i := range c.nodes {
		if i != from && i != to && c.alive(i) {
			_ = c.raw(i).Do(ctx, "cluster", "setslot", slot, "node", toID).Err()
		}
	}
	c.waitUntil(ctx, "every node to agree on the slot's new owner", func() bool {
		for i := range c.nodes {
			if !c.alive(i) {
				continue
			}
			slots, err := c.raw(i).ClusterSlots(ctx).Result()
			if err != nil {
				return false
			}
			ok := false
			for _, s := range slots {
				if slot >= s.Start && slot <= s.End && len(s.Nodes) > 0 && s.Nodes[0].Addr == c.Addr(to) {
					ok = true
				}
			}
			if !ok {
				return false
			}
		}
		return true
	})
}

// Freeze stops node i with SIGSTOP: it keeps its sockets but answers
// nothing, like a host that hangs or vanished without a reset; the cluster
// fails it over after NodeTimeout. Thaw (SIGCONT) lets it run again (it
// then learns that it was replaced and becomes a replica).
func (c *Cluster) Freeze(i int) { c.signal(i, syscall.SIGSTOP, true) }

// Thaw resumes a frozen node.
func (c *Cluster) Thaw(i int) { c.signal(i, syscall.SIGCONT, false) }

func (c *Cluster) signal(i int, sig syscall.Signal, frozen bool) {
	c.mu.Lock()
	cmd := c.nodes[i].cmd
	c.nodes[i].frozen = frozen
	c.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(sig)
	}
}
