package redis

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chatd/chatd/server/broker"
	goredis "github.com/redis/go-redis/v9"
)

// The room list.
//
// Room ids come from our index (chatd:rooms) and, at most every
// RoomScanInterval, from a SCAN for room_info keys: with one Redis that finds
// rooms created by reference nodes, which do not maintain our index; with
// Redis Cluster (every master scanned) it finds rooms whose index entry was
// lost (a failed write, a failover). Never KEYS. Index entries of rooms that
// have emptied are pruned: atomically by a script with one Redis; in
// cluster mode (the index and the room are in different slots) by SREM and
// then a second look at the room, which puts it back if it has members: a
// join adds its room to the index after the join (state.go), so whichever
// way the two interleave, a room with members stays listed.

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
	if start && !b.spawn(b.roomsLoop) {
		// Closed meanwhile: nobody reads Redis for the waiters any more.
		b.rmu.Lock()
		ws := b.roomWaiters
		b.roomWaiters, b.roomsRunning = nil, false
		b.rmu.Unlock()
		for _, w := range ws {
			w(nil, errBrokerClosed)
		}
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

// readRooms lists the rooms with members, sorted by creation time.
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
		all, err := b.scanRooms(ctx)
		if err != nil {
			return nil, b.roomsFailed(err)
		}
		var found []any
		for _, id := range all {
			if !known[id] {
				known[id] = true
				ids = append(ids, id)
				found = append(found, id)
			}
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
		infos[i] = pipe.HMGet(ctx, b.keys.roomInfo(id), "name", "createdAt")
		counts[i] = pipe.SCard(ctx, b.keys.roomMembers(id))
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, b.roomsFailed(err)
		}
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
	b.prune(ctx, empty) // best effort; the next list retries
	return list, nil
}

// scanRooms returns the ids of every room_info key: SCAN of the one Redis,
// or of every master.
func (b *Broker) scanRooms(ctx context.Context) ([]string, error) {
	match := prefixRoomInfo + "*"
	if !b.keys.cluster {
		var ids []string
		iter := b.single.Scan(ctx, 0, match, 1000).Iterator()
		for iter.Next(ctx) {
			if id, ok := b.keys.roomOf(strings.TrimPrefix(iter.Val(), prefixRoomInfo)); ok {
				ids = append(ids, id)
			}
		}
		return ids, iter.Err()
	}
	var mu sync.Mutex
	var ids []string
	err := b.cluster.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
		iter := c.Scan(ctx, 0, match, 1000).Iterator()
		for iter.Next(ctx) {
			if id, ok := b.keys.roomOf(strings.TrimPrefix(iter.Val(), prefixRoomInfo)); ok {
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		}
		return iter.Err()
	})
	return ids, err
}

// prune drops the rooms in empty (found without members) from the index
// unless they have members again.
func (b *Broker) prune(ctx context.Context, empty []string) {
	if len(empty) == 0 {
		return
	}
	pipe := b.client.Pipeline()
	if !b.keys.cluster {
		for _, id := range empty {
			scriptPrune.Eval(ctx, pipe, []string{b.keys.roomMembers(id), keyRooms}, id)
		}
		// A failed prune leaves empty rooms in the index, which the next
		// list leaves out and prunes again; a lost connection is an outage
		// like any other.
		if _, err := pipe.Exec(ctx); err != nil {
			b.commandFailed(err)
		}
		return
	}
	args := make([]any, len(empty))
	for i, id := range empty {
		args[i] = id
	}
	if err := b.client.SRem(ctx, keyRooms, args...).Err(); err != nil {
		return
	}
	exists := make([]*goredis.IntCmd, len(empty))
	for i, id := range empty {
		exists[i] = pipe.Exists(ctx, b.keys.roomMembers(id))
	}
	_, err := pipe.Exec(ctx)
	var back []any
	for i, id := range empty {
		if err != nil || exists[i].Val() == 1 {
			back = append(back, id) // (when in doubt, listed again: the next list prunes it)
		}
	}
	if len(back) > 0 {
		if err := b.client.SAdd(ctx, keyRooms, back...).Err(); err != nil {
			// Rooms with members are out of the index now: the next list
			// SCANs for them (rooms.go, top) rather than wait for the
			// interval.
			b.rmu.Lock()
			b.lastScan = time.Time{}
			b.rmu.Unlock()
			b.log.Debug("putting rooms back in the room index failed; the next room list scans for them", "err", err)
			b.commandFailed(err)
		}
	}
}

func (b *Broker) roomsFailed(err error) error {
	b.commandFailed(err)
	return unavailable("room list", err)
}
