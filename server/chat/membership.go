package chat

import (
	"bytes"
	"math"

	"github.com/chatd/chatd/server/broker"
)

// Joining and leaving rooms: the node subscribes to the room, records the
// membership in the cluster, and only then adds the connection to the
// room's local members, so that from the join's answer on it receives every
// event of the room. Membership counts users: joined and left are announced
// only when the user's first connection joins and its last leaves
// (broker.Membership.Changed).

// enter joins the session to roomID (creating it with name if new). With a
// history query, the connection becomes a local member at the point of the
// room's delivery order where the history read ends (broker.Sync), so that
// the messages returned and the pushes that follow neither overlap nor
// leave a hole. done runs on the loop with the room's member count and the
// history read, or the error; not at all if the connection closed
// meanwhile. The session is busy until done returns.
func (s *Session) enter(roomID, name string, q *broker.HistoryQuery,
	done func(count int, res broker.HistoryResult, err error)) {
	answer := s.Await()
	n := s.node
	b := n.broker
	bm := s.member(roomID)
	bm.Conn = s.id // the joiner is not told about itself
	loop, class := s.c.Loop(), int(s.class)
	failed := func(err error) { answer(func() { done(0, broker.HistoryResult{}, err) }) }
	// undo takes back a join whose connection closed meanwhile, or whose
	// history read failed (the broker announces the leave to every member).
	undo := func() {
		gone := bm
		gone.Conn = 0
		b.Leave(gone, func(st broker.Membership, err error) {
			b.Unsubscribe(roomID)
			if err == nil {
				n.announce(false, gone, st)
			}
		})
	}
	// finish runs on the loop: the connection joins the room's local
	// members.
	finish := func(st broker.Membership, res broker.HistoryResult) {
		if s.closed {
			undo()
			return
		}
		n.rooms.Join(roomID, s.c, int(s.class))
		n.forgetPresence(roomID)
		n.m.joins.Inc()
		n.joined.Add(1)
		// Before the requests queued behind the join (answer resumes
		// them), so that a message sent right after the join follows its
		// joined notice (unless the broker announced it in the join's
		// step, earlier still).
		n.announce(true, bm, st)
		s.busy = false
		done(st.Count, res, nil)
		if !s.busy {
			s.resume()
		}
	}
	// joinHere posts finish to the loop, the room's place on it reserved
	// meanwhile: an event fanned out after this (e.g. the joined notice of
	// a member who joined right after) runs on the loop after finish, and
	// reaches the connection. (Without a history query too: a v1 joiner
	// whose loop had no other member of the room missed such a notice, and
	// kept a member count one short.)
	joinHere := func(st broker.Membership, res broker.HistoryResult) {
		n.rooms.Reserve(roomID, loop, class)
		s.exec(func() {
			finish(st, res)
			n.rooms.Unreserve(roomID, loop, class)
		})
	}
	b.Subscribe(roomID, func(err error) {
		if err != nil {
			failed(err)
			return
		}
		b.Join(bm, name, func(st broker.Membership, err error) {
			if err != nil {
				b.Unsubscribe(roomID)
				failed(err)
				return
			}
			// (This runs in the join's step of the room's order, maybe
			// under the room's lock: the broker is called from elsewhere.)
			if st.Changed && st.Count == 1 && !s.mayCreate() {
				// The join made a new room, over the user's allowance:
				// take it back.
				go undo()
				failed(errTooManyNewRooms)
				return
			}
			if q == nil {
				// The place is reserved in the join's step: every event
				// after the join reaches the connection (the joined notice
				// of a user who joined right after it, too).
				joinHere(st, broker.HistoryResult{})
				return
			}
			if st.Sync != nil {
				// The history read at the join's place: the connection's
				// place is reserved there too (no event is delivered
				// before the read's fn), so it gets every event after the
				// join (the joined notice of a user who joined right after
				// it, too), none twice.
				st.Sync(*q, func(res broker.HistoryResult, err error) {
					if err != nil {
						go undo()
						failed(err)
						return
					}
					joinHere(st, res)
				})
				return
			}
			go b.Sync(roomID, *q, func(res broker.HistoryResult, err error) {
				if err != nil {
					go undo() // (fn runs on the delivery path)
					failed(err)
					return
				}
				// On the delivery path: the loop runs finish after every
				// event up to res.Offset was fanned out, before any later
				// one. Those later ones must be fanned out to this loop
				// although the connection joins the room's local members
				// only in finish: its place is reserved until then.
				joinHere(st, res)
			})
		})
	})
}

// exit removes the session from the i-th room of its set: locally at once (no more
// deliveries), then in the cluster, then announces it if the user left with
// it. explicit leaves exclude the leaver from its own left notice, like the
// reference app; a disconnect does not. then, if not nil, runs on the loop
// afterwards (unless the connection closed), and the session is busy until
// then.
func (s *Session) exit(i int, explicit bool, then func()) {
	n := s.node
	roomID := s.rooms.At(i).Room().ID()
	bm := s.member(roomID)
	n.rooms.Leave(s.c, int(s.class), i)
	n.m.leaves.Inc()
	if explicit {
		// The leaver is not told (also on this node: it may be back in the
		// room, a re-join, before its own leave comes back from the
		// cluster).
		bm.Conn = s.id
	}
	var answer func(func())
	if then != nil {
		answer = s.Await()
	}
	n.leaving.add()
	n.broker.Leave(bm, func(st broker.Membership, err error) {
		defer n.leaving.done()
		n.broker.Unsubscribe(roomID)
		n.forgetPresence(roomID)
		if err != nil {
			n.logClusterError("leave failed", err, "room", roomID, "user", bm.User)
		} else {
			n.announce(false, bm, st)
		}
		if answer != nil {
			answer(then)
		}
	})
}

// exitAll leaves every room (a disconnect, or a drain).
func (s *Session) exitAll() {
	for k := s.rooms.Len(); k > 0; k-- {
		s.exit(k-1, false, nil)
	}
}

// announce publishes the notice of a change that m's join or leave made,
// unless the broker announced it (st.Announced).
func (n *Node) announce(joined bool, m broker.Member, st broker.Membership) {
	if !st.Changed || st.Announced {
		return
	}
	if ev := n.Announce(joined, m, st.Count); ev != nil {
		n.broker.Publish(ev, nil)
	}
}

// Announce implements broker.Receiver: the notice that m's user joined or
// left its room, the reference app's userJoined/userLeft, which v2 members
// get as joined/left. m.Conn, the connection that asked, is left out, and
// its user on reference nodes; a disconnect leaves nobody out. Big rooms
// announce within their notice budget (noticeAllowed).
func (n *Node) Announce(joined bool, m broker.Member, count int) *broker.Event {
	size := count
	if !joined {
		size++ // the room's size before the leave
	}
	if !n.noticeAllowed(m.Room, size) {
		return nil
	}
	ev := &Event{Kind: EvLeft, Room: m.Room, Name: m.Name, UserID: m.User, Count: count}
	if joined {
		ev.Kind = EvJoined
	}
	exclude := ""
	if m.Conn != 0 {
		exclude = m.User
		ev.skip = n.conns.get(m.Conn)
	}
	return &broker.Event{Room: m.Room, Body: ev.Body(), Exclude: exclude, Conn: m.Conn, Local: ev}
}

// countKey is where a presence body holds the room's count: the last member
// of the reference app's userJoined/userLeft (refPresence).
var countKey = []byte(`"memberCount":`)

// AnnounceTemplate implements broker.AnnounceTemplater: Announce's event for
// a change of rooms up to NoticeRoomSize members (every change announced),
// its body cut where the count goes. A quote ends no JSON string, so the
// key cannot be found inside a name.
func (n *Node) AnnounceTemplate(joined bool, m broker.Member) (*broker.Event, []byte, []byte, int, bool) {
	ev := &Event{Kind: EvLeft, Room: m.Room, Name: m.Name, UserID: m.User}
	if joined {
		ev.Kind = EvJoined
	}
	body := ev.Body()
	i := bytes.LastIndex(body, countKey)
	if i < 0 || !bytes.HasPrefix(body[i+len(countKey):], []byte("0")) {
		return nil, nil, nil, 0, false
	}
	head, tail := body[:i+len(countKey)], body[i+len(countKey)+1:]
	upTo := n.cfg.NoticeRoomSize
	if upTo < 0 {
		upTo = math.MaxInt32
	}
	exclude := ""
	if m.Conn != 0 {
		exclude = m.User
	}
	return &broker.Event{Room: m.Room, Exclude: exclude, Conn: m.Conn}, head, tail, upTo, true
}
