package redis

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Redis Cluster mode: clients and the slot map.
//
// Reads (history, members, room lists) go through go-redis's ClusterClient,
// which follows redirections and retries on its own: a read done twice is
// harmless. Writes (exec.go) and subscriptions (subscribe.go) use one plain
// client per master, chosen by the broker's own slot map, because the broker
// must know exactly which connection a command or a subscription went out on:
// to send a write at most once, and to move a room's subscription when its
// slot changes hands. The ClusterClient takes its slot map from the broker's
// (ClusterOptions.ClusterSlots), so both route alike; left to itself it would
// keep sending to a dead master until its own periodic reload, since a dead
// master never answers MOVED.
//
// The slot map is read with CLUSTER SLOTS from any node that answers, at
// start, every HeartbeatInterval, and at once when something says it is
// stale: a MOVED reply, a subscriber connection lost, a shard channel
// unsubscribed by Redis (its slot left that master). While something is
// broken (a subscriber connection down, a room without a master), it is
// reloaded with backoff until the replica that took over shows up in it.
// After each load, rooms whose slot changed master are moved to the new
// master's subscriber connection, and their flows get a checkpoint there
// (flow.go): what was published in between is filled from the history, or
// the members are told to resync (history.go: a promoted replica starts a
// new epoch). Publishes still waiting on a node that is no longer a master
// are given up (lanes.go).

// topology is the slot map.
type topology struct {
	mu     sync.RWMutex
	slots  []goredis.ClusterSlot // as last read
	owners []string              // slot -> master address ("" unknown)
	ids    map[string]string     // master address -> node id
	known  []string              // addresses to ask for the map: seeds, then every node seen
	last   string                // the address that gave the last map
	failed map[string]time.Time  // addresses that did not answer lately
}

// owner returns the master that serves slot ("" if none is known).
func (t *topology) owner(slot int) string {
	if slot < 0 || slot >= numSlots {
		return ""
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.owners == nil {
		return ""
	}
	return t.owners[slot]
}

// learn records what a MOVED reply said, until the next load.
func (t *topology) learn(slot int, addr string) {
	t.mu.Lock()
	if t.owners != nil {
		t.owners[slot] = addr
	}
	t.mu.Unlock()
}

// isMaster reports whether addr serves slots.
func (t *topology) isMaster(addr string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, ok := t.ids[addr]
	return ok
}

// candidates lists the addresses to ask for the map: the one that answered
// last, then masters, then the others, and those that did not answer in the
// last minute at the end (a hung node costs a whole dial timeout).
func (t *topology) candidates() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var masters, others, bad []string
	for _, a := range t.known {
		if a == t.last {
			continue
		}
		_, master := t.ids[a]
		switch {
		case time.Since(t.failed[a]) < time.Minute:
			bad = append(bad, a)
		case master:
			masters = append(masters, a)
		default:
			others = append(others, a)
		}
	}
	out := make([]string, 0, len(t.known))
	if t.last != "" {
		out = append(out, t.last)
	}
	out = append(out, masters...)
	out = append(out, others...)
	return append(out, bad...)
}

// answered records how the node at addr answered a request for the map.
func (t *topology) answered(addr string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok {
		t.last = addr
		delete(t.failed, addr)
		return
	}
	if t.last == addr {
		t.last = ""
	}
	if t.failed == nil {
		t.failed = map[string]time.Time{}
	}
	t.failed[addr] = time.Now()
}

// install replaces the map with slots. changed reports that a slot has
// another master now; failover that a master that served slots before
// serves none now (a replica took over, maybe without the last writes), as
// opposed to slots moving between masters.
func (t *topology) install(slots []goredis.ClusterSlot) (changed, failover bool) {
	owners := make([]string, numSlots)
	ids := map[string]string{}
	seen := map[string]bool{}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.known {
		seen[a] = true
	}
	for _, s := range slots {
		if len(s.Nodes) == 0 || s.Start < 0 || s.End >= numSlots {
			continue
		}
		m := s.Nodes[0]
		for i := s.Start; i <= s.End; i++ {
			owners[i] = m.Addr
		}
		ids[m.Addr] = m.ID
		for _, n := range s.Nodes {
			if !seen[n.Addr] {
				seen[n.Addr] = true
				t.known = append(t.known, n.Addr)
			}
		}
	}
	newIDs := map[string]bool{}
	for _, id := range ids {
		newIDs[id] = true
	}
	for _, id := range t.ids {
		if !newIDs[id] {
			failover = true
		}
	}
	changed = !slices.Equal(owners, t.owners)
	t.slots, t.owners, t.ids = slots, owners, ids
	return changed, failover
}

// read returns the slots as last read (nil before the first read).
func (t *topology) read() []goredis.ClusterSlot {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.slots
}

// parseCluster reads the -redis-cluster value: host:port,host:port, or a URL
// redis://[[user]:password@]host:port?addr=host:port&addr=... (rediss:// for
// TLS).
func parseCluster(s string) (*goredis.ClusterOptions, error) {
	if strings.Contains(s, "://") {
		co, err := goredis.ParseClusterURL(s)
		if err != nil {
			return nil, fmt.Errorf("redis broker: bad cluster URL: %w", err)
		}
		return co, nil
	}
	co := &goredis.ClusterOptions{}
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("redis broker: cluster address %q: %w", a, err)
		}
		co.Addrs = append(co.Addrs, a)
	}
	if len(co.Addrs) == 0 {
		return nil, fmt.Errorf("redis broker: no cluster address in %q", s)
	}
	return co, nil
}

// CheckCluster reports whether s is a valid Options.Cluster.
func CheckCluster(s string) error {
	_, err := parseCluster(s)
	return err
}

// clusterOptions tunes the ClusterClient used for reads like the single
// client (clientOptions): RESP2, deadlines from the context, no identity
// commands.
func (o Options) clusterOptions() (*goredis.ClusterOptions, error) {
	co, err := parseCluster(o.Cluster)
	if err != nil {
		return nil, err
	}
	co.DialTimeout = o.DialTimeout
	co.DialerRetries = 1
	co.ReadTimeout = o.OpTimeout
	co.WriteTimeout = o.OpTimeout
	co.ContextTimeoutEnabled = true
	co.Protocol = 2
	co.DisableIdentity = true
	co.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return co, nil
}

// shard returns the plain client of one cluster node (made on first use):
// the options of the single mode (no retries) with the cluster's
// credentials.
func (b *Broker) shard(addr string) *goredis.Client {
	b.shmu.Lock()
	defer b.shmu.Unlock()
	if c := b.shards[addr]; c != nil {
		return c
	}
	co := b.copts
	c := goredis.NewClient(&goredis.Options{
		Addr: addr, Username: co.Username, Password: co.Password, TLSConfig: co.TLSConfig,
		DialTimeout: b.opt.DialTimeout, DialerRetries: 1, ReadTimeout: b.opt.OpTimeout, WriteTimeout: b.opt.OpTimeout,
		ContextTimeoutEnabled: true, MaxRetries: -1, Protocol: 2, DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	if b.shardsClosed {
		// Closed: a goroutine that ends after closeClients gets a client
		// whose calls fail at once, and nothing is left open.
		_ = c.Close()
		return c
	}
	b.shards[addr] = c
	return c
}

// dropShard closes the client of a node that is no longer a master: what
// waits on its connections fails at once (the next use makes a new client).
func (b *Broker) dropShard(addr string) {
	b.shmu.Lock()
	c := b.shards[addr]
	delete(b.shards, addr)
	b.shmu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// loadTopology reads the slot map from the first node that answers and
// moves the rooms whose slot changed master. Nodes are asked a few at a
// time, concurrently: one that hangs (no reset, no answer) would otherwise
// hold up the reading for a whole dial timeout, while the failover it
// causes is to be noticed at once. Any answer will do: a node that has not
// yet heard of a change gives a map that the next reading corrects.
func (b *Broker) loadTopology() error {
	type answer struct {
		addr  string
		slots []goredis.ClusterSlot
		err   error
	}
	const wave = 3
	cands := b.topo.candidates()
	if len(cands) == 0 {
		return fmt.Errorf("no cluster node known")
	}
	var lastErr error
	for len(cands) > 0 {
		n := min(wave, len(cands))
		ctx, cancel := context.WithTimeout(b.ctx, b.opt.DialTimeout)
		ch := make(chan answer, n)
		for _, addr := range cands[:n] {
			ask := func() {
				slots, err := b.shard(addr).ClusterSlots(ctx).Result()
				if err == nil && len(slots) == 0 {
					err = fmt.Errorf("%s serves no slots (cluster not set up?)", addr)
				}
				ch <- answer{addr, slots, err}
			}
			if !b.spawn(ask) {
				ch <- answer{addr, nil, errBrokerClosed}
			}
		}
		cands = cands[n:]
		var got *answer
		for range n {
			a := <-ch
			if a.err != nil {
				lastErr = a.err
				if b.ctx.Err() == nil {
					b.topo.answered(a.addr, false)
				}
				continue
			}
			got = &a
			break
		}
		cancel() // (the slower ones give up)
		if got != nil {
			b.topo.answered(got.addr, true)
			b.install(got.slots)
			return nil
		}
		if b.ctx.Err() != nil {
			return lastErr
		}
	}
	return lastErr
}

// install makes slots the broker's slot map.
func (b *Broker) install(slots []goredis.ClusterSlot) {
	b.stats.topologyLoads.Add(1)
	changed, failover := b.topo.install(slots)
	if failover {
		b.stats.failovers.Add(1)
		// The new master may lack the last writes (replication is
		// asynchronous): re-register this node's members.
		b.needReconcile.Store(true)
		b.log.Warn("a redis master was replaced by its replica; re-registering members")
	}
	if changed {
		b.cluster.ReloadState(b.ctx)
		b.abandonLanes()
		b.reroute()
	}
}

// clusterSlots is the ClusterClient's source of slot maps: the broker's. It
// is asked when the ClusterClient suspects its map is stale, so it also
// asks for a fresh read.
func (b *Broker) clusterSlots(context.Context) ([]goredis.ClusterSlot, error) {
	b.refreshTopology()
	if s := b.topo.read(); s != nil {
		return s, nil
	}
	return nil, unavailable("no slot map yet", nil)
}

// refreshTopology asks for a reload of the slot map soon.
func (b *Broker) refreshTopology() {
	if !b.keys.cluster {
		return
	}
	select {
	case b.topoSig <- struct{}{}:
	default:
	}
}

// topologyLoop keeps the slot map fresh: every HeartbeatInterval, on demand,
// and with backoff while subscriptions wait for a master.
func (b *Broker) topologyLoop() {
	defer b.wg.Done()
	wait := minBackoff
	t := time.NewTimer(b.opt.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-b.topoSig:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case <-b.ctx.Done():
			return
		}
		err := b.loadTopology()
		if b.ctx.Err() != nil {
			return
		}
		// A cluster that gives its slot map is reachable, though one of its
		// masters may not be (links.go, commandFailed).
		if err != nil {
			b.setCmd(false, err)
			b.setSub(false, err)
		} else {
			if !b.cmdOK.Load() {
				b.needReconcile.Store(true)
			}
			b.setCmd(true, nil)
			b.setSub(true, nil)
		}
		next := b.opt.HeartbeatInterval
		if err != nil || b.subscriptionsWaiting() {
			next = wait
			wait = min(b.backoff(wait), time.Second)
		} else {
			wait = minBackoff
		}
		// Requests in between coalesce into the next load.
		if !b.sleep(minBackoff) {
			return
		}
		t.Reset(next)
	}
}
