package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chatd/chatd/server/broker"
)

// Room history in Redis.
//
// A room's history is two keys with the room's hash tag ({<roomId>}, so
// that in Redis Cluster they live in one slot, with the room's shard
// channel, which the cluster variant SPUBLISHes to):
//
//   - chatd:{<roomId>}:meta, a small hash: epoch (one life of the history),
//     offset (the newest message's), bytes (the log's entries together),
//     x (when the keys' TTL was last set to expire, ms), w (Redis Cluster:
//     the master that wrote it, CLUSTER MYID).
//   - chatd:{<roomId>}:log, a list of the newest messages, oldest first,
//     each entry "<ms> <payload>": its time (for the age limit) and the
//     payload as published (ending in its offset and epoch).
//
// A list of short strings is one listpack, a few hundred bytes for a room
// with one short message (a stream's first node took 4.75 KB): most rooms
// have few messages. Both keys are trimmed by count (HistorySize) and by
// bytes (HistoryRoomBytes, the oldest first) in the store script.
//
// Messages are stored and published by one Lua script call per room per
// publish batch (srcStore): the next offsets from the meta hash, the
// entries, the trim, the PUBLISH of every event of the room in the batch
// in order, all in one step, so the publish order is the offset order and
// no offset is ever skipped or used twice. The log holds consecutive
// offsets ending at the meta's offset (a new epoch empties it), so a read
// finds "offsets a..b" by index, in one script (srcRead) that reads the
// meta and the list together: a trim cannot shift the list between them.
// Every entry's offset and epoch are checked again on reading (ofEpoch,
// entriesCover): a hole reads as not recovered, never as wrong messages.
//
// Both keys expire after the history age, set lazily: the script sets
// their TTL to the age plus a slack (ttlSlack) only when what is left of
// it (meta x) is under the age, so a busy room pays one PEXPIRE pair per
// slack, not per message, and a history still lives at least the age
// after its last message.
//
// The meta hash names one life of the history: when it is gone (expired
// with an idle room, or a Redis restarted empty), the next store starts a
// new epoch at offset 1.
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
// Redis at maxmemory (noeviction): the scripts' first write is one that
// Redis refuses when it is out of memory (HSET, RPUSH), so a refused store
// has done nothing, published nothing, and its senders are told
// (broker.ErrStorageFull).
//
// Histories written by a version of chatd before this layout (a stream,
// chatd:{<roomId>}:history) are not read: the new log starts empty beside
// them, so a recovery from before the upgrade answers recovered: false;
// the old stream expires with its TTL and goes at once with a
// DeleteHistory (docs/cluster.md).
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

// srcStore stores and publishes the events of one room in one publish
// batch. KEYS: meta, log, and with the message sink on its queue and drop
// counter for the room (sink.go). ARGV: [1] channel, [2] an epoch for a new
// history, [3] count cap, [4] byte cap (0: none), [5] TTL in ms (the
// history age), [6] the TTL slack in ms, [7] now in ms, [8] "1" in Redis
// Cluster mode (SPUBLISH; a history another master wrote starts anew),
// [9] the room id and [10] the sink queue's bound (used with the sink
// keys only), [11...] the room's events in order: "s" + a payload to store without its
// closing brace, or "p" + a payload to publish only. Returns {epoch,
// newest offset, bytes of entries added, entries trimmed, their bytes}
// (the trims by count or bytes, for the metrics).
//
// An entry larger than the byte cap is published but not kept. A new epoch
// empties the log: the two keys expire together, but Redis may drop one a
// moment before the other.
const srcStore = `
local meta, log = KEYS[1], KEYS[2]
local cluster = ARGV[8] == '1'
local v = redis.call('HMGET', meta, 'epoch', 'offset', 'bytes', 'x', 'w')
local epoch, n = v[1], tonumber(v[2] or '0')
local bytes, x = tonumber(v[3] or '0'), tonumber(v[4] or '0')
local me
if cluster then
  me = redis.call('CLUSTER', 'MYID')
  if epoch and v[5] ~= me then epoch = false end
end
local now, cap, maxb = tonumber(ARGV[7]), tonumber(ARGV[3]), tonumber(ARGV[4])
if not epoch then
  epoch, n, bytes, x = ARGV[2], 0, 0, 0
  if cluster then
    redis.call('HSET', meta, 'epoch', epoch, 'offset', 0, 'bytes', 0, 'x', 0, 'w', me)
  else
    redis.call('HSET', meta, 'epoch', epoch, 'offset', 0, 'bytes', 0, 'x', 0)
  end
  redis.call('DEL', log)
end
local out, stored, entries, added = {}, {}, {}, 0
for i = 11, #ARGV do
  local a = ARGV[i]
  if string.byte(a, 1) == 115 then -- 's'
    n = n + 1
    local p = string.sub(a, 2) .. ',"offset":' .. n .. ',"epoch":"' .. epoch .. '"}'
    local e = now .. ' ' .. p
    if maxb <= 0 or #e <= maxb then
      entries[#entries + 1] = e
      bytes, added = bytes + #e, added + #e
    end
    stored[#stored + 1] = p
    out[#out + 1] = p
  else
    out[#out + 1] = string.sub(a, 2)
  end
end
local cut, cutBytes = 0, 0
if #entries > 0 then
  local len = redis.call('RPUSH', log, unpack(entries))
  if len == #entries then x = 0 end
  while len > cap or (maxb > 0 and bytes > maxb) do
    local e = redis.call('LPOP', log)
    if not e then bytes = 0 break end
    bytes, len, cut, cutBytes = bytes - #e, len - 1, cut + 1, cutBytes + #e
  end
end
local ttl, slack = tonumber(ARGV[5]), tonumber(ARGV[6])
if x - now < ttl then
  x = now + ttl + slack
  redis.call('HSET', meta, 'offset', n, 'bytes', bytes, 'x', x)
  redis.call('PEXPIRE', meta, ttl + slack)
  redis.call('PEXPIRE', log, ttl + slack)
else
  redis.call('HSET', meta, 'offset', n, 'bytes', bytes)
end
-- Extensions: stored holds the complete payloads stored by this call, in
-- offset order; optional trailing KEYS (KEYS[3], ...) are theirs.
-- Sink (sink.go), only with KEYS[3] (the room's sink queue, a stream) and
-- KEYS[4] (its drop counter): each message stored here is appended to the
-- queue with its place (room ARGV[9], epoch, offset), unless the queue
-- holds ARGV[10] entries: then it is counted in KEYS[4] instead.
if KEYS[4] and #stored > 0 then
  local free = tonumber(ARGV[10]) - redis.call('XLEN', KEYS[3])
  for i = 1, #stored do
    if i <= free then
      redis.call('XADD', KEYS[3], '*', 'r', ARGV[9], 'e', epoch, 'o', n - #stored + i, 't', now, 'p', stored[i])
    else
      redis.call('INCRBY', KEYS[4], #stored - i + 1)
      break
    end
  end
end
local pub = 'PUBLISH'
if cluster then pub = 'SPUBLISH' end
for i = 1, #out do redis.call(pub, ARGV[1], out[i]) end
return {epoch, n, added, cut, cutBytes}
`

// srcRead reads a room's history: the meta hash and the log entries with
// offsets from..to (to 0 or past the newest: up to the newest), or, with a
// limit, the newest limit of them. KEYS: meta, log. ARGV: from, to, limit
// (0: none). Returns {epoch, newest offset, entries...} ({} without a
// history). The log's offsets are consecutive and end at the newest, so
// offset o is at index len-1-(newest-o); the caller checks the entries'
// offsets anyway.
const srcRead = `
local v = redis.call('HMGET', KEYS[1], 'epoch', 'offset')
if not v[1] then return {} end
local n = tonumber(v[2] or '0')
local from, to, lim = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if to == 0 or to > n then to = n end
if lim > 0 and to - lim + 1 > from then from = to - lim + 1 end
if from < 1 then from = 1 end
local out = {v[1], n}
if from > to then return out end
local len = redis.call('LLEN', KEYS[2])
local last, first = len - 1 - (n - to), len - 1 - (n - from)
if last < 0 then return out end
if first < 0 then first = 0 end
for _, e in ipairs(redis.call('LRANGE', KEYS[2], first, last)) do out[#out + 1] = e end
return out
`

// srcEpoch names the room's epoch: the meta hash's, made (offset 0, with
// an empty log, as srcStore does) if it has none. KEYS: meta, log.
// ARGV: an epoch for a new history, TTL in seconds. Returns {epoch,
// offset}. An epoch without messages gets the TTL again.
const srcEpoch = `
local v = redis.call('HMGET', KEYS[1], 'epoch', 'offset')
if not v[1] then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'offset', 0, 'bytes', 0, 'x', 0)
  redis.call('DEL', KEYS[2])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {ARGV[1], 0}
end
local n = tonumber(v[2] or '0')
if n == 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return {v[1], n}
`

// srcEpochCluster is srcEpoch for Redis Cluster: a history written by
// another node is dropped first, as srcStore would drop it at the next
// store.
const srcEpochCluster = `
local me = redis.call('CLUSTER', 'MYID')
local v = redis.call('HMGET', KEYS[1], 'epoch', 'offset', 'w')
if v[1] and v[3] ~= me then v[1] = false end
if not v[1] then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'offset', 0, 'bytes', 0, 'x', 0, 'w', me)
  redis.call('DEL', KEYS[2])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {ARGV[1], 0}
end
local n = tonumber(v[2] or '0')
if n == 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return {v[1], n}
`

// ttlSlack is how much longer than the history age the store script sets a
// history's TTL, so that it need not set it again for that long: an eighth
// of the age, at most an hour.
func ttlSlack(age time.Duration) time.Duration { return min(age/8, time.Hour) }

// nameEpoch returns the room's epoch and newest offset, naming the epoch
// (srcEpoch) if the room has none.
func (b *Broker) nameEpoch(ctx context.Context, room string) (broker.Position, error) {
	src, keys := srcEpoch, []string{b.keys.meta(room), b.keys.log(room)}
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

// entriesOf parses log entries ("<ms> <payload>"); the offset is the
// payload's. Entries that do not parse are left out (a hole, which the
// readers notice).
func entriesOf(vals []any) []entry {
	out := make([]entry, 0, len(vals))
	for _, v := range vals {
		s, _ := v.(string)
		ts, p, ok := strings.Cut(s, " ")
		if !ok {
			continue
		}
		pos, ok := storedPosition(p)
		if !ok {
			continue
		}
		at, _ := strconv.ParseInt(ts, 10, 64)
		out = append(out, entry{offset: pos.Offset, at: at, payload: p})
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

// readLog runs srcRead: the history's position and the entries it found.
func (b *Broker) readLog(ctx context.Context, room string, from, to uint64, limit int) (broker.Position, []entry, error) {
	b.stats.historyReads.Add(1)
	vals, err := b.runScript(ctx, scRead, []string{b.keys.meta(room), b.keys.log(room)}, from, to, limit).Slice()
	if err != nil || len(vals) < 2 {
		return broker.Position{}, nil, err
	}
	epoch, _ := vals[0].(string)
	return broker.Position{Epoch: epoch, Offset: uint64(toInt(vals[1]))}, entriesOf(vals[2:]), nil
}

// readRange returns the stored messages with offsets from..to.
func (b *Broker) readRange(ctx context.Context, room string, from, to uint64) ([]entry, error) {
	_, es, err := b.readLog(ctx, room, from, to, 0)
	return es, err
}

// readNewest returns the newest limit stored messages at or below upTo (0:
// the newest), oldest first.
func (b *Broker) readNewest(ctx context.Context, room string, upTo uint64, limit int) ([]entry, error) {
	if limit <= 0 {
		return nil, nil
	}
	_, es, err := b.readLog(ctx, room, 1, upTo, limit)
	return es, err
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
	// Since recovers only when the history vouches for everything after
	// it: its epoch (a Since without one, e.g. {"", 0}, names none), an
	// offset the history has reached, every message after it still kept.
	if s := q.Since; s != nil && s.Epoch != "" && s.Epoch == pos.Epoch {
		if s.Offset == pos.Offset {
			res.Recovered = true // nothing missed
			return res, nil
		}
		if s.Offset > pos.Offset {
			// This node may be behind the client (it saw them through
			// another node): what this node delivers next, the client may
			// have, and keeps the first copy. Unless the history never
			// reached that offset.
			cur, err := b.readMeta(ctx, room)
			if err != nil {
				return res, err
			}
			if cur.Epoch == s.Epoch && cur.Offset >= s.Offset {
				res.Recovered = true
				return res, nil
			}
		} else {
			es, err := b.readRange(ctx, room, s.Offset+1, pos.Offset)
			if err != nil {
				return res, err
			}
			es = b.young(ofEpoch(es, pos.Epoch))
			if uint64(len(es)) == pos.Offset-s.Offset && es[0].offset == s.Offset+1 {
				for _, e := range es {
					res.Messages = append(res.Messages, e.payload)
				}
				res.Recovered = true
				return res, nil
			}
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

// readFailed marks Redis down when err is not a Redis reply, and wraps it
// (broker.ErrStorageFull when a Sync's naming of an epoch was refused for
// want of memory).
func (b *Broker) readFailed(what string, err error) error {
	b.commandFailed(err)
	return b.writeError(what, err)
}

// DeleteHistory implements broker.Broker: the keys go, so the next stored
// message starts a new epoch at offset 1.
func (b *Broker) DeleteHistory(room string, done func(error)) {
	if b.closed.Load() || !b.cmdOK.Load() {
		done(unavailable("redis unreachable", nil))
		return
	}
	ok := b.spawn(func() {
		ctx, cancel := context.WithTimeout(b.ctx, b.opt.OpTimeout)
		defer cancel()
		// (The stream of a version before the log, too: history.go.)
		err := b.client.Del(ctx, b.keys.meta(room), b.keys.log(room), b.keys.history(room)).Err()
		if err != nil {
			err = b.readFailed("delete history", err)
		}
		done(err)
	})
	if !ok {
		done(errBrokerClosed)
	}
}
