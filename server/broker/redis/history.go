package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chatd/chatd/server/broker"
	goredis "github.com/redis/go-redis/v9"
)

// Room history in Redis.
//
// A stored message is appended and published by one Lua script
// (srcStore): the next offset from the room's meta hash, the entry in the
// room's history stream, the PUBLISH of the payload with its offset and
// epoch, all in one step, so the publish order is the offset order and no
// offset is ever skipped or used twice. Both keys carry the room's hash tag
// ({<roomId>}), so that in Redis Cluster they live in one slot, with the
// room's shard channel, which the cluster variant SPUBLISHes to.
//
// Why a stream, not a list: entries are added with explicit IDs "<offset>-0",
// so reading "everything after offset N" is XRANGE from (N+1)-0, an exact
// range however many entries a concurrent trim removed meanwhile (a list
// would be addressed by index, which every trim shifts); XADD trims to the
// cap in the same command (MAXLEN); and small entries pack into listpacks.
// Each entry holds the payload (p) and its time in ms (t), for the age limit.
//
// The meta hash {epoch, offset} names one life of the history: when it is
// gone (expired with an idle room, or a Redis restarted empty), the next
// store starts a new epoch at offset 1. Both keys expire HistoryAge after the
// room's last stored message.
//
// A join names the epoch before the first message (srcEpoch, run by a Sync
// barrier when the room's flow knows no epoch yet, flow.go): the meta hash
// is made with offset 0, and the first store numbers on from it, so a client
// that joined an empty room recovers with the join's epoch. Such a meta hash
// expires HistoryAge after it was named or renewed (a join renews it at
// most every half HistoryAge per node, flow.go), so at least half the age
// after the last join; if it lapses before the first message (or a Redis
// restarted empty loses it), the first message (or join) brings another
// epoch, and every node that told its members the old one pushes a resync
// (flow.go): never a silent hole.
//
// Redis Cluster: replication is asynchronous, so a replica promoted after
// its master died may lack the master's last stored messages, although
// members already got them. Numbering on from the replica's offset would
// give new messages the offsets of delivered ones: nodes would drop them as
// duplicates, a silent hole. So the meta hash also records which node wrote
// it (w, CLUSTER MYID), and a store on another node (a promoted replica, or
// the target of a slot migration) starts a new epoch, with an empty
// history: members are told to resync, which is the truth: the cluster
// cannot vouch for the continuity of that room's history any more.

// srcStore stores and publishes one message. A new epoch starts with an
// empty stream: the two keys expire together, but Redis may drop one a
// moment before the other, and the old entries' IDs would refuse the new
// ones. KEYS: meta, history. ARGV:
// channel, the payload without its closing brace, an epoch for a new
// history, cap, TTL in seconds, now in ms. Returns {offset, epoch}.
const srcStore = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[3]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local n = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local payload = ARGV[2] .. ',"offset":' .. n .. ',"epoch":"' .. epoch .. '"}'
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], n .. '-0', 'p', payload, 't', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('PUBLISH', ARGV[1], payload)
return {n, epoch}
`

// srcStoreCluster is srcStore for Redis Cluster: SPUBLISH, and a new epoch
// when the history was written by another node.
const srcStoreCluster = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local me = redis.call('CLUSTER', 'MYID')
if epoch and redis.call('HGET', KEYS[1], 'w') ~= me then
  redis.call('DEL', KEYS[1])
  epoch = false
end
if not epoch then
  epoch = ARGV[3]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'w', me)
end
local n = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local payload = ARGV[2] .. ',"offset":' .. n .. ',"epoch":"' .. epoch .. '"}'
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], n .. '-0', 'p', payload, 't', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('SPUBLISH', ARGV[1], payload)
return {n, epoch}
`

// srcEpoch names the room's epoch: the meta hash's, made (offset 0, with
// an empty stream, as srcStore does) if it has none. KEYS: meta, history.
// ARGV: an epoch for a new history, TTL in seconds. Returns {epoch,
// offset}. An epoch without messages gets the TTL again.
const srcEpoch = `
local v = redis.call('HMGET', KEYS[1], 'epoch', 'offset')
if not v[1] then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'offset', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {ARGV[1], 0}
end
local n = tonumber(v[2] or '0')
if n == 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return {v[1], n}
`

// srcEpochCluster is srcEpoch for Redis Cluster: a history written by
// another node is dropped first, as srcStoreCluster would drop it at the
// next store.
const srcEpochCluster = `
local me = redis.call('CLUSTER', 'MYID')
local v = redis.call('HMGET', KEYS[1], 'epoch', 'offset', 'w')
if v[1] and v[3] ~= me then
  redis.call('DEL', KEYS[1])
  v[1] = false
end
if not v[1] then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'offset', 0, 'w', me)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {ARGV[1], 0}
end
local n = tonumber(v[2] or '0')
if n == 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return {v[1], n}
`

// nameEpoch returns the room's epoch and newest offset, naming the epoch
// (srcEpoch) if the room has none.
func (b *Broker) nameEpoch(ctx context.Context, room string) (broker.Position, error) {
	src, keys := srcEpoch, []string{b.keys.meta(room), b.keys.history(room)}
	if b.keys.cluster {
		src = srcEpochCluster
	}
	cmd := evalCmd(ctx, src, keys, b.nextEpoch(), int64(b.opt.HistoryAge/time.Second))
	b.send(ctx, []rcmd{{b.keys.roomSlot(room), cmd}})
	vals, err := cmd.Slice()
	if err != nil {
		return broker.Position{}, err
	}
	var epoch string
	if len(vals) == 2 {
		epoch, _ = vals[0].(string)
	}
	if epoch == "" {
		return broker.Position{}, fmt.Errorf("epoch script: unexpected reply %v", vals)
	}
	return broker.Position{Epoch: epoch, Offset: uint64(toInt(vals[1]))}, nil
}

// entry is one stored message read back.
type entry struct {
	offset  uint64
	at      int64 // ms
	payload string
}

func entriesOf(msgs []goredis.XMessage) []entry {
	out := make([]entry, 0, len(msgs))
	for _, m := range msgs {
		id, _, _ := strings.Cut(m.ID, "-")
		off, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			continue
		}
		p, _ := m.Values["p"].(string)
		ts, _ := m.Values["t"].(string)
		at, _ := strconv.ParseInt(ts, 10, 64)
		out = append(out, entry{offset: off, at: at, payload: p})
	}
	return out
}

// readMeta returns the room's history position: its epoch and newest offset
// ("" and 0 when it has none).
func (b *Broker) readMeta(ctx context.Context, room string) (broker.Position, error) {
	v, err := b.client.HMGet(ctx, b.keys.meta(room), "epoch", "offset").Result()
	if err != nil {
		return broker.Position{}, err
	}
	var pos broker.Position
	pos.Epoch, _ = v[0].(string)
	if s, ok := v[1].(string); ok {
		pos.Offset, _ = strconv.ParseUint(s, 10, 64)
	}
	return pos, nil
}

// readRange returns the stored messages with offsets from..to.
func (b *Broker) readRange(ctx context.Context, room string, from, to uint64) ([]entry, error) {
	b.stats.historyReads.Add(1)
	msgs, err := b.client.XRange(ctx, b.keys.history(room), strconv.FormatUint(from, 10)+"-0",
		strconv.FormatUint(to, 10)+"-0").Result()
	if err != nil {
		return nil, err
	}
	return entriesOf(msgs), nil
}

// readNewest returns the newest limit stored messages at or below upTo (0:
// the newest), oldest first.
func (b *Broker) readNewest(ctx context.Context, room string, upTo uint64, limit int) ([]entry, error) {
	if limit <= 0 {
		return nil, nil
	}
	b.stats.historyReads.Add(1)
	end := "+"
	if upTo > 0 {
		end = strconv.FormatUint(upTo, 10) + "-0"
	}
	msgs, err := b.client.XRevRangeN(ctx, b.keys.history(room), end, "-", int64(limit)).Result()
	if err != nil {
		return nil, err
	}
	es := entriesOf(msgs)
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es, nil
}

// ofEpoch keeps the entries of epoch, up to the first of another one: the
// history read may be a later life of the room's than the position asked
// about (Redis lost it and a new epoch began), whose offsets mean
// something else.
func ofEpoch(es []entry, epoch string) []entry {
	for i, e := range es {
		if p, ok := storedPosition(e.payload); !ok || p.Epoch != epoch {
			return es[:i]
		}
	}
	return es
}

// young drops the entries older than the history's age limit.
func (b *Broker) young(es []entry) []entry {
	cut := time.Now().Add(-b.opt.HistoryAge).UnixMilli()
	for len(es) > 0 && es[0].at < cut {
		es = es[1:]
	}
	return es
}

// answer reads what q asks for, up to pos (what this node has delivered):
// with Since, every message after it if the history still covers them;
// otherwise (or when it does not) the newest q.Limit up to pos.
func (b *Broker) answer(ctx context.Context, room string, pos broker.Position, q broker.HistoryQuery) (broker.HistoryResult, error) {
	res := broker.HistoryResult{Position: pos}
	if s := q.Since; s != nil && (s.Epoch == pos.Epoch || (s.Epoch == "" && s.Offset == 0)) {
		if s.Offset >= pos.Offset {
			// Nothing missed (or this node is behind the client: what it
			// delivers next, the client may have; it keeps the first copy).
			res.Recovered = true
			return res, nil
		}
		es, err := b.readRange(ctx, room, s.Offset+1, pos.Offset)
		if err != nil {
			return res, err
		}
		es = b.young(ofEpoch(es, pos.Epoch))
		if uint64(len(es)) == pos.Offset-s.Offset && (len(es) == 0 || es[0].offset == s.Offset+1) {
			for _, e := range es {
				res.Messages = append(res.Messages, e.payload)
			}
			res.Recovered = true
			return res, nil
		}
	}
	upTo := pos.Offset
	if q.Before > 0 {
		upTo = min(upTo, q.Before-1)
		if q.Before == 1 {
			return res, nil
		}
	}
	if upTo == 0 {
		return res, nil
	}
	es, err := b.readNewest(ctx, room, upTo, q.Limit)
	if err != nil {
		return res, err
	}
	for _, e := range b.young(ofEpoch(es, pos.Epoch)) {
		res.Messages = append(res.Messages, e.payload)
	}
	return res, nil
}

// History implements broker.Broker.
func (b *Broker) History(room string, q broker.HistoryQuery, done func(broker.HistoryResult, error)) {
	if b.closed.Load() || !b.cmdOK.Load() {
		done(broker.HistoryResult{}, unavailable("redis unreachable", nil))
		return
	}
	ok := b.spawn(func() {
		ctx, cancel := context.WithTimeout(b.ctx, b.opt.OpTimeout)
		defer cancel()
		pos, err := b.readMeta(ctx, room)
		var res broker.HistoryResult
		if err == nil {
			res, err = b.answer(ctx, room, pos, broker.HistoryQuery{Before: q.Before, Limit: q.Limit})
		}
		if err != nil {
			err = b.readFailed("history", err)
		}
		done(res, err)
	})
	if !ok {
		done(broker.HistoryResult{}, errBrokerClosed)
	}
}

// readFailed marks Redis down when err is not a Redis reply, and wraps it.
func (b *Broker) readFailed(what string, err error) error {
	b.commandFailed(err)
	return unavailable(what, err)
}

// DeleteHistory implements broker.Broker: both keys go, so the next stored
// message starts a new epoch at offset 1.
func (b *Broker) DeleteHistory(room string, done func(error)) {
	if b.closed.Load() || !b.cmdOK.Load() {
		done(unavailable("redis unreachable", nil))
		return
	}
	ok := b.spawn(func() {
		ctx, cancel := context.WithTimeout(b.ctx, b.opt.OpTimeout)
		defer cancel()
		err := b.client.Del(ctx, b.keys.meta(room), b.keys.history(room)).Err()
		if err != nil {
			err = b.readFailed("delete history", err)
		}
		done(err)
	})
	if !ok {
		done(errBrokerClosed)
	}
}
