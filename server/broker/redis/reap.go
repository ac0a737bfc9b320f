package redis

import (
	"context"
	"strings"
	"time"

	"github.com/chatd/chatd/server/broker"
	goredis "github.com/redis/go-redis/v9"
)

// Reaping a dead node.
//
// A survivor that finds a node's heartbeat expired reads the dead node's
// registrations a chunk at a time (HSCAN of each of its registration
// hashes) and runs the leave script for each, in the room's slot, as a
// reaper: the script deletes the registration's field, and only the caller
// whose delete hit counts it and, if the user stopped being a member,
// publishes the leave with the corrected count. So when several survivors
// reap the same node, each member is removed and announced exactly once,
// whichever gets there first. Before the first leave the dead node's reaped
// marker is set: a node that was only cut off sees it at its next beat and
// announces its members again. The heartbeat is looked at again before each
// chunk. Finally the node is forgotten (srcForget, atomically with a last
// look at its heartbeat): its index goes, and it leaves the node list.
// (Were a survivor to die in between, counts would still be right; only
// those announcements would be missing, as before.)
//
// With one Redis this used to be one atomic script per chunk; it is done
// from Go now because in Redis Cluster a dead node's members are spread over
// the slots of their rooms, and a script runs in one slot. The per-field
// delete gives the exactly-once that the atomic chunk gave.

// reap removes a dead node's members.
func (b *Broker) reap(ctx context.Context, node string) {
	keys, err := b.regHashes(ctx, node)
	if err != nil {
		b.log.Warn("reaping a dead node failed; retrying at the next beat", "dead", node, "err", err)
		return
	}
	total := 0
	marked := false
	for _, key := range keys {
		for {
			n, err := b.reapChunk(ctx, node, key, &marked)
			if err != nil {
				b.log.Warn("reaping a dead node failed; retrying at the next beat", "dead", node, "err", err)
				return
			}
			if n < 0 {
				return // alive again
			}
			total += n
			if n == 0 && !b.hasFields(ctx, key) {
				break
			}
		}
	}
	if !b.forget(ctx, node) {
		return
	}
	if total > 0 {
		b.stats.reaped.Add(int64(total))
		b.log.Info("removed the members of a dead node", "dead", node, "members", total)
	}
}

// reapChunk removes up to reapChunk registrations of node from its hash key
// and returns how many this node removed (-1: the node is alive).
func (b *Broker) reapChunk(ctx context.Context, node, key string, marked *bool) (int, error) {
	alive, err := b.isAlive(ctx, node)
	if err != nil || alive {
		return -1, err
	}
	kv, _, err := b.client.HScan(ctx, key, 0, "", reapChunk).Result()
	if err != nil || len(kv) == 0 {
		return 0, err
	}
	if !*marked {
		mk := b.keys.nodeReaped(node)
		set := goredis.NewStatusCmd(ctx, "set", mk, "1", "ex", int64(reapedMarkerTTL/time.Second))
		b.send(ctx, []rcmd{{b.keySlot(mk), set}})
		if err := set.Err(); err != nil {
			return 0, err
		}
		*marked = true
	}
	var cmds []rcmd
	var ms []broker.Member
	for i := 0; i+1 < len(kv); i += 2 {
		room, uid, ok := strings.Cut(kv[i], "\n")
		if !ok { // not ours
			cmds = append(cmds, rcmd{b.keySlot(key), goredis.NewIntCmd(ctx, "hdel", key, kv[i])})
			ms = append(ms, broker.Member{})
			continue
		}
		m := broker.Member{Room: room, User: uid, Name: kv[i+1]}
		// The script announces the member gone (a disconnect: nobody left
		// out) in rooms where every leave is announced.
		cmds = append(cmds, b.leaveCmd(ctx, node, m, true, b.ownNotice(false, m)))
		ms = append(ms, m)
	}
	b.send(ctx, cmds)
	n := 0
	for i, c := range cmds {
		if ms[i].Room == "" {
			continue
		}
		vals, err := c.cmd.(*goredis.Cmd).Slice()
		if err != nil {
			return n, err
		}
		if len(vals) < 3 || toInt(vals[2]) != 1 {
			continue // another survivor reaped it
		}
		n++
		if toInt(vals[1]) == 1 && (len(vals) < 4 || toInt(vals[3]) != 1) {
			// (Unless the script announced it.) The reference form of a
			// leave after a disconnect: nobody excluded.
			b.publishPresence(false, ms[i], toInt(vals[0]), "")
		}
	}
	return n, nil
}

// hasFields reports whether a hash still has fields (when unsure, false:
// the next beat looks again).
func (b *Broker) hasFields(ctx context.Context, key string) bool {
	n, err := b.client.Exists(ctx, key).Result()
	return err == nil && n == 1
}

// forget ends the reaping of node unless it came back; true if forgotten.
func (b *Broker) forget(ctx context.Context, node string) bool {
	alive := b.keys.nodeAlive(node)
	var keys []string
	if b.keys.cluster {
		keys = []string{alive, b.keys.nodeSlots(node)}
	} else {
		keys = []string{alive, b.keys.nodeRegs(node, ""), keyNodes}
	}
	cmds := []rcmd{{b.keySlot(alive), evalCmd(ctx, srcForget, keys, node)}}
	b.send(ctx, cmds)
	if n, err := cmds[0].cmd.(*goredis.Cmd).Int(); err != nil || n != 1 {
		return false
	}
	if b.keys.cluster {
		srem := goredis.NewIntCmd(ctx, "srem", keyNodes, node)
		b.send(ctx, []rcmd{{keySlot(keyNodes), srem}})
	}
	return true
}

// withdraw removes the node's heartbeat when it closes (survivors then reap
// whatever is left at once, rather than after the TTL) and, if it has no
// members left, its index and its place in the node list.
func (b *Broker) withdraw(ctx context.Context, empty bool) {
	id := b.opt.NodeID
	alive := b.keys.nodeAlive(id)
	cmds := []rcmd{{b.keySlot(alive), goredis.NewIntCmd(ctx, "del", alive)}}
	if empty {
		idx := b.keys.nodeRegs(id, "")
		if b.keys.cluster {
			idx = b.keys.nodeSlots(id)
		}
		cmds = append(cmds, rcmd{b.keySlot(idx), goredis.NewIntCmd(ctx, "del", idx)},
			rcmd{b.keySlot(keyNodes), goredis.NewIntCmd(ctx, "srem", keyNodes, id)})
	}
	b.send(ctx, cmds)
}
