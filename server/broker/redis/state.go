package redis

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/internal/isotime"
	goredis "github.com/redis/go-redis/v9"
)

// Room state in Redis, with the reference app's keys.
//
// Every change (join, leave, re-registration) is a Lua script, so each is
// atomic, and all of them go through one queue and one goroutine
// (stateLoop), pipelined like publishes: Redis applies a node's changes in
// the order the node made them. The node also keeps its own members here
// (local): that is what it re-registers after an outage, and what its
// member list in Redis (nodeMembersKey) is made to match.

// localRoom is this node's view of one room it has members in.
type localRoom struct {
	name, createdAt string
	members         map[string]localMember // by userId
}

// localMember is one user in a room on this node: in Redis once (the
// node's member hash has one entry per room and user), however many of its
// connections are in the room here.
type localMember struct {
	username, joinedAt string
	conns              int32
}

type opKind int

const (
	opJoin opKind = iota
	opLeave
	opReconcile
)

// stateOp is one queued change.
type stateOp struct {
	kind     opKind
	m        broker.Member
	name     string // join: room name if the room is new
	joinedAt string // join
	done     func(broker.Membership, error)
	snap     map[string]*localRoom      // reconcile: the node's members when it was queued
	departed map[broker.Member]struct{} // reconcile: members whose leave did not reach Redis
	announce bool                       // reconcile: announce this leave even if Redis no longer had it
}

// Join implements broker.Broker.
func (b *Broker) Join(m broker.Member, name string, done func(broker.Membership, error)) {
	if b.closed.Load() {
		done(broker.Membership{}, errBrokerClosed)
		return
	}
	if !b.cmdOK.Load() {
		done(broker.Membership{}, unavailable("redis unreachable", nil))
		return
	}
	op := &stateOp{kind: opJoin, m: m, name: name, joinedAt: isotime.Format(time.Now()), done: done}
	b.lmu.Lock()
	r := b.local[m.Room]
	if r == nil {
		r = &localRoom{name: name, members: make(map[string]localMember)}
		b.local[m.Room] = r
	}
	lm, had := r.members[m.User]
	if had {
		op.joinedAt = lm.joinedAt // the user's first connection here joined then
	} else {
		lm = localMember{username: m.Name, joinedAt: op.joinedAt}
	}
	lm.conns++
	r.members[m.User] = lm
	// Even a user's further connection goes to Redis (the script changes
	// nothing then): its join answers with the room's count.
	ok := b.enqueueLocked(op)
	if !ok {
		b.dropConnLocked(m)
	}
	b.lmu.Unlock()
	if !ok {
		done(broker.Membership{}, unavailable("join queue full", nil))
	}
}

// Leave implements broker.Broker. A user who keeps other connections in the
// room on this node stays a member, and Redis is not asked. Otherwise the
// member is forgotten locally at once, whatever happens in Redis: if Redis
// cannot be told now, the re-registration after the outage removes it there
// (and announces it).
func (b *Broker) Leave(m broker.Member, done func(broker.Membership, error)) {
	b.lmu.Lock()
	if !b.dropConnLocked(m) {
		b.lmu.Unlock()
		done(broker.Membership{Count: -1}, nil)
		return
	}
	ok := !b.closed.Load() && b.cmdOK.Load() && b.enqueueLocked(&stateOp{kind: opLeave, m: m, done: done})
	if !ok {
		b.departedLocked(m)
	}
	b.lmu.Unlock()
	if !ok {
		b.needReconcile.Store(true)
		done(broker.Membership{}, unavailable("redis unreachable", nil))
	}
}

// departedLocked remembers a member whose leave could not reach Redis: the
// next re-registration removes it and announces userLeft, even if Redis
// lost its data meanwhile (the other members never heard of the leave).
func (b *Broker) departedLocked(m broker.Member) {
	if b.departed == nil {
		b.departed = make(map[broker.Member]struct{})
	}
	b.departed[m] = struct{}{}
}

// dropConnLocked removes one connection of m's user from the local room and
// reports whether it was the user's last one there (the user is forgotten).
func (b *Broker) dropConnLocked(m broker.Member) (last bool) {
	r := b.local[m.Room]
	if r == nil {
		return true
	}
	lm, ok := r.members[m.User]
	if !ok {
		return true
	}
	if lm.conns--; lm.conns > 0 {
		r.members[m.User] = lm
		return false
	}
	delete(r.members, m.User)
	if len(r.members) == 0 {
		delete(b.local, m.Room)
	}
	return true
}

// enqueueLocked queues op (under lmu, so the queue order is the order of
// the local changes).
func (b *Broker) enqueueLocked(op *stateOp) bool {
	b.inflight.Add(1)
	select {
	case b.stateq <- op:
		return true
	default:
		b.inflight.Add(-1)
		return false
	}
}

// requestReconcile queues a re-registration of the node's members: the
// node's member list in Redis is made to match its local members, in queue
// order with the joins and leaves around it.
func (b *Broker) requestReconcile() {
	b.lmu.Lock()
	snap := make(map[string]*localRoom, len(b.local))
	for id, r := range b.local {
		c := &localRoom{name: r.name, createdAt: r.createdAt, members: make(map[string]localMember, len(r.members))}
		for uid, m := range r.members {
			c.members[uid] = m
		}
		snap[id] = c
	}
	ok := b.enqueueLocked(&stateOp{kind: opReconcile, snap: snap, departed: b.departed})
	if ok {
		b.departed = nil
	}
	b.lmu.Unlock()
	if ok {
		b.needReconcile.Store(false)
	}
}

// stateLoop applies queued changes in order, many per round trip.
func (b *Broker) stateLoop() {
	defer b.wg.Done()
	pipe := b.client.Pipeline()
	batch := make([]*stateOp, 0, b.opt.PublishBatch)
	var next *stateOp
	for {
		batch = batch[:0]
		if next != nil {
			batch = append(batch, next)
			next = nil
		} else {
			select {
			case op := <-b.stateq:
				batch = append(batch, op)
			case <-b.ctx.Done():
				b.failQueuedState()
				return
			}
		}
		if batch[0].kind == opReconcile {
			b.reconcile(batch[0].snap, batch[0].departed)
			b.inflight.Add(-1)
			continue
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case op := <-b.stateq:
				if op.kind == opReconcile {
					next = op // runs alone, after this batch
					break fill
				}
				batch = append(batch, op)
			default:
				break fill
			}
		}
		b.applyBatch(pipe, batch)
		b.inflight.Add(-int64(len(batch)))
		clear(batch)
	}
}

func (b *Broker) failQueuedState() {
	for {
		select {
		case op := <-b.stateq:
			b.inflight.Add(-1)
			if op.done != nil {
				op.done(broker.Membership{}, errBrokerClosed)
			}
		default:
			return
		}
	}
}

// evalOp queues the script of a join or leave on pipe.
func (b *Broker) evalOp(ctx context.Context, pipe goredis.Pipeliner, op *stateOp, createdAt string) *goredis.Cmd {
	node := nodeMembersKey(b.opt.NodeID)
	if op.kind == opJoin {
		return scriptJoin.Eval(ctx, pipe, []string{node}, op.m.Room, op.m.User, op.m.Name, op.name,
			createdAt, op.joinedAt, b.opt.NodeID)
	}
	return scriptLeave.Eval(ctx, pipe, []string{node}, op.m.Room, op.m.User)
}

// applyBatch runs joins and leaves in one pipeline. Scripts are sent with
// EVAL (not EVALSHA): Redis caches them by hash anyway, and after a Redis
// restart a NOSCRIPT retry could reorder a node's changes.
func (b *Broker) applyBatch(pipe goredis.Pipeliner, batch []*stateOp) {
	if !b.cmdOK.Load() {
		b.needReconcile.Store(true)
		b.lmu.Lock()
		for _, op := range batch {
			if op.kind == opLeave {
				b.departedLocked(op.m)
			}
		}
		b.lmu.Unlock()
		for _, op := range batch {
			b.opFailed(op, unavailable("redis unreachable", nil))
		}
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.opt.OpTimeout)
	defer cancel()
	now := isotime.Format(time.Now())
	cmds := make([]*goredis.Cmd, len(batch))
	for i, op := range batch {
		cmds[i] = b.evalOp(ctx, pipe, op, now)
	}
	_, _ = pipe.Exec(ctx)
	down := false
	for i, op := range batch {
		vals, err := cmds[i].Slice()
		if err == nil && len(vals) < 2 {
			err = goredis.Nil
		}
		if err != nil {
			if !isRedisReply(err) {
				down = true
				err = unavailable("redis", err)
			}
			b.needReconcile.Store(true)
			if op.kind == opLeave {
				b.lmu.Lock()
				b.departedLocked(op.m)
				b.lmu.Unlock()
			}
			b.opFailed(op, err)
			continue
		}
		count := toInt(vals[0])
		if op.kind == opJoin && len(vals) >= 4 {
			name, _ := vals[2].(string)
			created, _ := vals[3].(string)
			b.lmu.Lock()
			if r := b.local[op.m.Room]; r != nil {
				r.name, r.createdAt = name, created
			}
			b.lmu.Unlock()
		}
		op.done(broker.Membership{Count: count, Changed: toInt(vals[1]) == 1}, nil)
	}
	if down && b.ctx.Err() == nil {
		b.setCmd(false, cmds[0].Err())
	}
}

// opFailed reports a failed join or leave; the connection of a failed join
// is forgotten locally (the client was told it failed).
func (b *Broker) opFailed(op *stateOp, err error) {
	if op.kind == opJoin {
		b.lmu.Lock()
		b.dropConnLocked(op.m)
		b.lmu.Unlock()
	}
	if op.done != nil {
		op.done(broker.Membership{}, err)
	}
}

func toInt(v any) int {
	switch n := v.(type) {
	case int64:
		return int(n)
	case int:
		return n
	}
	return 0
}

// reconcile makes Redis hold exactly the node's members of snap: members
// Redis still lists for this node but that left meanwhile (during an outage,
// or in a previous run with the same node id) are removed and announced
// with userLeft; every member of snap is (re-)recorded, re-creating rooms
// lost with a Redis restart. If survivors reaped the node while it was cut
// off, the members they announced as gone are announced again (userJoined).
func (b *Broker) reconcile(snap map[string]*localRoom, departed map[broker.Member]struct{}) {
	restore := func() { // try again next time
		b.needReconcile.Store(true)
		b.lmu.Lock()
		for m := range departed {
			b.departedLocked(m)
		}
		b.lmu.Unlock()
	}
	if !b.cmdOK.Load() {
		restore()
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 4*b.opt.OpTimeout)
	defer cancel()
	fail := func(err error) {
		restore()
		if !isRedisReply(err) && b.ctx.Err() == nil {
			b.setCmd(false, err)
		} else if b.ctx.Err() == nil {
			b.log.Error("re-registering members failed", "err", err)
		}
	}
	nodeKey := nodeMembersKey(b.opt.NodeID)
	pipe := b.client.Pipeline()
	reapedCmd := pipe.GetDel(ctx, nodeReapedKey(b.opt.NodeID))
	listedCmd := pipe.HGetAll(ctx, nodeKey)
	if _, err := pipe.Exec(ctx); err != nil && err != goredis.Nil {
		fail(err)
		return
	}
	reaped := reapedCmd.Val() != ""
	var ops []*stateOp
	for field, username := range listedCmd.Val() {
		room, uid, ok := strings.Cut(field, "\n")
		if !ok {
			continue
		}
		if r := snap[room]; r != nil {
			if _, ok := r.members[uid]; ok {
				continue
			}
		}
		m := broker.Member{Room: room, User: uid, Name: username}
		delete(departed, m)
		ops = append(ops, &stateOp{kind: opLeave, m: m})
	}
	stale := len(ops)
	for m := range departed {
		if r := snap[m.Room]; r != nil {
			if _, back := r.members[m.User]; back {
				continue // left and joined again
			}
		}
		// Not listed for this node any more (Redis lost its data, or the
		// node was reaped): remove it anyway and announce the leave.
		// (Unless survivors reaped it: then they announced it already.)
		ops = append(ops, &stateOp{kind: opLeave, m: m, announce: !reaped})
	}
	for id, r := range snap {
		for uid, lm := range r.members {
			ops = append(ops, &stateOp{kind: opJoin, m: broker.Member{Room: id, User: uid, Name: lm.username},
				name: r.name, joinedAt: lm.joinedAt})
		}
	}
	created := func(room string) string {
		if r := snap[room]; r != nil && r.createdAt != "" {
			return r.createdAt
		}
		return isotime.Format(time.Now())
	}
	announced := 0
	for len(ops) > 0 {
		n := min(len(ops), b.opt.PublishBatch)
		chunk := ops[:n]
		ops = ops[n:]
		cmds := make([]*goredis.Cmd, n)
		for i, op := range chunk {
			cmds[i] = b.evalOp(ctx, pipe, op, created(op.m.Room))
		}
		_, _ = pipe.Exec(ctx)
		for i, op := range chunk {
			vals, err := cmds[i].Slice()
			if err != nil {
				fail(err)
				return
			}
			if len(vals) < 2 || (toInt(vals[1]) != 1 && !op.announce) {
				continue // nothing changed for this member
			}
			count := toInt(vals[0])
			switch {
			case op.kind == opLeave:
				b.publishPresence(false, op.m, count, "")
				announced++
			case reaped:
				b.publishPresence(true, op.m, count, op.m.User)
				announced++
			}
		}
	}
	b.stats.reconciles.Add(1)
	lv := slog.LevelDebug
	if len(snap) > 0 || stale > 0 {
		lv = slog.LevelInfo
	}
	b.log.Log(ctx, lv, "members registered in redis", "members", countMembers(snap), "removedStale", stale,
		"announced", announced, "wasReaped", reaped)
}

func countMembers(snap map[string]*localRoom) int {
	n := 0
	for _, r := range snap {
		n += len(r.members)
	}
	return n
}

// publishPresence publishes a membership announcement of the broker's own
// (the node's Receiver encodes it).
func (b *Broker) publishPresence(joined bool, m broker.Member, count int, exclude string) {
	b.Publish(&broker.Event{Room: m.Room, Exclude: exclude, Body: b.recv.PresenceBody(joined, m, count)}, nil)
}

// Rooms implements broker.Broker. Concurrent requests share one read of Redis, but
// a request never gets an answer read before it was made.
func (b *Broker) Rooms(done func([]broker.Room, error)) {
	if b.closed.Load() || !b.cmdOK.Load() {
		done(nil, unavailable("redis unreachable", nil))
		return
	}
	b.rmu.Lock()
	b.roomWaiters = append(b.roomWaiters, done)
	start := !b.roomsRunning
	b.roomsRunning = true
	b.rmu.Unlock()
	if start {
		go b.roomsLoop()
	}
}

func (b *Broker) roomsLoop() {
	for {
		b.rmu.Lock()
		ws := b.roomWaiters
		b.roomWaiters = nil
		if len(ws) == 0 {
			b.roomsRunning = false
			b.rmu.Unlock()
			return
		}
		b.rmu.Unlock()
		list, err := b.readRooms()
		for _, w := range ws {
			w(list, err)
		}
	}
}

// readRooms lists the rooms with members, sorted by creation time. Room ids
// come from our index (kept by our scripts) and, at most every
// RoomScanInterval, from a SCAN for room_info:* keys, which finds rooms
// created by reference nodes; those are added to the index for every node.
// Index entries of rooms that have emptied are pruned.
func (b *Broker) readRooms() ([]broker.Room, error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.opt.OpTimeout)
	defer cancel()
	ids, err := b.client.SMembers(ctx, keyRooms).Result()
	if err != nil {
		return nil, b.roomsFailed(err)
	}
	b.rmu.Lock()
	scan := time.Since(b.lastScan) >= b.opt.RoomScanInterval
	b.rmu.Unlock()
	if scan {
		known := make(map[string]bool, len(ids))
		for _, id := range ids {
			known[id] = true
		}
		var found []any
		iter := b.client.Scan(ctx, 0, prefixRoomInfo+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if id := strings.TrimPrefix(iter.Val(), prefixRoomInfo); !known[id] {
				known[id] = true
				ids = append(ids, id)
				found = append(found, id)
			}
		}
		if err := iter.Err(); err != nil {
			return nil, b.roomsFailed(err)
		}
		if len(found) > 0 {
			if err := b.client.SAdd(ctx, keyRooms, found...).Err(); err != nil {
				return nil, b.roomsFailed(err)
			}
		}
		b.rmu.Lock()
		b.lastScan = time.Now()
		b.rmu.Unlock()
	}
	pipe := b.client.Pipeline()
	infos := make([]*goredis.SliceCmd, len(ids))
	counts := make([]*goredis.IntCmd, len(ids))
	for i, id := range ids {
		infos[i] = pipe.HMGet(ctx, prefixRoomInfo+id, "name", "createdAt")
		counts[i] = pipe.SCard(ctx, prefixRoomMembers+id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, b.roomsFailed(err)
	}
	list := make([]broker.Room, 0, len(ids))
	var empty []string
	for i, id := range ids {
		n := int(counts[i].Val())
		if n == 0 {
			empty = append(empty, id)
			continue
		}
		info := broker.Room{ID: id, Name: id, Members: n}
		if v := infos[i].Val(); len(v) == 2 {
			if s, ok := v[0].(string); ok && s != "" {
				info.Name = s
			}
			if s, ok := v[1].(string); ok {
				info.CreatedAt = s
			}
		}
		list = append(list, info)
	}
	// ISO 8601 UTC times of one format sort as strings.
	sort.Slice(list, func(i, j int) bool {
		if list[i].CreatedAt != list[j].CreatedAt {
			return list[i].CreatedAt < list[j].CreatedAt
		}
		return list[i].ID < list[j].ID
	})
	if len(empty) > 0 {
		for _, id := range empty {
			scriptPrune.Eval(ctx, pipe, []string{prefixRoomMembers + id, keyRooms}, id)
		}
		_, _ = pipe.Exec(ctx) // best effort; the next list retries
	}
	return list, nil
}

func (b *Broker) roomsFailed(err error) error {
	if !isRedisReply(err) && b.ctx.Err() == nil {
		b.setCmd(false, err)
	}
	return unavailable("room list", err)
}
