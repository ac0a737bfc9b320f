package redis

import (
	"context"

	"github.com/chatd/chatd/server/broker"
	goredis "github.com/redis/go-redis/v9"
)

// Members implements broker.Broker: the room's members from the reference
// keys (room_members:, user_data:), so that users of reference nodes are
// listed too. A room bigger than limit is read with SSCAN until limit
// members are found, never with one SMEMBERS of the whole set.
func (b *Broker) Members(room string, limit int, done func([]broker.Member, int, error)) {
	if b.closed.Load() || !b.cmdOK.Load() {
		done(nil, 0, unavailable("redis unreachable", nil))
		return
	}
	ok := b.spawn(func() {
		list, n, err := b.readMembers(room, limit)
		done(list, n, err)
	})
	if !ok {
		done(nil, 0, errBrokerClosed)
	}
}

func (b *Broker) readMembers(room string, limit int) ([]broker.Member, int, error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.opt.OpTimeout)
	defer cancel()
	key := b.keys.roomMembers(room)
	n, err := b.client.SCard(ctx, key).Result()
	if err != nil {
		return nil, 0, b.membersFailed(err)
	}
	var ids []string
	if int(n) <= limit {
		if ids, err = b.client.SMembers(ctx, key).Result(); err != nil {
			return nil, 0, b.membersFailed(err)
		}
	} else {
		seen := make(map[string]bool, limit)
		var cursor uint64
		for len(ids) < limit {
			var page []string
			page, cursor, err = b.client.SScan(ctx, key, cursor, "", int64(min(limit, 1000))).Result()
			if err != nil {
				return nil, 0, b.membersFailed(err)
			}
			for _, id := range page {
				if !seen[id] && len(ids) < limit {
					seen[id] = true
					ids = append(ids, id)
				}
			}
			if cursor == 0 {
				break
			}
		}
	}
	pipe := b.client.Pipeline()
	names := make([]*goredis.StringCmd, len(ids))
	for i, id := range ids {
		names[i] = pipe.HGet(ctx, b.keys.userData(room, id), "username")
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && err != goredis.Nil {
			return nil, 0, b.membersFailed(err)
		}
	}
	list := make([]broker.Member, len(ids))
	for i, id := range ids {
		list[i] = broker.Member{Room: room, User: id, Name: names[i].Val()}
	}
	return list, max(int(n), len(list)), nil
}

func (b *Broker) membersFailed(err error) error {
	b.commandFailed(err)
	return unavailable("members", err)
}
