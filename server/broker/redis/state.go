package redis

import (
	"context"
	"fmt"
	"log/slog"
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
// registrations in Redis (keys.go, nodeRegs) are made to match.
//
// A registration ("this node has this user in this room") lives in a hash
// of the room's slot, changed by the same script as the room: a join or a
// leave is one atomic step, whichever node or reaper runs it, and a leave
// deletes the registration's field, so that of several nodes reaping the
// same dead node exactly one learns that it removed a member. In cluster
// mode the node first records the slot's tag in its slots set (once per
// slot; reap.go reads it), and adds the room to the room index after the
// join (rooms.go), since both are keys of other slots.

// localRoom is this node's view of one room it has members in.
type localRoom struct {
	name, createdAt string
	members         broker.MemberSet[localMember]
}

// localMember is one user in a room on this node: in Redis once (the
// node's member hash has one entry per room and user), however many of its
// connections are in the room here. 16 bytes, no allocation of its own: the
// user's name is the node's record of its first connection here (shared,
// not copied), and the join time a number formatted when it is sent again
// (a string of 24 bytes in a value of 40 cost a node ~100 B a membership).
//
// A room's members are a broker.MemberSet, not a map by user id: a map
// slot of 40 bytes (the key's header beside this) in groups that run part
// empty cost ~60 B a membership; the set's sorted list ~30 with 24-byte
// records, ~20 with these (issue 22).
type localMember struct {
	who *broker.Identity
	// The Unix ms when the user's first connection here joined (high
	// bits, to the year 2109) and the user's connections here (low
	// memberConnBits): one word, so that a record is 16 bytes, not 24.
	packed uint64
}

// memberConnBits holds a user's connections in one room on one node: up to
// 4,194,303 (more than a process can hold open; a join past it fails).
const (
	memberConnBits = 22
	maxMemberConns = 1<<memberConnBits - 1
)

func (lm localMember) joinedAt() int64 { return int64(lm.packed >> memberConnBits) }
func (lm localMember) conns() int      { return int(lm.packed & maxMemberConns) }

// UserID makes a localMember a broker.MemberSet entry.
func (lm localMember) UserID() string { return lm.who.User }

type opKind int

const (
	opJoin opKind = iota
	opLeave
	opReconcile
)

// stateOp is one queued change.
type stateOp struct {
	kind        opKind
	m           broker.Member
	name        string // join: room name if the room is new
	joinedAt    string // join
	done        func(broker.Membership, error)
	snap        map[string]*localRoom      // reconcile: the node's members when it was queued
	departed    map[broker.Member]struct{} // reconcile: members whose leave did not reach Redis
	announce    bool                       // reconcile: announce this leave even if Redis no longer had it
	wasDeparted bool                       // reconcile: a leave that had not reached Redis
	created     string                     // createdAt of the room if the join creates it
	notice      *ownNotice                 // join, leave: the announcement its script publishes (notice.go)
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
	now := time.Now().UnixMilli()
	op := &stateOp{kind: opJoin, m: m, name: name, done: done}
	b.lmu.Lock()
	r := b.local[m.Room]
	if r == nil {
		r = &localRoom{name: name}
		b.local[m.Room] = r
	}
	lm, had := r.members.Get(m.User)
	if !had {
		lm = localMember{who: m.Identity(), packed: uint64(now) << memberConnBits}
	} else if lm.conns() == maxMemberConns {
		b.lmu.Unlock()
		done(broker.Membership{}, fmt.Errorf("redis broker: %d connections of user %s in room %s on this node", maxMemberConns,
			m.User, m.Room))
		return
	}
	op.joinedAt = isotime.Format(time.UnixMilli(lm.joinedAt())) // the user's first connection here joined then
	lm.packed++                                                 // one more connection
	r.members.Set(lm)
	if !had {
		// The script announces the join if it makes the user a member;
		// the joiner is placed where that announcement passes (notice.go),
		// if the room is subscribed here (as the chat's joins are).
		if op.notice = b.ownNotice(true, m); op.notice != nil {
			if f := b.flowOf(m.Room); f != nil {
				b.awaitNotice(op, f)
			}
		}
	}
	// Even a user's further connection goes to Redis (the script changes
	// nothing then): its join answers with the room's count.
	ok := b.enqueueLocked(op)
	if !ok {
		b.dropConnLocked(m)
	}
	b.lmu.Unlock()
	if !ok && b.claimFailure(op) {
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
	ok := !b.closed.Load() && b.cmdOK.Load() &&
		b.enqueueLocked(&stateOp{kind: opLeave, m: m, done: done, notice: b.ownNotice(false, m)})
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
	m.ID, m.Conn = nil, 0 // a key by value: the re-registration looks it up by room, user and name
	b.departed[m] = struct{}{}
}

// dropConnLocked removes one connection of m's user from the local room and
// reports whether it was the user's last one there (the user is forgotten).
func (b *Broker) dropConnLocked(m broker.Member) (last bool) {
	r := b.local[m.Room]
	if r == nil {
		return true
	}
	lm, ok := r.members.Get(m.User)
	if !ok {
		return true
	}
	if lm.packed--; lm.conns() > 0 {
		r.members.Set(lm)
		return false
	}
	r.members.Remove(m.User)
	if r.members.Len() == 0 {
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
		b.finished(1)
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
		snap[id] = &localRoom{name: r.name, createdAt: r.createdAt, members: r.members.Clone()}
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
			b.finished(1)
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
		b.applyBatch(batch)
		b.finished(int64(len(batch)))
		clear(batch)
	}
}

func (b *Broker) failQueuedState() {
	for {
		select {
		case op := <-b.stateq:
			b.finished(1)
			if op.done != nil && b.claimFailure(op) {
				op.done(broker.Membership{}, errBrokerClosed)
			}
		default:
			return
		}
	}
}

// regKeys are the KEYS of the join and leave scripts for node's
// registration of a member of room (without the optional trailing ones).
func (b *Broker) regKeys(node, room, uid string) []string {
	k := b.keys
	return []string{k.nodeRegsOf(node, room), k.roomInfo(room), k.roomMembers(room), k.userData(room, uid),
		k.roomUsers(room)}
}

// opCmd returns the script of this node's join or leave.
func (b *Broker) opCmd(ctx context.Context, op *stateOp) rcmd {
	m := op.m
	keys := b.regKeys(b.opt.NodeID, m.Room, m.User)
	slot := b.keys.roomSlot(m.Room)
	if op.kind == opJoin {
		if !b.keys.cluster {
			keys = append(keys, keyRooms, keyNodes)
		}
		return rcmd{slot, evalCmd(ctx, srcJoin, keys, append([]any{m.Room, m.User, m.Name, op.name, op.created,
			op.joinedAt, b.opt.NodeID}, b.noticeArgs(op.notice, m.Room)...)...)}
	}
	return b.leaveCmd(ctx, b.opt.NodeID, m, false, op.notice)
}

// leaveCmd returns the leave script for node's registration of m, which
// publishes nt if it ends the membership (nil: none); reaping removes
// nothing but that registration.
func (b *Broker) leaveCmd(ctx context.Context, node string, m broker.Member, reaping bool, nt *ownNotice) rcmd {
	keys := b.regKeys(node, m.Room, m.User)
	if !b.keys.cluster {
		keys = append(keys, keyRooms)
	}
	only := "0"
	if reaping {
		only = "1"
	}
	return rcmd{b.keys.roomSlot(m.Room), evalCmd(ctx, srcLeave, keys, append([]any{m.Room, m.User, only},
		b.noticeArgs(nt, m.Room)...)...)}
}

// keySlot is the slot of a key (-1 in single mode).
func (b *Broker) keySlot(key string) int {
	if !b.keys.cluster {
		return -1
	}
	return keySlot(key)
}

// runOps runs joins and leaves of this node, in order, and returns each
// one's reply (or error). In cluster mode the slots of the joins are first
// recorded in the node's slots set, if they are not yet; a join whose slot
// could not be recorded is not run (a registration the reapers cannot find
// would outlive the node).
func (b *Broker) runOps(ctx context.Context, ops []*stateOp) ([][]any, []error) {
	vals := make([][]any, len(ops))
	errs := make([]error, len(ops))
	if b.keys.cluster {
		var tags []any
		seen := map[string]bool{}
		for _, op := range ops {
			if op.kind != opJoin {
				continue
			}
			if t := b.keys.regsTag(op.m.Room); !b.recorded[t] && !seen[t] {
				seen[t] = true
				tags = append(tags, t)
			}
		}
		if len(tags) > 0 {
			slotsKey := b.keys.nodeSlots(b.opt.NodeID)
			cmds := []rcmd{
				{keySlot(slotsKey), goredis.NewIntCmd(ctx, append([]any{"sadd", slotsKey}, tags...)...)},
				{keySlot(keyNodes), goredis.NewIntCmd(ctx, "sadd", keyNodes, b.opt.NodeID)},
			}
			b.send(ctx, cmds)
			err := cmds[0].cmd.Err()
			if err == nil {
				err = cmds[1].cmd.Err()
			}
			for t := range seen {
				if err == nil {
					b.recorded[t] = true
				}
			}
			if err != nil {
				for i, op := range ops {
					if op.kind == opJoin && seen[b.keys.regsTag(op.m.Room)] {
						errs[i] = err
					}
				}
			}
		}
	}
	cmds := make([]rcmd, 0, len(ops))
	idx := make([]int, 0, len(ops))
	for i, op := range ops {
		if errs[i] == nil {
			cmds = append(cmds, b.opCmd(ctx, op))
			idx = append(idx, i)
		}
	}
	b.send(ctx, cmds)
	for j, c := range cmds {
		i := idx[j]
		vals[i], errs[i] = c.cmd.(*goredis.Cmd).Slice()
		if errs[i] == nil && len(vals[i]) < 2 {
			errs[i] = goredis.Nil
		}
	}
	return vals, errs
}

// indexRooms adds the rooms of successful joins to the room index (cluster
// mode; in single mode the join script does). After the joins, so that a
// room list that prunes the index meanwhile cannot drop a room that has
// just been created (rooms.go).
func (b *Broker) indexRooms(ctx context.Context, rooms map[string]bool) {
	if !b.keys.cluster || len(rooms) == 0 {
		return
	}
	args := []any{"sadd", keyRooms}
	for r := range rooms {
		args = append(args, r)
	}
	cmd := goredis.NewIntCmd(ctx, args...)
	b.send(ctx, []rcmd{{keySlot(keyRooms), cmd}})
	if err := cmd.Err(); err != nil {
		// The room list's SCAN finds such rooms (rooms.go).
		b.log.Debug("adding rooms to the room index failed", "err", err)
	}
}

// applyBatch runs joins and leaves in one round trip.
func (b *Broker) applyBatch(batch []*stateOp) {
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
	for _, op := range batch {
		op.created = now
	}
	vals, errs := b.runOps(ctx, batch)
	var down error
	joined := map[string]bool{}
	for i, op := range batch {
		if err := errs[i]; err != nil {
			if !isRedisReply(err) {
				down = err
				err = unavailable("redis", err)
			} else if isOOM(err) {
				err = b.writeError("join", err)
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
		count := toInt(vals[i][0])
		if op.kind == opJoin {
			joined[op.m.Room] = true
			if len(vals[i]) >= 4 {
				name, _ := vals[i][2].(string)
				created, _ := vals[i][3].(string)
				b.lmu.Lock()
				if r := b.local[op.m.Room]; r != nil {
					r.name, r.createdAt = name, created
				}
				b.lmu.Unlock()
			}
		}
		st := broker.Membership{Count: count, Changed: toInt(vals[i][1]) == 1}
		if op.kind == opLeave {
			st.Announced = len(vals[i]) >= 4 && toInt(vals[i][3]) == 1 // the script published it
		} else {
			told := len(vals[i]) >= 5 && toInt(vals[i][4]) == 1
			if !b.claimReply(op, st, told) {
				continue // answered where its announcement passes (notice.go)
			}
			st.Announced = told
		}
		op.done(st, nil)
	}
	b.commandFailed(down)
	b.indexRooms(ctx, joined)
}

// opFailed reports a failed join or leave; the connection of a failed join
// is forgotten locally (the client was told it failed).
func (b *Broker) opFailed(op *stateOp, err error) {
	if !b.claimFailure(op) {
		return // its announcement passed: it was answered, placed (the script ran)
	}
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
		if !isRedisReply(err) {
			b.commandFailed(err)
		} else if b.ctx.Err() == nil {
			b.log.Error("re-registering members failed", "err", err)
		}
	}
	reapedKey := b.keys.nodeReaped(b.opt.NodeID)
	reapedCmd := goredis.NewStringCmd(ctx, "getdel", reapedKey)
	b.send(ctx, []rcmd{{b.keySlot(reapedKey), reapedCmd}})
	if err := reapedCmd.Err(); err != nil && err != goredis.Nil {
		fail(err)
		return
	}
	reaped := reapedCmd.Val() != ""
	listed, err := b.readRegs(ctx, b.opt.NodeID)
	if err != nil {
		fail(err)
		return
	}
	// Record every slot again: the slots set may have been lost with a
	// master.
	clear(b.recorded)
	var ops []*stateOp
	for field, username := range listed {
		room, uid, ok := strings.Cut(field, "\n")
		if !ok {
			continue
		}
		if r := snap[room]; r != nil {
			if _, ok := r.members.Get(uid); ok {
				continue
			}
		}
		m := broker.Member{Room: room, User: uid, Name: username}
		delete(departed, m)
		ops = append(ops, &stateOp{kind: opLeave, m: m})
	}
	stale := len(ops)
	// The node's members are recorded first, so that the leaves announced
	// after them carry a count that includes them: after a Redis that lost
	// its data, a departed member's userLeft said 0 to members still in the
	// room.
	//
	// Only members Redis does not list for this node (under their name) are
	// recorded again: a registration and its membership are written by one
	// script, in one slot, so a listed member is a member. After an outage
	// in which Redis kept its data (most often: it was only slow, and a
	// request timed out) that is none of them, and the re-registration costs
	// Redis one read instead of one script per member: under overload, a
	// script per member on every node that saw a timeout is what kept Redis
	// overloaded (BENCHMARKS.md §8). A node that was reaped records them all
	// again: reapers may still be removing what it read.
	var joins []*stateOp
	kept := 0
	for id, r := range snap {
		for lm := range r.members.All() {
			uid := lm.who.User
			if name, ok := listed[id+"\n"+uid]; ok && name == lm.who.Name && !reaped {
				kept++
				continue
			}
			joins = append(joins, &stateOp{kind: opJoin, m: broker.Member{Room: id, User: uid, Name: lm.who.Name},
				name: r.name, joinedAt: isotime.Format(time.UnixMilli(lm.joinedAt()))})
		}
	}
	rewritten := len(joins)
	ops = append(joins, ops...)
	for m := range departed {
		if r := snap[m.Room]; r != nil {
			if _, back := r.members.Get(m.User); back {
				continue // left and joined again
			}
		}
		// Not listed for this node any more (Redis lost its data, or the
		// node was reaped): remove it anyway and announce the leave.
		// (Unless survivors reaped it: then they announced it already.)
		ops = append(ops, &stateOp{kind: opLeave, m: m, announce: !reaped, wasDeparted: true})
	}
	now := isotime.Format(time.Now())
	for _, op := range ops {
		op.created = now
		if r := snap[op.m.Room]; r != nil && r.createdAt != "" {
			op.created = r.createdAt
		}
	}
	// An op that fails is tried again by the next re-registration: a stale
	// registration is listed again, a join re-made from the local members,
	// a departed member remembered (only the failed ones: the others were
	// announced). With one Redis a network error ends the round (every
	// further op would fail the same way); in a cluster it may concern one
	// master of several, and the others' rooms are re-registered meanwhile.
	announced := 0
	var lastErr error
	for len(ops) > 0 {
		n := min(len(ops), b.opt.PublishBatch)
		chunk := ops[:n]
		ops = ops[n:]
		vals, errs := b.runOps(ctx, chunk)
		joined := map[string]bool{}
		for i, op := range chunk {
			if err := errs[i]; err != nil {
				lastErr = err
				if op.wasDeparted {
					b.lmu.Lock()
					b.departedLocked(op.m)
					b.lmu.Unlock()
				}
				continue
			}
			if op.kind == opJoin {
				joined[op.m.Room] = true
			}
			if toInt(vals[i][1]) != 1 && !op.announce {
				continue // nothing changed for this member
			}
			count := toInt(vals[i][0])
			switch {
			case op.kind == opLeave:
				b.publishPresence(false, op.m, count, "")
				announced++
			case reaped:
				b.publishPresence(true, op.m, count, op.m.User)
				announced++
			}
		}
		b.indexRooms(ctx, joined)
		if lastErr != nil && !b.keys.cluster && !isRedisReply(lastErr) {
			departed = map[broker.Member]struct{}{}
			for _, op := range ops {
				if op.wasDeparted {
					departed[op.m] = struct{}{}
				}
			}
			fail(lastErr)
			return
		}
	}
	if lastErr != nil {
		b.needReconcile.Store(true)
		if !isRedisReply(lastErr) {
			b.commandFailed(lastErr)
		} else if b.ctx.Err() == nil {
			b.log.Error("re-registering members failed", "err", lastErr)
		}
		if b.keys.cluster {
			b.log.Warn("some members could not be re-registered; trying again", "err", lastErr)
		}
		return
	}
	b.stats.reconciles.Add(1)
	b.stats.reregistered.Add(int64(rewritten))
	lv := slog.LevelDebug
	if len(snap) > 0 || stale > 0 {
		lv = slog.LevelInfo
	}
	b.log.Log(ctx, lv, "members registered in redis", "members", countMembers(snap), "rewritten", rewritten, "listed", kept, "removedStale", stale,
		"announced", announced, "wasReaped", reaped)
}

func countMembers(snap map[string]*localRoom) int {
	n := 0
	for _, r := range snap {
		n += r.members.Len()
	}
	return n
}

// publishPresence publishes a membership announcement of the broker's own
// (the node's Receiver encodes it).
func (b *Broker) publishPresence(joined bool, m broker.Member, count int, exclude string) {
	b.Publish(&broker.Event{Room: m.Room, Exclude: exclude, Body: b.recv.PresenceBody(joined, m, count)}, nil)
}

// regHashes lists node's registration hashes: the one hash in single mode,
// one per slot tag of its slots set in cluster mode.
func (b *Broker) regHashes(ctx context.Context, node string) ([]string, error) {
	if !b.keys.cluster {
		return []string{b.keys.nodeRegs(node, "")}, nil
	}
	tags, err := b.client.SMembers(ctx, b.keys.nodeSlots(node)).Result()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = b.keys.nodeRegs(node, t)
	}
	return out, nil
}

// readRegs returns node's registrations: "<roomId>\n<userId>" -> username.
func (b *Broker) readRegs(ctx context.Context, node string) (map[string]string, error) {
	keys, err := b.regHashes(ctx, node)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	pipe := b.client.Pipeline()
	cmds := make([]*goredis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGetAll(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, c := range cmds {
		for f, v := range c.Val() {
			out[f] = v
		}
	}
	return out, nil
}
