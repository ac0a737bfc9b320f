package httpstream

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/bytedance/sonic"
	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/chat"
)

// Relaying between nodes. Every node listens on its inbox, a node channel
// named after it (chat.ChannelPrefix + "stream:" + node id), through the
// cluster broker: an embedded broker (one node) delivers in-process, Redis
// and Redis Cluster through Pub/Sub like any room. A POST for a session of
// another node goes to that node's inbox:
//
//	{"type":"post","rid":<n>,"from":"<requester>","session":..,"seq":..,"requests":[..],"close":..}
//
// The holder applies it exactly as a POST it got itself (post.go), and
// sends the answer to the requester's inbox:
//
//	{"type":"answer","rid":<n>,"status":<HTTP status>,"body":{..}}
//
// which answers the client's POST. With no answer within RelayTimeout (the
// holder is gone, or the cluster lost a message: Pub/Sub keeps nothing) the
// client gets 503 session_unreachable and retries with the same seq, which
// the holder applies at most once. A resume that reached the wrong node
// sends {"type":"drop","session":..} to the holder, which closes the
// session: its client starts anew.

// The relay's message types.
const (
	msgPost   = "post"
	msgAnswer = "answer"
	msgDrop   = "drop"
)

// relayMsg is a message between nodes' inboxes.
type relayMsg struct {
	Type     string            `json:"type"`
	RID      uint64            `json:"rid,omitempty"`
	From     string            `json:"from,omitempty"`
	Session  string            `json:"session,omitempty"`
	Seq      uint64            `json:"seq,omitempty"`
	Requests []json.RawMessage `json:"requests,omitempty"`
	Close    bool              `json:"close,omitempty"`
	Status   int               `json:"status,omitempty"`
	Body     json.RawMessage   `json:"body,omitempty"`
}

// inbox is the channel of node's inbox.
func inbox(node string) string { return chat.ChannelPrefix + "stream:" + node }

// pendingRelays are the POSTs this node relayed and waits an answer for.
// There are at most as many as open HTTP requests (-max-tcp-conns).
type pendingRelays struct {
	mu sync.Mutex
	m  map[uint64]*pendingRelay
}

type pendingRelay struct {
	done  func(answer)
	timer *time.Timer
}

// take removes and returns the relay rid (nil: answered or timed out).
func (p *pendingRelays) take(rid uint64) *pendingRelay {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.m[rid]
	delete(p.m, rid)
	return pr
}

// relayPost sends p to the inbox of owner, the node holding its session.
func (c *Carrier) relayPost(owner string, p *post, done func(answer)) {
	rid := c.rid.Add(1)
	pr := &pendingRelay{done: done}
	c.relay.mu.Lock()
	c.relay.m[rid] = pr
	pr.timer = time.AfterFunc(c.cfg.RelayTimeout, func() {
		if c.relay.take(rid) != nil {
			c.m.post(resultUnreachable)
			done(ansTimeout)
		}
	})
	c.relay.mu.Unlock()
	c.m.relayed(dirOut)
	msg := &relayMsg{Type: msgPost, RID: rid, From: c.self, Session: p.Session, Seq: p.Seq, Requests: p.Requests,
		Close: p.Close}
	c.publishThen(owner, msg, func(err error) {
		if err == nil {
			return
		}
		if pr := c.relay.take(rid); pr != nil {
			pr.timer.Stop()
			c.m.post(resultUnavailable)
			done(errAnswer(503, codeUnavailable, "The session's node cannot be reached (cluster unavailable): retry with the same seq"))
		}
	})
}

// publish sends msg to node's inbox; failures are logged (at debug: the
// cluster's outages are logged by the broker).
func (c *Carrier) publish(node string, msg *relayMsg) {
	c.publishThen(node, msg, func(err error) {
		if err != nil {
			c.cfg.Logger.Debug("stream relay not sent", "type", msg.Type, "to", node, "err", err)
		}
	})
}

func (c *Carrier) publishThen(node string, msg *relayMsg, done func(error)) {
	body, err := sonic.Marshal(msg)
	if err != nil {
		done(err)
		return
	}
	c.node.PublishChannel(inbox(node), body, done)
}

// receive handles a message of this node's inbox (a broker goroutine).
func (c *Carrier) receive(payload string) {
	var m relayMsg
	if err := sonic.UnmarshalString(payload, &m); err != nil {
		c.cfg.Logger.Debug("stream relay: bad message", "err", err)
		return
	}
	switch m.Type {
	case msgPost:
		c.m.relayed(dirIn)
		from, rid := m.From, m.RID
		reply := func(a answer) {
			c.publish(from, &relayMsg{Type: msgAnswer, RID: rid, Status: a.status, Body: a.body})
		}
		if m.Seq == 0 || len(m.Requests) > c.cfg.MaxBatch || from == "" {
			reply(errAnswer(400, codeBadRequest, "Bad relayed request"))
			return
		}
		c.apply(&post{Session: m.Session, Seq: m.Seq, Requests: m.Requests, Close: m.Close}, reply)
	case msgAnswer:
		if pr := c.relay.take(m.RID); pr != nil {
			pr.timer.Stop()
			pr.done(answer{m.Status, m.Body})
		}
	case msgDrop:
		if s := c.reg.get(m.Session); s != nil {
			s.conn.Exec(func() {
				if !s.closed {
					s.conn.Close(eventloop.CloseGoingAway, "session resumed on another node")
				}
			})
		}
	}
}
