package redis

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Sending writes exactly once.
//
// Publishes, stored messages and membership changes are not idempotent in
// what they report (an offset, "the user became a member"), so a write is
// sent once and, if the connection fails or times out before its reply, it
// is reported failed, never sent again: a retry after a lost reply could
// store a message twice. (The sender is told; a failed membership change is
// repaired by the node's re-registration.)
//
// Single Redis: one pipeline on one connection, in order (what the broker
// always did).
//
// Redis Cluster: the commands are grouped by the master that owns their slot
// (the broker's own slot map, cluster.go) and each group goes out as one
// pipeline, the groups in parallel. go-redis's cluster pipeline is not used
// for writes: it resends a whole node's batch after a network error, or when
// the first command of the batch was refused, which would run the others
// twice. Only the replies that say Redis did not run the command are
// followed, up to maxRedirects rounds: MOVED (the slot has a new owner: sent
// there, and the slot map reloaded), ASK (the slot is being migrated and
// the keys are already on the target: sent there after ASKING), TRYAGAIN
// (the keys of a multi-key command are split by a migration) and
// CLUSTERDOWN, LOADING, MASTERDOWN (a failover or restart in progress: sent
// again after a short backoff, within the request's deadline). A command
// whose slot has no master in the broker's map (a map read from a node that
// had not yet heard of every master, or a slot between owners) is not sent:
// the map is reloaded and it waits the same backoff. Commands of
// one slot keep their order: a redirected command and the ones after it in
// its slot are redirected alike, and rounds keep the original order.

// rcmd is a command and the slot of its keys (-1: any node, or single mode).
type rcmd struct {
	slot int
	cmd  goredis.Cmder
}

// maxRedirects bounds the rounds of redirections of one send.
const maxRedirects = 5

// send runs cmds; each command's Err tells how it went.
func (b *Broker) send(ctx context.Context, cmds []rcmd) {
	if len(cmds) == 0 {
		return
	}
	if !b.keys.cluster {
		pipe := b.single.Pipeline()
		for _, c := range cmds {
			_ = pipe.Process(ctx, c.cmd) // (queues it: its error comes with Exec)
		}
		// Exec's error is that of the first failed command; each command
		// carries its own, which the callers read.
		_, _ = pipe.Exec(ctx)
		return
	}
	b.sendCluster(ctx, cmds)
}

// sendCluster is send in cluster mode.
func (b *Broker) sendCluster(ctx context.Context, cmds []rcmd) {
	todo := make([]int, len(cmds))
	for i := range todo {
		todo[i] = i
	}
	var asking map[int]string // made on the first ASK
	run := func(addr string, idx []int) {
		pipe := b.shard(addr).Pipeline()
		for _, i := range idx {
			if asking[i] != "" {
				_ = pipe.Process(ctx, goredis.NewStatusCmd(ctx, "asking"))
			}
			_ = pipe.Process(ctx, cmds[i].cmd)
		}
		_, _ = pipe.Exec(ctx) // (as in send: each command carries its error)
	}
	for round := 0; ; round++ {
		groups := map[string][]int{}
		for _, i := range todo {
			addr := asking[i]
			if addr == "" {
				addr = b.topo.owner(cmds[i].slot)
			}
			if addr == "" {
				cmds[i].cmd.SetErr(errNoOwner)
				continue
			}
			groups[addr] = append(groups[addr], i)
		}
		if len(groups) == 1 { // the usual case with publish lanes: no goroutine
			for addr, idx := range groups {
				run(addr, idx)
			}
		} else {
			var wg sync.WaitGroup
			for addr, idx := range groups {
				wg.Add(1)
				go func() {
					defer wg.Done()
					run(addr, idx)
				}()
			}
			wg.Wait()
		}
		if round == maxRedirects {
			return
		}
		var next []int
		backoff := false
		for _, i := range todo {
			err := cmds[i].cmd.Err()
			if err == errNoOwner { // not sent: the map may be behind the cluster
				backoff = true
				b.refreshTopology()
				next = append(next, i)
				continue
			}
			r := redirectOf(err)
			switch r.kind {
			case redirectNone:
				continue
			case redirectMoved:
				b.topo.learn(r.slot, r.addr)
				b.refreshTopology()
				delete(asking, i)
			case redirectAsk:
				if asking == nil {
					asking = map[int]string{}
				}
				asking[i] = r.addr
			case redirectRetry:
				backoff = true
				delete(asking, i)
				b.refreshTopology()
			}
			next = append(next, i)
		}
		if len(next) == 0 {
			return
		}
		b.stats.redirects.Add(int64(len(next)))
		if backoff {
			t := time.NewTimer(minBackoff << min(round, 4))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return // the commands keep their last error
			}
		}
		todo = next
	}
}

var errNoOwner = unavailable("no master serves the slot now", nil)

type redirectKind int

const (
	redirectNone  redirectKind = iota
	redirectMoved              // MOVED <slot> <addr>
	redirectAsk                // ASK <slot> <addr>
	redirectRetry              // TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN: not run, try again soon
)

type redirect struct {
	kind redirectKind
	slot int
	addr string
}

// redirectOf classifies an error reply that says the command was not run.
func redirectOf(err error) redirect {
	var re goredis.Error
	if err == nil || !errors.As(err, &re) {
		return redirect{}
	}
	msg := err.Error()
	for _, p := range []string{"TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN"} {
		if strings.HasPrefix(msg, p) {
			return redirect{kind: redirectRetry}
		}
	}
	var kind redirectKind
	switch {
	case strings.HasPrefix(msg, "MOVED "):
		kind = redirectMoved
	case strings.HasPrefix(msg, "ASK "):
		kind = redirectAsk
	default:
		return redirect{}
	}
	f := strings.Fields(msg)
	if len(f) != 3 {
		return redirect{}
	}
	slot, err := strconv.Atoi(f[1])
	if err != nil || slot < 0 || slot >= numSlots {
		return redirect{}
	}
	return redirect{kind: kind, slot: slot, addr: f[2]}
}

// evalCmd is EVAL of src, as go-redis's Script.Eval sends it, for send.
// (EVAL, not EVALSHA: after a restart a NOSCRIPT retry could reorder a
// node's commands; Redis caches scripts by hash anyway. The store script,
// whose calls cannot be reordered that way, goes by SHA: script.go.)
func evalCmd(ctx context.Context, src string, keys []string, args ...any) *goredis.Cmd {
	a := make([]any, 0, 3+len(keys)+len(args))
	a = append(a, "eval", src, len(keys))
	for _, k := range keys {
		a = append(a, k)
	}
	a = append(a, args...)
	return goredis.NewCmd(ctx, a...)
}
