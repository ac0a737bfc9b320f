package redis

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/chatd/chatd/server/broker"
	goredis "github.com/redis/go-redis/v9"
)

// pubItem is one event waiting for its PUBLISH (or, stored, its store
// script).
type pubItem struct {
	room    string
	payload []byte
	store   bool
	done    func(uint64, error)
}

// Publish implements broker.Broker. It never waits for Redis: the payload
// is built here (the body with the header members appended) and queued for
// the publisher goroutine (in cluster mode, that of the room's master,
// lanes.go). When Redis is known to be unreachable, or the queue is full,
// done runs at once with an error wrapping broker.ErrUnavailable.
func (b *Broker) Publish(ev *broker.Event, done func(uint64, error)) {
	if b.closed.Load() {
		b.publishFailed(done, errBrokerClosed)
		return
	}
	if !b.cmdOK.Load() {
		b.publishFailed(done, unavailable("redis unreachable", nil))
		return
	}
	it := pubItem{room: ev.Room, payload: envelopeOf(ev.Body, ev.Exclude, b.origin, ev.Conn),
		store: ev.Store && b.opt.HistorySize > 0, done: done}
	q := b.pubq
	if b.keys.cluster {
		if q = b.laneFor(ev.Room); q == nil {
			b.publishFailed(done, errBrokerClosed)
			return
		}
	}
	b.inflight.Add(1)
	select {
	case q <- it:
	default:
		b.finished(1)
		if b.keys.cluster {
			b.laneSent([]pubItem{it})
		}
		b.publishFailed(done, unavailable("publish queue full", nil))
	}
}

func (b *Broker) publishFailed(done func(uint64, error), err error) {
	b.stats.publishFailed.Add(1)
	if done != nil {
		done(0, err)
	}
}

// publishLoop sends the events queued on q: whatever has queued up while
// the previous round trip was in flight goes out in one pipeline (up to
// PublishBatch), in queue order, on one connection (exec.go), so a node's
// events keep their order. l, if not nil, is the lane of q (cluster mode).
func (b *Broker) publishLoop(q chan pubItem, l *pubLane) {
	defer b.wg.Done()
	batch := make([]pubItem, 0, b.opt.PublishBatch)
	for {
		batch = batch[:0]
		select {
		case it := <-q:
			batch = append(batch, it)
		case <-b.ctx.Done():
			b.failQueuedPublishes(q)
			return
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case it := <-q:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		ctx, cancel := context.WithTimeout(b.ctx, b.opt.OpTimeout)
		if l != nil {
			l.sending(cancel)
		}
		b.publishBatch(ctx, batch)
		cancel()
		if l != nil {
			l.sending(nil)
			b.laneSent(batch)
		}
		b.finished(int64(len(batch)))
		clear(batch)
	}
}

// nextEpoch names a history that a store script may have to start.
func (b *Broker) nextEpoch() string {
	return b.epochPrefix + strconv.FormatUint(b.epochN.Add(1), 36)
}

// publishBatch sends one pipeline: PUBLISH (SPUBLISH in cluster mode) for
// plain events, the store script for messages that go into the history.
func (b *Broker) publishBatch(ctx context.Context, batch []pubItem) {
	if !b.cmdOK.Load() {
		err := unavailable("redis unreachable", nil)
		for i := range batch {
			b.publishFailed(batch[i].done, err)
		}
		return
	}
	cmds := make([]rcmd, len(batch))
	ttl := int64(b.opt.HistoryAge / time.Second)
	now := time.Now().UnixMilli()
	store, publish := srcStore, "publish"
	if b.keys.cluster {
		store, publish = srcStoreCluster, "spublish"
	}
	for i := range batch {
		it := &batch[i]
		cmds[i].slot = b.keys.roomSlot(it.room)
		if it.store {
			cmds[i].cmd = evalCmd(ctx, store, []string{b.keys.meta(it.room), b.keys.history(it.room)},
				b.keys.channel(it.room), it.payload[:len(it.payload)-1], b.nextEpoch(), b.opt.HistorySize, ttl, now)
		} else {
			cmds[i].cmd = goredis.NewIntCmd(ctx, publish, b.keys.channel(it.room), it.payload)
		}
	}
	began := time.Now()
	b.send(ctx, cmds)
	b.metrics.publishTrip.Observe(time.Since(began).Seconds())
	b.stats.publishTrips.Add(1)
	var down error
	for i, c := range cmds {
		it := &batch[i]
		cerr := c.cmd.Err()
		var offset uint64
		if cerr == nil && it.store {
			vals, _ := c.cmd.(*goredis.Cmd).Slice()
			if len(vals) == 2 {
				offset = uint64(toInt(vals[0]))
				b.stats.stored.Add(1)
			} else {
				cerr = goredis.Nil
			}
		}
		if cerr != nil {
			if !isRedisReply(cerr) {
				down = cerr
			}
			b.publishFailed(it.done, unavailable("publish", cerr))
			continue
		}
		b.stats.published.Add(1)
		if it.done != nil {
			it.done(offset, nil)
		}
	}
	b.commandFailed(down)
}

// failQueuedPublishes fails what is still queued on q when the broker
// stops.
func (b *Broker) failQueuedPublishes(q chan pubItem) {
	for {
		select {
		case it := <-q:
			b.finished(1)
			b.publishFailed(it.done, errBrokerClosed)
		default:
			return
		}
	}
}

// envelopeOf turns an event body (a JSON object) into the Pub/Sub payload:
// the body with excludeUserId (if any), origin and originConn (if any)
// appended, so the client fields come first in the client's order,
// excludeUserId last of the reference fields, like the reference app's
// payloads.
func envelopeOf(js []byte, exclude string, origin []byte, conn uint64) []byte {
	buf := make([]byte, 0, len(js)+len(exclude)+len(origin)+64)
	buf = append(buf, js[:len(js)-1]...) // without the closing brace
	if exclude != "" {
		buf = append(buf, `,"`+broker.HeaderExclude+`":`...)
		buf = appendJSONString(buf, exclude)
	}
	buf = append(buf, `,"`+broker.HeaderOrigin+`":`...)
	buf = append(buf, origin...)
	if conn != 0 {
		buf = append(buf, `,"`+broker.HeaderConn+`":`...)
		buf = strconv.AppendUint(buf, conn, 10)
	}
	return append(buf, '}')
}

// appendJSONString appends s as a JSON string.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			q, _ := json.Marshal(s)
			return append(buf, q...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}
