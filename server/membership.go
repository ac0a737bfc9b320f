package server

import (
	"context"
	"errors"
	"log/slog"

	"github.com/chatd/chatd/server/broker"
)

// Joining and leaving rooms, for both protocols: the node subscribes to the
// room, records the membership in the cluster, and only then adds the
// connection to the room's local members, so that from the join's answer on
// it receives every event of the room. Membership counts users: joined and
// left are announced only when the user's first connection joins and its
// last leaves (broker.Membership.Changed).

// enter joins the session to roomID (creating it with name if new). With a
// history query (v2), the connection becomes a local member at the point of
// the room's delivery order where the history read ends (broker.Sync), so
// that the messages returned and the pushes that follow neither overlap nor
// leave a hole. done runs on the loop with the new membership, the room's
// member count and the history read, or the error; not at all if the
// connection closed meanwhile. The session is busy until done returns (done
// calls resume).
func (s *session) enter(roomID, name string, q *broker.HistoryQuery,
	done func(m *membership, count int, res broker.HistoryResult, err error)) {
	s.busy = true
	srv := s.srv
	b := srv.broker
	bm := s.member(roomID)
	loop, class := s.c.Loop(), s.class()
	failed := func(err error) {
		s.exec(func() {
			if !s.closed {
				done(nil, 0, broker.HistoryResult{}, err)
			}
		})
	}
	// undo takes back a join whose connection closed meanwhile.
	undo := func() {
		b.Leave(bm, func(st broker.Membership, err error) {
			b.Unsubscribe(roomID)
			if err == nil && st.Changed {
				srv.publishPresence(false, bm, st.Count, "", 0)
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
		m := &membership{}
		srv.rooms.Join(roomID, s.c, s.class(), &m.Member)
		m.next = s.rooms
		s.rooms = m
		srv.metrics.joined()
		if st.Changed {
			// Before the requests queued behind the join (done resumes
			// them), so that a message sent right after the join follows its
			// userJoined. The joiner is not told about itself (the event
			// leaves its connection out).
			srv.publishPresence(true, bm, st.Count, s.userID, s.id)
		}
		done(m, st.Count, res, nil)
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
			if q == nil {
				s.exec(func() { finish(st, broker.HistoryResult{}) })
				return
			}
			b.Sync(roomID, *q, func(res broker.HistoryResult, err error) {
				if err != nil {
					s.exec(func() {
						undo()
						if !s.closed {
							done(nil, 0, broker.HistoryResult{}, err)
						}
					})
					return
				}
				// On the delivery path: the loop runs finish after every
				// event up to res.Offset was fanned out, before any later
				// one. Those later ones must be fanned out to this loop
				// although the connection joins the room's local members
				// only in finish: its place is reserved until then.
				srv.rooms.Reserve(roomID, loop, class)
				s.exec(func() {
					finish(st, res)
					srv.rooms.Unreserve(roomID, loop, class)
				})
			})
		})
	})
}

// exit removes the session from m's room: locally at once (no more
// deliveries), then in the cluster, then announces it if the user left with
// it. explicit leaves exclude the leaver from its own userLeft, like the
// reference app; a disconnect does not. then, if not nil, runs on the loop
// afterwards, and the session is busy until then.
func (s *session) exit(m *membership, explicit bool, then func()) {
	srv := s.srv
	roomID := m.roomID()
	bm := s.member(roomID)
	srv.rooms.Leave(&m.Member)
	s.unlink(m)
	srv.metrics.left()
	exclude, conn := "", uint64(0)
	if explicit {
		// Also on this node: the leaver may be back in the room (a re-join)
		// before its own leave comes back from the cluster.
		exclude, conn = s.userID, s.id
	}
	if then != nil {
		s.busy = true
	}
	srv.leaving.Add(1)
	srv.broker.Leave(bm, func(st broker.Membership, err error) {
		defer srv.leaving.Done()
		srv.broker.Unsubscribe(roomID)
		if err != nil {
			srv.logClusterError("leave failed", err, "room", roomID, "user", bm.User)
		} else if st.Changed {
			srv.publishPresence(false, bm, st.Count, exclude, conn)
		}
		if then != nil {
			s.exec(then)
		}
	})
}

// exitAll leaves every room (a disconnect, or a drain).
func (s *session) exitAll() {
	for s.rooms != nil {
		s.exit(s.rooms, false, nil)
	}
}

// publishPresence announces that m's user joined or left its room: the
// reference app's userJoined/userLeft, which v2 members get as joined/left.
// exclude is the user the reference nodes leave out, conn the connection
// this node leaves out.
func (srv *Server) publishPresence(joined bool, m broker.Member, count int, exclude string, conn uint64) {
	ev := &event{kind: evLeft, room: m.Room, username: m.Name, userID: m.User, count: count}
	if joined {
		ev.kind = evJoined
	}
	if conn != 0 {
		ev.skip = srv.conns.get(conn)
	}
	v1 := ev.v1Frame()
	srv.broker.Publish(&broker.Event{Room: m.Room, Body: v1[frameHeaderLen(v1):], Exclude: exclude, Conn: conn,
		Local: ev}, nil)
}

// isUnavailable reports whether a broker error means "the cluster cannot be
// reached" (as opposed to a refusal).
func isUnavailable(err error) bool { return errors.Is(err, broker.ErrUnavailable) }

// logClusterError logs a failed cluster request: at debug level when the
// cluster is simply unreachable (the broker logs each outage once), at warn
// level otherwise.
func (srv *Server) logClusterError(msg string, err error, args ...any) {
	lv := slog.LevelWarn
	if isUnavailable(err) {
		lv = slog.LevelDebug
	}
	srv.cfg.Logger.Log(context.Background(), lv, msg, append(args, "err", err)...)
}
