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

// publishBatch sends one pipeline: for each room with a message to store,
// one call of the store script with all the room's events of the batch in
// their order (srcStore, history.go); for the other rooms, PUBLISH
// (SPUBLISH in cluster mode) of each event. Rooms are independent, so the
// order between them does not matter; within a room it is kept.
func (b *Broker) publishBatch(ctx context.Context, batch []pubItem) {
	if !b.cmdOK.Load() {
		err := unavailable("redis unreachable", nil)
		for i := range batch {
			b.publishFailed(batch[i].done, err)
		}
		return
	}
	if err := b.sinkAnnounce(ctx, batch); err != nil {
		// Nothing is stored that the sink's consumers could not find.
		if !isRedisReply(err) {
			b.commandFailed(err)
		}
		err = b.writeError("publish", err)
		for i := range batch {
			b.publishFailed(batch[i].done, err)
		}
		return
	}
	cmds, calls, counts := b.batchCmds(ctx, batch)
	began := time.Now()
	b.sendScripts(ctx, cmds)
	b.metrics.publishTrip.Observe(time.Since(began).Seconds())
	b.stats.publishTrips.Add(1)
	// The history counters first: a publisher told its event is stored
	// reads counters that include it.
	for j, n := range counts {
		if n == 0 {
			continue
		}
		if vals, err := cmds[j].cmd.(*goredis.Cmd).Slice(); err == nil && len(vals) == 5 {
			b.stats.historyAdded.Add(int64(toInt(vals[2])))
			b.stats.historyTrimmed.Add(int64(toInt(vals[3])))
			b.stats.historyTrimmedBytes.Add(int64(toInt(vals[4])))
		}
	}
	var down error
	for i := range batch {
		it := &batch[i]
		c := cmds[calls[i].cmd].cmd
		cerr := c.Err()
		var offset uint64
		if cerr == nil && calls[i].stored > 0 {
			vals, _ := c.(*goredis.Cmd).Slice()
			if len(vals) >= 2 {
				// The call's stored events got consecutive offsets ending
				// at the newest.
				offset = uint64(toInt(vals[1])) - uint64(counts[calls[i].cmd]-calls[i].stored)
				b.stats.stored.Add(1)
			} else {
				cerr = goredis.Nil
			}
		}
		if cerr != nil {
			if !isRedisReply(cerr) {
				down = cerr
			}
			b.publishFailed(it.done, b.writeError("publish", cerr))
			continue
		}
		b.stats.published.Add(1)
		if it.done != nil {
			it.done(offset, nil)
		}
	}
	b.commandFailed(down)
}

// callOf places one event of a publish batch: cmd is the index of the
// command that carries it, stored its rank among that command's stored
// events (1, 2, ...; 0: not stored).
type callOf struct {
	cmd, stored int
}

// batchCmds builds a batch's commands (publishBatch): the commands, where
// each event went, and how many events each command stores.
func (b *Broker) batchCmds(ctx context.Context, batch []pubItem) ([]rcmd, []callOf, []int) {
	calls := make([]callOf, len(batch))
	publish := "publish"
	if b.keys.cluster {
		publish = "spublish"
	}
	// The rooms with something to store, each with its command's index.
	var scripts map[string]int
	for i := range batch {
		if batch[i].store {
			if scripts == nil {
				scripts = map[string]int{}
			}
			scripts[batch[i].room] = -1
		}
	}
	cmds := make([]rcmd, 0, len(batch))
	var args [][]any     // ARGV of the store script commands, by command index
	counts := []int(nil) // stored events, by command index
	for i := range batch {
		it := &batch[i]
		j, ok := scripts[it.room]
		if !ok {
			calls[i].cmd = len(cmds)
			cmds = append(cmds, rcmd{b.keys.roomSlot(it.room), goredis.NewIntCmd(ctx, publish, b.keys.channel(it.room), it.payload)})
			continue
		}
		if j < 0 {
			j = len(cmds)
			scripts[it.room] = j
			cmds = append(cmds, rcmd{slot: b.keys.roomSlot(it.room)})
			for len(args) <= j {
				args, counts = append(args, nil), append(counts, 0)
			}
			args[j] = b.storeArgs(it.room)
		}
		calls[i].cmd = j
		ev := make([]byte, 0, len(it.payload)+1)
		if it.store {
			counts[j]++
			calls[i].stored = counts[j]
			ev = append(append(ev, 's'), it.payload[:len(it.payload)-1]...)
		} else {
			ev = append(append(ev, 'p'), it.payload...)
		}
		args[j] = append(args[j], ev)
	}
	for j := range args {
		if args[j] != nil {
			room := args[j][0].(string)
			keys := []string{b.keys.meta(room), b.keys.log(room)}
			if b.sinkOn() {
				q := b.sinkQueueKey(room)
				keys = append(keys, q, sinkDroppedKey(q))
			}
			cmds[j].cmd = scStore.cmd(ctx, keys, args[j][1:]...)
		}
	}
	return cmds, calls, counts
}

// storeArgs starts the arguments of a store script call for room: the room
// itself (dropped before the call), then ARGV up to the events (srcStore).
func (b *Broker) storeArgs(room string) []any {
	cluster := "0"
	if b.keys.cluster {
		cluster = "1"
	}
	return []any{room, b.keys.channel(room), b.nextEpoch(), b.opt.HistorySize, b.opt.HistoryRoomBytes,
		b.opt.HistoryAge.Milliseconds(), ttlSlack(b.opt.HistoryAge).Milliseconds(), time.Now().UnixMilli(), cluster,
		room, b.opt.Sink.MaxBacklog}
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
