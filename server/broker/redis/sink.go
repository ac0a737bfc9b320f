package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatd/chatd/server/sink"
	goredis "github.com/redis/go-redis/v9"
)

// The message sink's queues in Redis (package server/sink consumes them).
//
// With the sink on, the store script (history.go) appends every message it
// stores to a sink queue, in the same call: a message is in the history
// only if it is in a queue too, whatever dies when. A queue is a stream;
// each entry has fields r (room), e (epoch), o (offset), t (stored at, ms)
// and p (the stored payload), and an ID Redis gives it (time-seq), so a
// queue's entries are in the order they were stored, each room's in offset
// order. The consumer removes what the backend acknowledged with XTRIM
// MINID: everything below the next entry's ID, which never touches an
// entry stored later. A queue that holds MaxBacklog entries refuses more:
// the script counts them in the queue's drop counter instead (a plain
// key), which the shard's holder takes (GETDEL), adds to its metric and
// logs.
//
// One Redis: Shards queues, chatd:sink:<n>, a room's in queue crc16(room) %
// Shards; shard n is queue n.
//
// Redis Cluster: a script touches only the keys of its room's slot, so a
// room's queue must be in that slot: one queue per slot,
// chatd:sink:slot:{<slot tag>}, made on the first message stored in the
// slot. Shard n is every slot queue whose slot % Shards is n. The slots in
// use are listed in the set chatd:sink:slots: a node adds a slot (SADD,
// confirmed) before it first stores in it, so a queue is never unlisted;
// the set holds at most 16384 numbers and is never trimmed.
//
// A shard is consumed by the node that holds its lease, chatd:sink:lease:<n>
// (SET NX PX with the node id, renewed by its holder; a node killed with
// -9 loses it when it expires). The lease only keeps two nodes from posting
// the same entries at once: removing entries is safe whoever does it, as
// only acknowledged ones are removed.

const (
	keySinkSlots   = "chatd:sink:slots"
	prefixSinkQ    = "chatd:sink:"
	prefixSinkSlot = "chatd:sink:slot:"
	prefixLease    = "chatd:sink:lease:"
)

// SinkOptions configure the sink's queues (Options.Sink).
type SinkOptions struct {
	// Shards is the number of sink shards: queues on one Redis, leases on
	// a Redis Cluster. Zero: the sink is off (nothing is queued).
	Shards int
	// MaxBacklog bounds one queue's entries; more are dropped (counted).
	// Zero: sink.DefaultMaxBacklog.
	MaxBacklog int
}

func (b *Broker) sinkOn() bool { return b.opt.Sink.Shards > 0 }

// sinkQueueKey is the queue of room.
func (b *Broker) sinkQueueKey(room string) string {
	if b.keys.cluster {
		return prefixSinkSlot + "{" + slotTag(b.keys.roomSlot(room)) + "}"
	}
	return prefixSinkQ + strconv.Itoa(int(crc16(room))%b.opt.Sink.Shards)
}

func sinkDroppedKey(queue string) string { return queue + ":dropped" }

// sinkAnnounce (cluster mode) lists the slots of batch's stored messages
// in chatd:sink:slots before they are stored, once per slot per node (and
// again after Redis was unreachable: it may have come back empty).
func (b *Broker) sinkAnnounce(ctx context.Context, batch []pubItem) error {
	if !b.keys.cluster || !b.sinkOn() {
		return nil
	}
	var slots []any
	b.sinkMu.Lock()
	for i := range batch {
		if !batch[i].store {
			continue
		}
		s := b.keys.roomSlot(batch[i].room)
		if !b.sinkSlots[s] && !slices.Contains(slots, any(s)) {
			slots = append(slots, s)
		}
	}
	b.sinkMu.Unlock()
	if len(slots) == 0 {
		return nil
	}
	if err := b.client.SAdd(ctx, keySinkSlots, slots...).Err(); err != nil {
		return fmt.Errorf("list sink slots: %w", err)
	}
	b.sinkMu.Lock()
	for _, s := range slots {
		b.sinkSlots[s.(int)] = true
	}
	b.sinkMu.Unlock()
	return nil
}

// sinkForget makes the node list its slots again (Redis came back: maybe
// without its data).
func (b *Broker) sinkForget() {
	b.sinkMu.Lock()
	clear(b.sinkSlots)
	b.sinkMu.Unlock()
}

// SinkQueue returns the sink's queues (nil when Options.Sink is off).
func (b *Broker) SinkQueue() sink.Queue {
	if !b.sinkOn() {
		return nil
	}
	return (*sinkQueue)(b)
}

// sinkQueue implements sink.Queue over the broker's connections.
type sinkQueue Broker

func (q *sinkQueue) Shards() int   { return q.opt.Sink.Shards }
func (q *sinkQueue) Durable() bool { return true }

// srcClaim takes or renews a lease. KEYS: the lease. ARGV: node id, TTL
// ms. Returns 1 when the node holds it. (EVAL: a call per shard every few
// seconds; the source is cached by Redis.)
const srcClaim = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if v then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`

// srcRelease deletes a lease if the node holds it. KEYS: the lease. ARGV:
// node id.
const srcRelease = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

func leaseKey(shard int) string { return prefixLease + strconv.Itoa(shard) }

// Claim implements sink.Queue.
func (q *sinkQueue) Claim(ctx context.Context, shard int, ttl time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, q.opt.OpTimeout)
	defer cancel()
	c := evalCmd(ctx, srcClaim, []string{leaseKey(shard)}, q.opt.NodeID, ttl.Milliseconds())
	_ = q.client.Process(ctx, c)
	v, err := c.Int()
	if err != nil {
		return false, fmt.Errorf("sink lease %d: %w", shard, err)
	}
	return v == 1, nil
}

// Release implements sink.Queue.
func (q *sinkQueue) Release(ctx context.Context, shard int) {
	ctx, cancel := context.WithTimeout(ctx, q.opt.OpTimeout)
	defer cancel()
	_ = q.client.Process(ctx, evalCmd(ctx, srcRelease, []string{leaseKey(shard)}, q.opt.NodeID))
}

// queues returns the queue keys of shard.
func (q *sinkQueue) queues(ctx context.Context, shard int) ([]string, error) {
	n := q.opt.Sink.Shards
	if !q.keys.cluster {
		return []string{prefixSinkQ + strconv.Itoa(shard)}, nil
	}
	ms, err := q.slotList(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		s, err := strconv.Atoi(m)
		if err != nil || s < 0 || s >= numSlots || s%n != shard {
			continue
		}
		out = append(out, prefixSinkSlot+"{"+slotTag(s)+"}")
	}
	slices.Sort(out)
	return out, nil
}

// slotList returns the members of chatd:sink:slots, read at most every
// slotListTTL (each shard's worker asks at every poll).
func (q *sinkQueue) slotList(ctx context.Context) ([]string, error) {
	q.sinkMu.Lock()
	if time.Since(q.slotsRead) < slotListTTL {
		ms := q.slotsCache
		q.sinkMu.Unlock()
		return ms, nil
	}
	q.sinkMu.Unlock()
	ms, err := q.client.SMembers(ctx, keySinkSlots).Result()
	if err != nil {
		return nil, fmt.Errorf("sink slots: %w", err)
	}
	q.sinkMu.Lock()
	q.slotsCache, q.slotsRead = ms, time.Now()
	q.sinkMu.Unlock()
	return ms, nil
}

// slotListTTL bounds how late a consumer sees a slot listed: a room's
// first messages wait this long at most before their first read.
const slotListTTL = time.Second

// Read implements sink.Queue: the oldest entries of the shard's queues,
// merged by their IDs (times), so that each queue's entries stay a prefix
// of it. One Redis: one queue, its first max. Redis Cluster: the lengths
// first, then from each of the n non-empty queues its first max/n (at
// least one), so a read holds at most max + n entries however many slots
// the shard has. (limit is sink.Queue's max.)
func (q *sinkQueue) Read(ctx context.Context, shard, limit int) ([]sink.Entry, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, q.opt.OpTimeout)
	defer cancel()
	keys, err := q.queues(ctx, shard)
	if err != nil || len(keys) == 0 {
		return nil, 0, err
	}
	if len(keys) == 1 {
		var n *goredis.IntCmd
		var r *goredis.XMessageSliceCmd
		_, err := q.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			n = p.XLen(ctx, keys[0])
			r = p.XRangeN(ctx, keys[0], "-", "+", int64(limit))
			return nil
		})
		if err != nil && !errors.Is(err, goredis.Nil) {
			return nil, 0, fmt.Errorf("sink read: %w", err)
		}
		return entriesOfQueue(keys[0], r.Val(), nil), n.Val(), nil
	}
	lens, err := q.lengths(ctx, keys)
	if err != nil {
		return nil, 0, err
	}
	var backlog int64
	var busy []string
	for i, n := range lens {
		backlog += n
		if n > 0 {
			busy = append(busy, keys[i])
		}
	}
	if len(busy) == 0 {
		return nil, 0, nil
	}
	each := int64(max(1, (limit+len(busy)-1)/len(busy)))
	var es []sink.Entry
	for start := 0; start < len(busy); start += 256 {
		part := busy[start:min(start+256, len(busy))]
		reads := make([]*goredis.XMessageSliceCmd, len(part))
		_, err := q.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, k := range part {
				reads[i] = p.XRangeN(ctx, k, "-", "+", each)
			}
			return nil
		})
		if err != nil && !errors.Is(err, goredis.Nil) {
			return nil, 0, fmt.Errorf("sink read: %w", err)
		}
		for i, k := range part {
			es = entriesOfQueue(k, reads[i].Val(), es)
		}
	}
	slices.SortStableFunc(es, func(a, b sink.Entry) int { return compareIDs(a.ID, b.ID) })
	if len(es) > limit {
		es = es[:limit]
	}
	return es, backlog, nil
}

// lengths returns the lengths of queues (pipelines of at most 256: a Redis
// Cluster shard may have hundreds of slots).
func (q *sinkQueue) lengths(ctx context.Context, keys []string) ([]int64, error) {
	out := make([]int64, 0, len(keys))
	for start := 0; start < len(keys); start += 256 {
		part := keys[start:min(start+256, len(keys))]
		cmds := make([]*goredis.IntCmd, len(part))
		_, err := q.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, k := range part {
				cmds[i] = p.XLen(ctx, k)
			}
			return nil
		})
		if err != nil && !errors.Is(err, goredis.Nil) {
			return nil, fmt.Errorf("sink queue lengths: %w", err)
		}
		for _, c := range cmds {
			out = append(out, c.Val())
		}
	}
	return out, nil
}

// entriesOfQueue appends the entries of queue's messages to es.
func entriesOfQueue(queue string, msgs []goredis.XMessage, es []sink.Entry) []sink.Entry {
	for _, m := range msgs {
		if e, ok := entryOf(queue, m); ok {
			es = append(es, e)
		}
	}
	return es
}

// entryOf reads a queue entry.
func entryOf(queue string, m goredis.XMessage) (sink.Entry, bool) {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	off, err1 := strconv.ParseUint(str("o"), 10, 64)
	at, err2 := strconv.ParseInt(str("t"), 10, 64)
	e := sink.Entry{Queue: queue, ID: m.ID, Room: str("r"), Epoch: str("e"), Offset: off, At: at, Payload: str("p")}
	return e, err1 == nil && err2 == nil
}

// compareIDs orders stream IDs (ms-seq).
func compareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	x, _ := strconv.ParseUint(am, 10, 64)
	y, _ := strconv.ParseUint(bm, 10, 64)
	if x != y {
		if x < y {
			return -1
		}
		return 1
	}
	i, _ := strconv.ParseUint(as, 10, 64)
	j, _ := strconv.ParseUint(bs, 10, 64)
	switch {
	case i < j:
		return -1
	case i > j:
		return 1
	}
	return 0
}

// nextID is the smallest stream ID above id.
func nextID(id string) (string, error) {
	ms, seq, ok := strings.Cut(id, "-")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil {
		return "", fmt.Errorf("sink: bad entry id %q", id)
	}
	return ms + "-" + strconv.FormatUint(n+1, 10), nil
}

// Ack implements sink.Queue: each queue of es is trimmed below the entry
// after its newest in es.
func (q *sinkQueue) Ack(ctx context.Context, _ int, es []sink.Entry) error {
	ctx, cancel := context.WithTimeout(ctx, q.opt.OpTimeout)
	defer cancel()
	last := map[string]string{}
	for _, e := range es {
		if cur, ok := last[e.Queue]; !ok || compareIDs(e.ID, cur) > 0 {
			last[e.Queue] = e.ID
		}
	}
	cmds := make([]*goredis.IntCmd, 0, len(last))
	_, err := q.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for k, id := range last {
			min, err := nextID(id)
			if err != nil {
				return err
			}
			cmds = append(cmds, p.XTrimMinID(ctx, k, min))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sink ack: %w", err)
	}
	return nil
}

// TakeDropped implements sink.Queue.
func (q *sinkQueue) TakeDropped(ctx context.Context, shard int) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, q.opt.OpTimeout)
	defer cancel()
	keys, err := q.queues(ctx, shard)
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	cmds := make([]*goredis.StringCmd, len(keys))
	_, err = q.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.GetDel(ctx, sinkDroppedKey(k))
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return 0, fmt.Errorf("sink drop counters: %w", err)
	}
	var n int64
	for _, c := range cmds {
		v, _ := c.Int64()
		n += v
	}
	return n, nil
}

// sinkState is the broker's own sink state (cluster mode: the slots it
// listed).
type sinkState struct {
	sinkMu     sync.Mutex
	sinkSlots  map[int]bool // slots this node listed
	slotsCache []string     // chatd:sink:slots as last read
	slotsRead  time.Time
}
