package httpstream

import (
	"encoding/json"
	"strconv"

	"github.com/bytedance/sonic"
	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/chat"
)

// Requests, client to server:
//
//	POST <path>   {"session": "<id>", "seq": <n>, "requests": [<v2 request>, ...], "close": false}
//
// A session's POSTs are numbered 1, 2, 3, ... (seq), and the client sends
// the next only once the previous one was answered 200: a POST is applied
// when its seq is the session's next one, acknowledged without being
// applied again when it is lower (a retry of one that was applied; the
// answer says duplicate), and refused (409 seq_gap, with the expected seq)
// when it is higher. So, whichever node each reaches and however often a
// client retries one that got no answer, the POSTs of a session apply in
// order and each once. Applying a POST hands its requests to the session
// in order, as frames of a WebSocket: each is limited, answered and
// ordered as there (its replies and errors come on the stream). A POST
// with no request is a heartbeat: it counts as one request for the rate
// limits (429 rate_limited past them; it is not applied then, so the same
// seq may be sent again). Any applied POST is the client's activity for
// the idle timeout. "close": true ends the session after its requests.

// post is a POST's body.
type post struct {
	Session  string            `json:"session"`
	Seq      uint64            `json:"seq"`
	Requests []json.RawMessage `json:"requests"`
	Close    bool              `json:"close"`
}

// postAPI decodes POST bodies: keys matched exactly, as JSON.parse does.
var postAPI = sonic.Config{CaseSensitive: true, ValidateString: true}.Froze()

// parsePost decodes and checks a POST's body; a non-nil answer refuses it.
func parsePost(body []byte, maxBatch, maxMessage int) (*post, *answer) {
	var p post
	refuse := func(code, msg string) (*post, *answer) {
		a := errAnswer(400, code, msg)
		return nil, &a
	}
	if len(body) == 0 {
		return refuse(codeBadRequest, `The body must be a JSON object {"session","seq","requests"}`)
	}
	if err := postAPI.Unmarshal(body, &p); err != nil {
		return refuse(codeBadRequest, `The body must be a JSON object {"session": string, "seq": integer ≥ 1, "requests": [..], "close": boolean}`)
	}
	switch {
	case p.Session == "":
		return refuse(codeBadRequest, `Field "session" is required`)
	case p.Seq == 0:
		return refuse(codeBadRequest, `Field "seq" must be an integer ≥ 1`)
	case len(p.Requests) > maxBatch:
		a := errAnswer(413, codeBatchTooLarge, "At most "+strconv.Itoa(maxBatch)+" requests in one POST")
		return nil, &a
	}
	for _, q := range p.Requests {
		if len(q) > maxMessage {
			a := errAnswer(413, codeTooBig, "A request is over "+strconv.Itoa(maxMessage)+" bytes")
			return nil, &a
		}
	}
	return &p, nil
}

// servePost checks a POST and applies it here or relays it to the node that
// holds its session; the answer comes later (Request.Defer).
func (c *Carrier) servePost(r *eventloop.Request, cors []eventloop.HeaderField) *eventloop.Response {
	p, refused := parsePost(r.Body, c.cfg.MaxBatch, c.cfg.MaxMessageBytes)
	if refused != nil {
		c.m.post(resultBadRequest)
		return refused.response(cors)
	}
	owner, ok := nodeOf(p.Session)
	if !ok {
		c.m.post(resultGone)
		return ansGone.response(cors)
	}
	respond := r.Defer()
	done := func(a answer) { respond(a.response(cors)) }
	if owner == c.self {
		c.apply(p, done)
	} else {
		c.relayPost(owner, p, done)
	}
	return nil
}

// apply applies p to its session, on the session's loop, and gives the
// answer to done (on that loop, or at once when there is no session).
func (c *Carrier) apply(p *post, done func(answer)) {
	s := c.reg.get(p.Session)
	if s == nil {
		c.m.post(resultGone)
		done(ansGone)
		return
	}
	s.conn.Exec(func() { done(c.applyOnLoop(s, p)) })
}

// applyOnLoop is apply on the session's loop.
func (c *Carrier) applyOnLoop(s *session, p *post) answer {
	switch {
	case s.closed || s.sess.Closed():
		c.m.post(resultGone)
		return ansGone
	case p.Seq < s.next:
		c.m.post(resultDuplicate)
		return postOK(p.Seq, true)
	case p.Seq > s.next:
		c.m.post(resultGap)
		return answer{409, errorJSON(codeSeqGap, "A POST is missing before this one: send seq "+
			strconv.FormatUint(s.next, 10)+" first", s.next)}
	}
	if len(p.Requests) == 0 && !p.Close {
		var e *chat.Error
		if !s.sess.Allow(func(r *chat.Error) { e = r }) {
			c.m.post(resultRateLimited)
			if e != nil && e.Code == chat.CodeDraining {
				return errAnswer(503, codeDraining, e.Msg)
			}
			if e == nil { // closed for sustained abuse
				e = chat.ErrRateLimited
			}
			return errAnswer(429, codeRateLimited, e.Msg)
		}
	}
	s.next++
	s.conn.Touch()
	for _, q := range p.Requests {
		s.sess.Receive(q)
	}
	if p.Close {
		s.sess.Close(eventloop.CloseNormal, "closed by the client")
	}
	c.m.post(resultApplied)
	return postOK(p.Seq, false)
}
