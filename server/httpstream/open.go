package httpstream

import (
	"errors"
	"net/url"
	"strconv"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/chat"
)

// Opening a stream, and resuming one.
//
//	GET <path>                                  a new session
//	GET <path>?session=<id>  Last-Event-ID: <n> the session's stream again, from event n+1
//
// (lastEventId=<n> in the query stands for the header, which a new
// EventSource cannot send.) A new stream's first event names its session;
// a resumed one's says resumed: true. Refusals are JSON answers.

// serveStream opens or resumes a stream.
func (c *Carrier) serveStream(r *eventloop.Request, cors []eventloop.HeaderField) *eventloop.Response {
	q, err := url.ParseQuery(r.RawQuery)
	if err != nil {
		return errAnswer(400, codeBadRequest, "Bad query string").response(cors)
	}
	if sid := q.Get("session"); sid != "" {
		return c.resume(r, sid, lastEventID(r, q), cors)
	}
	if c.node.Draining() {
		c.m.refused(reasonDraining)
		return errAnswer(503, codeDraining, "Server shutting down").response(cors)
	}
	addr := c.cfg.ClientAddr(r)
	var slot int32
	if c.cfg.AcquireAddr != nil {
		var ok bool
		if slot, ok = c.cfg.AcquireAddr(addr); !ok {
			c.m.refused(reasonPerAddress)
			return errAnswer(429, codePerAddress, "Too many connections from this address").response(cors)
		}
	}
	sid := newSID(c.key)
	conn, err := r.Stream(eventloop.StreamStart{Header: cors, First: sessionEvent(c.info(sid, false))})
	if err != nil {
		if slot != 0 {
			c.cfg.ReleaseAddr(slot)
		}
		if errors.Is(err, eventloop.ErrNodeFull) {
			c.m.refused(reasonFull)
			return errAnswer(503, codeNodeFull, "Node full").response(cors)
		}
		c.m.refused(reasonDraining)
		return errAnswer(503, codeDraining, "Server shutting down").response(cors)
	}
	s := &session{sid: sid, conn: conn, next: 1}
	c.reg.add(s)
	var peer *chat.Peer
	if c.cfg.Peer != nil {
		peer = c.cfg.Peer(r)
	}
	s.sess = c.node.Open(conn, c.cfg.Class, nil, addr, slot, peer)
	return nil
}

// info is the data of a stream's session event.
func (c *Carrier) info(sid string, resumed bool) *sessionInfo {
	return &sessionInfo{Session: sid, Node: c.self, Heartbeat: c.cfg.Heartbeat.Milliseconds(),
		ResumeWindow: max(c.cfg.ResumeWindow, 0).Milliseconds(), Resumed: resumed}
}

// lastEventID is the client's last event id: Last-Event-ID, else the
// lastEventId parameter; "" when neither is given (a client that got no
// event: 0).
func lastEventID(r *eventloop.Request, q url.Values) string {
	if v := r.Get("Last-Event-ID"); v != "" {
		return v
	}
	return q.Get("lastEventId")
}

// resume hands the request's connection to the session's stream.
func (c *Carrier) resume(r *eventloop.Request, sid, last string, cors []eventloop.HeaderField) *eventloop.Response {
	var lastID uint64
	if last != "" {
		var err error
		if lastID, err = strconv.ParseUint(last, 10, 64); err != nil {
			c.m.resumeRefused(reasonBadID)
			return errAnswer(400, codeBadRequest, "Last-Event-ID must be an event id (a number)").response(cors)
		}
	}
	owner, ok := nodeOf(sid)
	if !ok {
		c.m.resumeRefused(reasonGone)
		return ansGone.response(cors)
	}
	if owner != c.self {
		// The balancer sent the resume elsewhere: the session cannot move
		// here. Its node closes it (the client starts anew), not after its
		// resume window.
		c.m.resumeRefused(reasonElsewhere)
		c.publish(owner, &relayMsg{Type: msgDrop, Session: sid})
		return errAnswer(410, codeElsewhere,
			"The session is held by another node: open a new stream, then recover your rooms with since").response(cors)
	}
	s := c.reg.get(sid)
	if s == nil {
		c.m.resumeRefused(reasonGone)
		return ansGone.response(cors)
	}
	err := r.Resume(s.conn, lastID, eventloop.StreamStart{Header: cors, First: sessionEvent(c.info(sid, true))},
		func(f eventloop.ResumeFailure) *eventloop.Response {
			if f == eventloop.ResumeLost {
				c.m.resumeRefused(reasonLost)
				return errAnswer(410, codeEventsLost,
					"Events after Last-Event-ID are no longer kept: open a new stream, then recover your rooms with since").response(cors)
			}
			c.m.resumeRefused(reasonGone)
			return ansGone.response(cors)
		})
	if err != nil {
		c.m.resumeRefused(reasonGone)
		return ansGone.response(cors)
	}
	return nil
}
