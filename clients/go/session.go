package chatdclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// session is one WebSocket connection: its writes, its read loop and the
// requests waiting for a reply on it. A client has at most one at a time.
type session struct {
	c   *Client
	ws  *websocket.Conn
	url string

	wmu sync.Mutex // one writer at a time (gorilla/websocket allows one)

	mu      sync.Mutex
	pending map[int64]*call
	ended   bool
	code    int    // close code the session ended with
	reason  string // close reason
	err     error  // why it ended

	overflow atomic.Bool   // the event queue refused an event: stop reading
	done     chan struct{} // closed when the session has ended and its calls have failed
}

// call is a request waiting for its reply.
type call struct {
	typ string
	// hook runs on the read loop when the reply arrives (f set; err a *ServerError for an
	// error reply) or when the session ends first (err ErrConnectionLost), before the caller
	// hears; waiting says whether a caller still waits (false: it gave up).
	hook  func(s *session, f *inbound, err error, waiting bool)
	res   chan callResult // (cap 1)
	state atomic.Int32    // callWaiting, callAnswered, callAbandoned
	slot  bool            // holds a Config.MaxPending slot
}

type callResult struct {
	f   *inbound
	err error
}

const (
	callWaiting int32 = iota
	callAnswered
	callAbandoned
)

func newSession(c *Client, ws *websocket.Conn, url string) *session {
	return &session{c: c, ws: ws, url: url, pending: make(map[int64]*call), done: make(chan struct{})}
}

// register assigns cl an id; false if the session has ended.
func (s *session) register(cl *call) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return 0, false
	}
	id := s.c.nextID.Add(1)
	s.pending[id] = cl
	return id, true
}

// take removes and returns the call of id.
func (s *session) take(id int64) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	cl := s.pending[id]
	delete(s.pending, id)
	return cl
}

// isEnded reports whether the session has ended.
func (s *session) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// write sends one request. A failed write breaks the connection (its
// stream is no longer whole): the session then ends and fails its calls.
func (s *session) write(req *request) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("chatdclient: encode %s: %w", req.Type, err)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := s.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		s.ws.Close()
		return fmt.Errorf("chatdclient: send %s: %w", req.Type, err)
	}
	return nil
}

// why records why the client ends the session, unless a reason is known.
func (s *session) why(code int, reason string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.code, s.reason, s.err = code, reason, err
	}
}

// closeWith starts the close handshake with code and reason; the connection
// is dropped when the server answers, or after closeWait.
func (s *session) closeWith(code int, reason string) {
	s.wmu.Lock()
	_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason),
		time.Now().Add(closeWait))
	s.wmu.Unlock()
	time.AfterFunc(closeWait, func() { s.ws.Close() })
}

// readLoop reads until the connection ends, then ends the session.
func (s *session) readLoop() {
	s.ws.SetReadLimit(int64(s.c.cfg.MaxReadBytes))
	for {
		_, p, err := s.ws.ReadMessage()
		if err != nil {
			s.end(err)
			return
		}
		s.c.handleFrame(s, p)
		if s.overflow.Load() {
			s.why(CloseNormal, "client event buffer full", ErrEventBufferFull)
			s.closeWith(CloseNormal, "client event buffer full")
			// Read on until the server's close (or closeWait) without handling anything.
			for {
				if _, _, err := s.ws.ReadMessage(); err != nil {
					s.end(ErrEventBufferFull)
					return
				}
			}
		}
	}
}

// end records why the session ended, detaches it from the client, fails
// the calls still waiting, and closes done.
func (s *session) end(err error) {
	s.mu.Lock()
	s.ended = true
	if s.err == nil {
		s.err = err
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce):
			s.code, s.reason = ce.Code, ce.Text
		case s.code == 0:
			s.code = CloseAbnormal
		}
	}
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	s.ws.Close()
	s.c.sessionEnded(s)
	for _, cl := range orderedCalls(pending) {
		s.c.finish(s, cl, nil, ErrConnectionLost)
	}
	close(s.done)
}

// closeInfo is the close code, reason and error the session ended with.
func (s *session) closeInfo() (int, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.err
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		err = fmt.Errorf("chatdclient: closed by the server: %d %s", ce.Code, ce.Text)
	case errors.As(err, &ne), errors.Is(err, net.ErrClosed):
		err = fmt.Errorf("chatdclient: connection lost: %w", err)
	}
	return s.code, s.reason, err
}

// orderedCalls lists calls by id, so that they fail in the order sent.
func orderedCalls(m map[int64]*call) []*call {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*call, len(ids))
	for i, id := range ids {
		out[i] = m[id]
	}
	return out
}
