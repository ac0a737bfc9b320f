package redis

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chatd/chatd/server/broker"
)

// Joins and leaves announced in their own step.
//
// When the node announced a change itself (publishing userJoined or userLeft
// after the script's reply), other changes could come between the change
// and its announcement in the room's order. A user who joined in between
// counted the first one in its join's count and then heard of it again,
// with the older count; or a joiner placed before another's announcement
// passed missed it. So the membership scripts publish the announcement
// themselves, in the step that makes the change, with the count they make
// (the Receiver's AnnounceTemplate: the payload cut where the count goes),
// for rooms up to the size where every change is announced; past it the
// node announces within its notice budget, as before.
//
// A joiner is then placed where its own announcement passes the node's flow
// of the room: the join's done runs there (placeJoin), before the next
// event, and the join's history read (Membership.Sync) is a barrier right
// after it. So the joiner hears of exactly the changes after its own, as
// with the in-process broker. The script's reply and the announcement come
// on different connections, in either order; if the announcement does not
// come within Options.NoticeWait of the reply (its subscription reconnected
// and Pub/Sub dropped it), the join is answered from the reply, unplaced,
// and counted (NoticesLate).

// ownNotice is the announcement a membership script publishes: prefix, the
// count, suffix. A join's also records its wait (under its flow's amu).
type ownNotice struct {
	prefix, suffix string
	upTo           int       // the largest room size the script announces at
	flow           *roomFlow // a join's: the flow it is placed in (nil: not placed)
	state          noticeState
	st             broker.Membership // the reply's, once replied
	timer          *time.Timer
}

type noticeState uint8

const (
	noticeAwaited noticeState = iota // no reply yet
	noticeReplied                    // the reply said it was published; the timer runs
	noticeSettled                    // done has run, or is the reply path's to run
)

// ownNotice returns the announcement of m's join or leave for its script to
// publish, or nil when the node announces it (no template; rooms where no
// change is announced unconditionally).
func (b *Broker) ownNotice(joined bool, m broker.Member) *ownNotice {
	t, ok := b.recv.(broker.AnnounceTemplater)
	if !ok {
		return nil
	}
	ev, head, tail, upTo, ok := t.AnnounceTemplate(joined, m)
	if !ok || upTo < 1 || len(tail) == 0 || ev == nil {
		return nil
	}
	body := make([]byte, 0, len(head)+1+len(tail))
	body = append(append(append(body, head...), '0'), tail...)
	p := envelopeOf(body, ev.Exclude, b.origin, ev.Conn)
	return &ownNotice{prefix: string(p[:len(head)]), suffix: string(p[len(head)+1:]), upTo: upTo}
}

// args are the scripts' notice arguments: prefix, suffix, up to, the
// channel, the publish command. An empty prefix: none.
func (b *Broker) noticeArgs(nt *ownNotice, room string) []any {
	pub := "PUBLISH"
	if b.keys.cluster {
		pub = "SPUBLISH"
	}
	if nt == nil {
		return []any{"", "", 0, b.keys.channel(room), pub}
	}
	return []any{nt.prefix, nt.suffix, nt.upTo, b.keys.channel(room), pub}
}

// awaitNotice makes op's join wait in f for its announcement (before its
// script is sent).
func (b *Broker) awaitNotice(op *stateOp, f *roomFlow) {
	op.notice.flow = f
	f.amu.Lock()
	f.awaiting = append(f.awaiting, op)
	f.waiting.Store(int32(len(f.awaiting)))
	f.amu.Unlock()
}

// settleLocked takes op out of its flow's waiting joins (under f.amu).
func settleLocked(f *roomFlow, op *stateOp) {
	op.notice.state = noticeSettled
	if op.notice.timer != nil {
		op.notice.timer.Stop()
	}
	if i := slices.Index(f.awaiting, op); i >= 0 {
		f.awaiting = slices.Delete(f.awaiting, i, i+1)
		f.waiting.Store(int32(len(f.awaiting)))
	}
}

// claimReply tells the reply path whether it answers op's join (true) or
// the flow does (false: placed already, or to be placed when its
// announcement passes; told says the script published it).
func (b *Broker) claimReply(op *stateOp, st broker.Membership, told bool) bool {
	nt := op.notice
	if nt == nil || nt.flow == nil {
		return true
	}
	f := nt.flow
	f.amu.Lock()
	defer f.amu.Unlock()
	switch {
	case nt.state == noticeSettled:
		return false // placed already
	case !told:
		settleLocked(f, op)
		return true
	}
	st.Announced = true
	nt.st, nt.state = st, noticeReplied
	nt.timer = time.AfterFunc(b.opt.NoticeWait, func() { b.noticeLate(op) })
	return false
}

// claimFailure tells whether a failed join's error is to be reported: not
// when its announcement was placed already (the script ran; the error is
// the reply's).
func (b *Broker) claimFailure(op *stateOp) bool {
	nt := op.notice
	if nt == nil || nt.flow == nil {
		return true
	}
	nt.flow.amu.Lock()
	defer nt.flow.amu.Unlock()
	if nt.state == noticeSettled {
		return false
	}
	settleLocked(nt.flow, op)
	return true
}

// noticeLate answers a join whose announcement did not come: from its
// reply, unplaced.
func (b *Broker) noticeLate(op *stateOp) {
	f := op.notice.flow
	f.amu.Lock()
	if op.notice.state != noticeReplied {
		f.amu.Unlock()
		return
	}
	settleLocked(f, op)
	st := op.notice.st
	f.amu.Unlock()
	b.stats.noticesLate.Add(1)
	op.done(st, nil)
}

// placeJoin runs the done of the join whose announcement payload is (f.mu
// held, the payload at the head of f's queue, delivered): the joiner's place
// in the room's order. Its history read is a barrier right after it.
func (b *Broker) placeJoin(room string, f *roomFlow, payload string) {
	f.amu.Lock()
	var op *stateOp
	count := 0
	for _, o := range f.awaiting {
		nt := o.notice
		if len(payload) <= len(nt.prefix)+len(nt.suffix) || !strings.HasPrefix(payload, nt.prefix) ||
			!strings.HasSuffix(payload, nt.suffix) {
			continue
		}
		n, err := strconv.Atoi(payload[len(nt.prefix) : len(payload)-len(nt.suffix)])
		if err != nil {
			continue
		}
		op, count = o, n
		settleLocked(f, o)
		break
	}
	f.amu.Unlock()
	if op == nil {
		return
	}
	b.stats.joinsPlaced.Add(1)
	op.done(broker.Membership{Count: count, Changed: true, Announced: true,
		Sync: func(q broker.HistoryQuery, fn func(broker.HistoryResult, error)) {
			f.queue = slices.Insert(f.queue, 1, flowItem{sync: b.barrier(room, f, q, fn)})
		}}, nil)
}

// settleAwaiting answers, when the broker closes, the joins that have their
// reply and still wait for their announcement (the others are answered by
// the reply path).
func (b *Broker) settleAwaiting() {
	b.fmu.RLock()
	flows := make([]*roomFlow, 0, len(b.flows))
	for _, f := range b.flows {
		flows = append(flows, f)
	}
	b.fmu.RUnlock()
	for _, f := range flows {
		var ready []*stateOp
		f.amu.Lock()
		for _, op := range slices.Clone(f.awaiting) {
			if op.notice.state == noticeReplied {
				settleLocked(f, op)
				ready = append(ready, op)
			}
		}
		f.amu.Unlock()
		for _, op := range ready {
			op.done(op.notice.st, nil)
		}
	}
}
