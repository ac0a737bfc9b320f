package redis

import (
	"context"
	"strconv"
	"time"

	"github.com/chatd/chatd/server/broker"
	goredis "github.com/redis/go-redis/v9"
)

// Node liveness.
//
// Each node refreshes its heartbeat key (nodeAliveKey) every
// HeartbeatInterval and lists itself in keyNodes; its members are in its
// member hash (nodeMembersKey), kept by the join and leave scripts. Every
// check period (HeartbeatTTL/10, at most HeartbeatInterval) a node looks at
// the heartbeats of the other listed nodes. The key lives HeartbeatTTL minus
// one check period, so a dead node is found at most HeartbeatTTL after its
// last beat. For such a node a survivor runs scriptReap, which, in one
// atomic step per chunk, removes the dead node's members from the rooms
// (deleting rooms that empty) and finally forgets the node; the survivor
// then publishes a leave with the corrected count for each member its
// script removed. When several survivors find the same dead node, each
// member is still removed and announced exactly once, by whichever script
// reaches it first. (Were that survivor to die in between, counts would
// still be right; only those announcements would be missing.)
//
// The same loop watches the command connection: while Redis is unreachable
// it retries with backoff (instead of beating), and when Redis answers
// again it queues a re-registration of the node's members (reconcile).

// reapChunk bounds the members one reap script removes (it blocks Redis
// while it runs).
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
	upSince := time.Now()
	var lastBeat time.Time
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
		if !b.cmdOK.Load() || time.Since(lastBeat) >= b.opt.HeartbeatInterval {
			beat := time.Now()
			reaped, err := b.heartbeat()
			if err != nil {
				if b.ctx.Err() != nil {
					return
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
			if !b.cmdOK.Load() {
				b.setCmd(true, nil)
				b.needReconcile.Store(true)
				upSince = time.Now()
			}
			if reaped {
				b.needReconcile.Store(true)
			}
		}
		if b.needReconcile.Load() {
			// Re-register once this node's rooms are subscribed again, so
			// that its own members hear the announcements it makes (bounded:
			// counts matter more than announcements).
			if !b.subscriptionsSettled() && time.Since(upSince) < b.opt.OpTimeout {
				t.Reset(minBackoff)
				continue
			}
			b.requestReconcile()
		}
		b.reapDead()
		t.Reset(b.opt.checkPeriod())
	}
}

// heartbeat refreshes the node's heartbeat; reaped reports that survivors
// removed the node's members while it was away.
func (b *Broker) heartbeat() (reaped bool, err error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.opt.OpTimeout)
	defer cancel()
	n, err := scriptHeartbeat.Run(ctx, b.client,
		[]string{nodeAliveKey(b.opt.NodeID), nodeReapedKey(b.opt.NodeID)},
		strconv.FormatInt(time.Now().UnixMilli(), 10), b.opt.aliveTTL().Milliseconds(), b.opt.NodeID).Int()
	return n == 1, err
}

// reapDead cleans up after the listed nodes whose heartbeat expired.
func (b *Broker) reapDead() {
	ctx, cancel := context.WithTimeout(b.ctx, b.opt.OpTimeout)
	defer cancel()
	nodes, err := b.client.SMembers(ctx, keyNodes).Result()
	if err != nil {
		return // the next beat notices an outage
	}
	pipe := b.client.Pipeline()
	alive := make([]*goredis.IntCmd, len(nodes))
	for i, n := range nodes {
		if n != b.opt.NodeID {
			alive[i] = pipe.Exists(ctx, nodeAliveKey(n))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return
	}
	for i, n := range nodes {
		if alive[i] == nil || alive[i].Val() != 0 {
			continue
		}
		b.reap(ctx, n)
	}
}

// reap removes a dead node's members, a chunk at a time.
func (b *Broker) reap(ctx context.Context, node string) {
	total := 0
	for {
		res, err := scriptReap.Run(ctx, b.client,
			[]string{nodeAliveKey(node), nodeMembersKey(node), nodeReapedKey(node)},
			node, reapChunk, int64(reapedMarkerTTL/time.Second)).Result()
		if err != nil {
			b.log.Warn("reaping a dead node failed; retrying at the next beat", "dead", node, "err", err)
			return
		}
		vals, ok := res.([]any)
		if !ok || len(vals) != 3 {
			return // alive again
		}
		total += toInt(vals[0])
		removed, _ := vals[2].([]any)
		for i := 0; i+3 < len(removed); i += 4 {
			room, _ := removed[i].(string)
			uid, _ := removed[i+1].(string)
			name, _ := removed[i+2].(string)
			// The reference form of a leave after a disconnect: nobody
			// excluded.
			b.publishPresence(false, broker.Member{Room: room, User: uid, Name: name}, toInt(removed[i+3]), "")
		}
		if toInt(vals[1]) == 0 {
			continue
		}
		if total > 0 {
			b.stats.reaped.Add(int64(total))
			b.log.Info("removed the members of a dead node", "dead", node, "members", total)
		}
		return
	}
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
