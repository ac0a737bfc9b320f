package chatdclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Client is a connection to chatd that stays up: it reconnects by itself and
// re-joins its rooms. Its methods are safe for concurrent use.
type Client struct {
	cfg      Config
	urls     []string
	q        *eventQueue
	events   chan Event
	slots    chan struct{} // one per request waiting for its reply (Config.MaxPending)
	nextID   atomic.Int64
	ctx      context.Context // ends with Close: dials and GetToken calls
	cancel   context.CancelFunc
	stop     chan struct{} // closed by Close
	stopOnce sync.Once
	done     chan struct{} // closed when the connection manager has exited

	mu         sync.Mutex
	state      State
	sess       *session // the current connection; nil between connections
	ready      bool     // sess said hello and re-sent its joins: requests may go
	me         Identity
	rooms      map[string]*roomState
	joining    map[string]joinWait // Join calls on their way, by room
	token      string              // the token of the next hello (GetToken's)
	tokenGot   time.Time
	tokenExp   time.Time
	tokenStale bool // refused or expired: ask GetToken before the next hello
	refresh    *time.Timer
	lastErr    error // the last failed attempt's
	closed     bool
	err        error // why the client stopped
	stats      Stats
}

// Identity is who the server says this client is (hello's answer).
type Identity struct {
	UserID string // random per connection without a token; the token's sub with one
	Name   string
	Node   string // the node the client is connected to
}

// Stats are counters of what the client did.
type Stats struct {
	Connects       int // connections that said hello
	Recoveries     int // rooms recovered with nothing missing
	Gaps           int // rooms recovered with a gap
	Duplicates     int // pushes dropped because their offset was had already
	Stale          int // pushes of another epoch dropped after a recovery named the room's epoch
	Overflows      int // connections dropped because the application fell behind
	DroppedErrors  int // ErrorEvents dropped because the event buffer was full
	DroppedTyping  int // TypingEvents dropped because the event buffer was full
	TokenRefreshes int // refresh requests the server accepted
}

// Connect connects to chatd and says hello. It returns once hello is
// answered; until then it retries with backoff (trying AltURLs in turn) while
// ctx lasts. A refusal that retrying cannot fix (a refused token without
// GetToken, a bad name, a server that does not speak chatd.v2) returns at
// once. After Connect, the client reconnects by itself until Close.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, urls: append([]string{cfg.URL}, cfg.AltURLs...), q: newEventQueue(cfg.EventBuffer),
		events: make(chan Event), slots: make(chan struct{}, cfg.MaxPending), stop: make(chan struct{}),
		done: make(chan struct{}), rooms: make(map[string]*roomState), joining: make(map[string]joinWait),
		token: cfg.Token}
	if cfg.Token != "" {
		c.tokenGot, c.tokenExp = time.Now(), tokenExpiry(cfg.Token)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	first := make(chan error, 1)
	go c.q.run(c.events, c.stop)
	go c.run(first)
	select {
	case err := <-first:
		if err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		c.mu.Lock()
		last := c.lastErr
		c.mu.Unlock()
		c.Close()
		if last != nil {
			return nil, fmt.Errorf("chatdclient: connect: %w (last attempt: %w)", ctx.Err(), last)
		}
		return nil, fmt.Errorf("chatdclient: connect: %w", ctx.Err())
	}
}

// Events delivers what happens, in order: state changes, the messages and
// presence of joined rooms, and per room recovered or gap after a
// reconnect. The client never blocks on it: read it from one goroutine, which
// may take its time and may call any method of the client (including
// requests that wait for replies). If the application falls
// Config.EventBuffer events behind, the client drops its connection
// (StateDisconnected with ErrEventBufferFull), waits until the application
// has read half of them, and reconnects: each room then recovers what it
// missed (RecoveredEvent), or says it cannot (GapEvent). Nothing is lost
// silently.
//
// The channel is closed after Close (events not yet read are discarded), or
// after the last event when the client stops by itself (Err says why).
func (c *Client) Events() <-chan Event { return c.events }

// State is the connection's state now.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Identity is who the server says this client is, from the latest hello.
func (c *Client) Identity() Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.me
}

// UserID is Identity().UserID.
func (c *Client) UserID() string { return c.Identity().UserID }

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Err is why the client stopped: ErrClosed after Close, the refusal after a
// stop of its own; nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close leaves the server (close 1000) and stops the client: requests waiting
// for replies fail with ErrConnectionLost, later ones with ErrClosed, and
// Events closes. It waits for the client's goroutines, at most about a
// second for the server's close answer.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	if c.err == nil {
		c.err = ErrClosed
	}
	s := c.sess
	c.stopTimersLocked()
	c.mu.Unlock()
	c.stopOnce.Do(func() {
		close(c.stop)
		c.cancel()
	})
	if s != nil {
		s.why(CloseNormal, "client closed", ErrClosed)
		s.closeWith(CloseNormal, "client closed")
	}
	<-c.done
	return nil
}

// run is the connection manager: it connects, waits for the connection to
// end, and reconnects with backoff, until Close or a refusal that retrying
// cannot fix.
func (c *Client) run(first chan<- error) {
	defer close(c.done)
	attempt, next := 0, 0
	everUp := false
	c.setState(StateEvent{State: StateConnecting, URL: c.urls[0]})
	for {
		url := c.urls[next%len(c.urls)]
		s, err := c.open(url)
		if err != nil {
			if c.stopped() {
				return
			}
			if c.fatal(err) {
				c.stopWith(StateEvent{State: StateDisconnected, URL: url, Err: err})
				if first != nil {
					first <- err
				}
				return
			}
			c.mu.Lock()
			c.lastErr = err
			c.mu.Unlock()
			delay := backoffDelay(attempt, c.cfg.BackoffMin, c.cfg.BackoffMax, jitter())
			attempt++
			next++
			st := StateConnecting
			if everUp {
				st = StateReconnecting
			}
			c.setState(StateEvent{State: st, URL: url, Err: err, Delay: delay})
			if !c.sleep(delay) {
				return
			}
			continue
		}
		everUp = true
		if first != nil {
			first <- nil
			first = nil
		}
		up := time.Now()
		select {
		case <-s.done:
		case <-c.stop:
			<-s.done
			return
		}
		code, reason, err := s.closeInfo()
		if c.stopped() {
			return
		}
		if IsCode(err, CodeUnauthorized) || code == CloseTokenExpired {
			c.mu.Lock()
			c.tokenStale = true
			c.mu.Unlock()
		}
		c.setState(StateEvent{State: StateDisconnected, URL: url, Code: code, Reason: reason, Err: err})
		if time.Since(up) >= c.cfg.StableAfter {
			attempt = 0
		}
		if errors.Is(err, ErrEventBufferFull) {
			// The application is behind: come back once it has caught up, to the same node.
			c.setState(StateEvent{State: StateReconnecting, URL: url, Err: err})
			if !c.q.waitLow(c.stop) {
				return
			}
			continue
		}
		delay := backoffDelay(attempt, c.cfg.BackoffMin, c.cfg.BackoffMax, jitter())
		attempt++
		next++
		c.setState(StateEvent{State: StateReconnecting, URL: c.urls[next%len(c.urls)], Err: err, Delay: delay})
		if !c.sleep(delay) {
			return
		}
	}
}

// sleep waits d; false if the client stops first.
func (c *Client) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	}
}

// stopped reports whether Close was called.
func (c *Client) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// fatal reports whether a failed attempt would fail the same way again.
func (c *Client) fatal(err error) bool {
	if errors.Is(err, ErrNotV2) {
		return true
	}
	var se *ServerError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case CodeUnauthorized, CodeForbidden:
		return c.cfg.GetToken == nil // with GetToken: ask for another token and retry
	case "missing_field", "bad_field", "too_long", "control_chars":
		return true // the name: the user has to change it
	}
	return false
}

// stopWith stops the client by itself: ev is its last event.
func (c *Client) stopWith(ev StateEvent) {
	c.mu.Lock()
	c.closed = true
	c.err = ev.Err
	c.state = ev.State
	c.stopTimersLocked()
	c.q.push(ev, true)
	c.mu.Unlock()
	c.q.finish()
}

// setState records and announces a state change.
func (c *Client) setState(ev StateEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setStateLocked(ev)
}

func (c *Client) setStateLocked(ev StateEvent) {
	c.state = ev.State
	c.q.push(ev, true)
}

// open makes one connection: dial, hello, and the re-join of every room.
func (c *Client) open(url string) (*session, error) {
	// The token first: the server closes a connection that has not said hello within its
	// -hello-timeout (5 s, close 4002), and GetToken may take a while.
	tctx, tcancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	token, err := c.helloToken(tctx)
	tcancel()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.DialTimeout)
	defer cancel()
	d := websocket.Dialer{HandshakeTimeout: c.cfg.DialTimeout, Subprotocols: []string{Subprotocol},
		TLSClientConfig: c.cfg.TLSConfig, NetDialContext: c.cfg.NetDialContext}
	ws, resp, err := d.DialContext(ctx, url, c.cfg.Header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("chatdclient: dial %s: HTTP %d: %w", url, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("chatdclient: dial %s: %w", url, err)
	}
	if ws.Subprotocol() != Subprotocol {
		ws.Close()
		return nil, fmt.Errorf("%w (%s answered subprotocol %q)", ErrNotV2, url, ws.Subprotocol())
	}
	s := newSession(c, ws, url)
	go s.readLoop()
	fail := func(err error) (*session, error) {
		s.why(CloseNormal, "hello failed", err)
		s.closeWith(CloseNormal, "hello failed")
		<-s.done
		return nil, err
	}
	hctx, hcancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer hcancel()
	f, err := c.doOn(hctx, s, &request{Type: reqHello, Name: c.cfg.Name, Token: token}, nil, nil)
	if err != nil {
		if IsCode(err, CodeUnauthorized) {
			c.mu.Lock()
			c.tokenStale = true
			c.mu.Unlock()
		}
		return fail(err)
	}
	c.mu.Lock()
	if c.closed || s.isEnded() {
		c.mu.Unlock()
		return fail(ErrConnectionLost)
	}
	defer c.mu.Unlock()
	c.sess = s
	c.me = Identity{UserID: f.UserID, Name: f.Name, Node: f.Node}
	c.stats.Connects++
	c.setStateLocked(StateEvent{State: StateConnected, URL: url})
	// Re-join every room before requests may go: the server handles a connection's requests in
	// order, so a publish sent after this finds its room joined.
	c.rejoinLocked(s)
	c.ready = true
	c.scheduleRefreshLocked(s)
	return s, nil
}

// helloToken is the token for the next hello: GetToken's when the one held
// is missing, refused, or due for refresh.
func (c *Client) helloToken(ctx context.Context) (string, error) {
	if c.cfg.GetToken == nil {
		return c.cfg.Token, nil
	}
	c.mu.Lock()
	tok, stale := c.token, c.tokenStale
	at := refreshAt(c.tokenGot, c.tokenExp, c.cfg.RefreshBefore)
	c.mu.Unlock()
	if tok != "" && !stale && (at.IsZero() || time.Now().Before(at)) {
		return tok, nil
	}
	tok, err := c.cfg.GetToken(ctx)
	if err == nil && tok == "" {
		err = errors.New("empty token")
	}
	if err != nil {
		return "", fmt.Errorf("chatdclient: GetToken: %w", err)
	}
	c.mu.Lock()
	c.token, c.tokenGot, c.tokenExp, c.tokenStale = tok, time.Now(), tokenExpiry(tok), false
	c.mu.Unlock()
	return tok, nil
}

// sessionEnded detaches s: every room waits for the next connection.
func (c *Client) sessionEnded(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != s {
		return
	}
	c.sess, c.ready = nil, false
	if c.refresh != nil {
		c.refresh.Stop()
		c.refresh = nil
	}
	for _, rs := range c.rooms {
		rs.offline()
	}
}

// stopTimersLocked stops every timer of the client.
func (c *Client) stopTimersLocked() {
	if c.refresh != nil {
		c.refresh.Stop()
		c.refresh = nil
	}
	for _, rs := range c.rooms {
		rs.offline()
	}
}

// emitData queues a data event; false (and the session stops reading) when
// the application is too far behind.
func (c *Client) emitData(s *session, ev Event) bool {
	if c.q.push(ev, false) {
		return true
	}
	if s != nil && !s.overflow.Swap(true) {
		c.stats.Overflows++
	}
	return false
}

// emitError reports an error no request returns; dropped (counted) when the
// application is too far behind. Caller holds c.mu.
func (c *Client) emitErrorLocked(room string, err error) {
	if !c.q.push(ErrorEvent{RoomID: room, Err: err}, false) {
		c.stats.DroppedErrors++
	}
}

func (c *Client) emitError(room string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emitErrorLocked(room, err)
}
