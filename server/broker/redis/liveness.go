package redis

import (
	"context"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Node liveness.
//
// Each node refreshes its heartbeat key (keys.nodeAlive: no TTL, the time
// it lapses as its value, scripts.go) every HeartbeatInterval and lists
// itself in keyNodes; its members are in its registration hashes
// (keys.nodeRegs), kept by the join and leave scripts. Every check period
// (HeartbeatTTL/10, at most HeartbeatInterval) a node looks at the
// heartbeats of the other listed nodes. A beat lasts HeartbeatTTL minus one
// check period, so a dead node is found at most
// HeartbeatTTL after its last beat. Such a node is reaped (reap.go), unless
// its connections show it alive (activeNodes: one Redis only).
//
// Redis Cluster: a node's heartbeat lives on one master. While that master
// fails over, the node cannot beat (its requests fail fast, as in an outage
// of a single Redis, and it re-registers its members afterwards), and the
// others cannot read its heartbeat; set HeartbeatTTL above the cluster's
// failover time (cluster-node-timeout plus a second or two), or a failover
// can get live nodes reaped (they then announce their members again).
//
// The same loop watches the command connection: while Redis is unreachable
// it retries with backoff (instead of beating), and when Redis answers
// again it queues a re-registration of the node's members (reconcile).

// reapChunk bounds the members reaped per round trip.
const reapChunk = 500

// reapedMarkerTTL is how long a reaped node's marker waits for it to return.
const reapedMarkerTTL = 24 * time.Hour

// checkPeriod is how often a node looks for dead nodes.
func (o Options) checkPeriod() time.Duration {
	return max(min(o.HeartbeatInterval, o.HeartbeatTTL/10), 10*time.Millisecond)
}

// aliveTTL is the lifetime of a heartbeat key.
func (o Options) aliveTTL() time.Duration { return o.HeartbeatTTL - o.checkPeriod() }

func (b *Broker) livenessLoop() {
	defer b.wg.Done()
	wait := minBackoff
	b.upSince.Store(time.Now().UnixNano())
	var lastBeat time.Time
	beatDown := false // cluster mode: the heartbeat's master does not answer
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-b.wake:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case <-b.ctx.Done():
			return
		}
		if !b.cmdOK.Load() || beatDown || time.Since(lastBeat) >= b.opt.HeartbeatInterval {
			beat := time.Now()
			reaped, err := b.heartbeat()
			if err != nil {
				if b.ctx.Err() != nil {
					return
				}
				if b.keys.cluster {
					// One master of several (the one with this node's
					// heartbeat) is unreachable, maybe failing over: the
					// node serves on; the slot map tells the cluster's
					// health (cluster.go).
					if !beatDown {
						beatDown = true
						wait = minBackoff
						b.log.Warn("heartbeat failed; retrying (other nodes cannot see this node meanwhile)", "err", err)
					}
					t.Reset(wait)
					wait = b.backoff(wait)
					continue
				}
				if b.cmdOK.Load() {
					b.setCmd(false, err)
					wait = minBackoff
				}
				t.Reset(wait)
				wait = b.backoff(wait)
				continue
			}
			lastBeat = beat
			wait = minBackoff
			if beatDown {
				beatDown = false
				b.needReconcile.Store(true) // (a failover may have lost some)
				b.upSince.Store(time.Now().UnixNano())
				b.log.Info("heartbeat works again; re-registering members")
			}
			if !b.cmdOK.Load() && !b.keys.cluster {
				b.needReconcile.Store(true)
				b.setCmd(true, nil) // (sets upSince)
			}
			if reaped {
				b.needReconcile.Store(true)
			}
		}
		if b.needReconcile.Load() {
			// Re-register once this node's rooms are subscribed again, so
			// that its own members hear the announcements it makes (bounded:
			// counts matter more than announcements).
			if !b.subscriptionsSettled() && time.Since(time.Unix(0, b.upSince.Load())) < b.opt.OpTimeout {
				t.Reset(minBackoff)
				continue
			}
			b.requestReconcile()
		}
		b.reapDead()
		t.Reset(b.opt.checkPeriod())
	}
}

// livenessTimeout bounds one beat or one look for dead nodes. In cluster
// mode it is at most a heartbeat interval: a master that hangs (no reset,
// no answer) must not keep the node from beating on the replica that
// replaced it, nor from seeing dead nodes on the other masters, for a whole
// OpTimeout (a heartbeat that lapses gets a live node reaped). A reap cut
// short goes on at the next look.
func (b *Broker) livenessTimeout() time.Duration {
	if b.keys.cluster {
		return min(b.opt.OpTimeout, b.opt.HeartbeatInterval)
	}
	return b.opt.OpTimeout
}

// heartbeat refreshes the node's heartbeat; reaped reports that survivors
// removed the node's members while it was away.
func (b *Broker) heartbeat() (reaped bool, err error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.livenessTimeout())
	defer cancel()
	id := b.opt.NodeID
	alive := b.keys.nodeAlive(id)
	keys := []string{alive, b.keys.nodeReaped(id)}
	cmds := []rcmd{{b.keySlot(alive), nil}}
	if b.keys.cluster {
		cmds = append(cmds, rcmd{keySlot(keyNodes), goredis.NewIntCmd(ctx, "sadd", keyNodes, id)})
	} else {
		keys = append(keys, keyNodes)
	}
	cmds[0].cmd = evalCmd(ctx, scriptHeartbeat, keys, b.opt.aliveTTL().Milliseconds(), id)
	b.send(ctx, cmds)
	for _, c := range cmds[1:] {
		if err := c.cmd.Err(); err != nil {
			return false, err
		}
	}
	n, err := cmds[0].cmd.(*goredis.Cmd).Int()
	return n == 1, err
}

// reapDead cleans up after the listed nodes whose heartbeat expired.
func (b *Broker) reapDead() {
	ctx, cancel := context.WithTimeout(b.ctx, b.livenessTimeout())
	defer cancel()
	nodes, err := b.client.SMembers(ctx, keyNodes).Result()
	if err != nil {
		return // the next beat notices an outage
	}
	pipe := b.client.Pipeline()
	alive := make([]*goredis.Cmd, len(nodes))
	for i, n := range nodes {
		if n != b.opt.NodeID {
			alive[i] = pipe.Eval(ctx, srcAlive, []string{b.keys.nodeAlive(n)})
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return
	}
	var active map[string]time.Duration // (read once, when a beat has lapsed)
	for i, n := range nodes {
		if alive[i] == nil {
			continue
		}
		if v, err := alive[i].Int64Slice(); err != nil || len(v) != 1 || v[0] != 0 {
			delete(b.late, n)
			continue
		}
		if active == nil {
			active = b.activeNodes(ctx)
		}
		if idle, ok := active[n]; ok && idle < b.opt.HeartbeatTTL {
			b.stats.reapsDeferred.Add(1)
			if !b.late[n] { // (once per lapse, not every look)
				b.late[n] = true
				b.log.Warn("a node's heartbeat is late but its connection to Redis is active; not reaping it",
					"late", n, "lastCommand", idle)
			}
			continue
		}
		delete(b.late, n)
		b.reap(ctx, n)
	}
}

// activeNodes tells, for each chatd node with a connection to this Redis,
// how long ago its most recent command came (CLIENT LIST: the name and the
// idle time, in whole seconds, of each connection). One Redis only: in a
// cluster a node's connections are spread over the masters, and none is
// looked at (a lapsed beat is taken for death, as before). An error (e.g.
// CLIENT LIST disabled by the provider) reads as no node active.
//
// This is what keeps an overloaded cluster from reaping its live nodes: a
// node whose beats are late (its process starved of CPU, Redis slow to
// answer) still has commands arriving, while a node that died has no
// connection left (its kernel closed them) or none used for a heartbeat TTL
// (a hung process, a host cut off). Reaping a live node announces every one
// of its members as gone and has it write them all again: under overload
// that is the load that kept it overloaded (BENCHMARKS.md §8).
func (b *Broker) activeNodes(ctx context.Context) map[string]time.Duration {
	out := map[string]time.Duration{}
	if b.keys.cluster {
		return out
	}
	list, err := b.single.ClientList(ctx).Result()
	if err != nil {
		b.log.Debug("CLIENT LIST failed; a node whose beat lapsed is taken for dead", "err", err)
		return out
	}
	for line := range strings.SplitSeq(list, "\n") {
		name, idle := clientFields(line)
		node, ok := strings.CutPrefix(name, clientNamePrefix)
		if !ok || node == "" || idle < 0 {
			continue
		}
		if d, seen := out[node]; !seen || idle < d {
			out[node] = idle
		}
	}
	return out
}

// clientFields reads a CLIENT LIST line's name and idle time (-1: none).
func clientFields(line string) (name string, idle time.Duration) {
	idle = -1
	for f := range strings.FieldsSeq(line) {
		switch {
		case strings.HasPrefix(f, "name="):
			name = f[len("name="):]
		case strings.HasPrefix(f, "idle="):
			if n, err := strconv.Atoi(f[len("idle="):]); err == nil && n >= 0 {
				idle = time.Duration(n) * time.Second
			}
		}
	}
	return name, idle
}

// isAlive reports whether node's heartbeat has not lapsed.
func (b *Broker) isAlive(ctx context.Context, node string) (bool, error) {
	v, err := b.client.Eval(ctx, srcAlive, []string{b.keys.nodeAlive(node)}).Int64Slice()
	if err != nil {
		return false, err
	}
	return len(v) == 1 && v[0] == 1, nil
}

// subscriptionsSettled reports whether the node is healthy and every room it
// wants is confirmed subscribed.
func (b *Broker) subscriptionsSettled() bool {
	if !b.Healthy() {
		return false
	}
	b.smu.Lock()
	defer b.smu.Unlock()
	for _, r := range b.subs {
		if r.want && !r.ready {
			return false
		}
	}
	return true
}
