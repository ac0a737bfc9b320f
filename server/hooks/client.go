package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chatd/chatd/server/auth"
	"github.com/prometheus/client_golang/prometheus"
)

// Client calls the configured hooks. A nil *Client has no hook on: every
// On method reports false.
type Client struct {
	cfg                    Config
	connect, join, publish *pool // nil when off
}

// New starts the hooks of cfg (nil, nil when none is configured) and
// registers their metrics with reg.
func New(cfg Config, reg prometheus.Registerer) (*Client, error) {
	if !cfg.On() {
		return nil, nil
	}
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.ConnectHeaders = canonicalHeaders(cfg.ConnectHeaders)
	c := &Client{cfg: cfg}
	m := newMetrics(reg)
	if cfg.Connect.URL != "" {
		c.connect = newPool(HookConnect, cfg.Connect, &c.cfg, m.forHook(HookConnect))
	}
	if cfg.Join.URL != "" {
		c.join = newPool(HookJoin, cfg.Join, &c.cfg, m.forHook(HookJoin))
	}
	if cfg.Publish.URL != "" {
		c.publish = newPool(HookPublish, cfg.Publish, &c.cfg, m.forHook(HookPublish))
	}
	reg.MustRegister(collector{c})
	return c, nil
}

// ConnectOn, JoinOn and PublishOn report whether a hook is configured.
func (c *Client) ConnectOn() bool { return c != nil && c.connect != nil }
func (c *Client) JoinOn() bool    { return c != nil && c.join != nil }
func (c *Client) PublishOn() bool { return c != nil && c.publish != nil }

// ConnectHeaders returns the request headers the connect hook forwards,
// in canonical form.
func (c *Client) ConnectHeaders() []string {
	if c == nil {
		return nil
	}
	return c.cfg.ConnectHeaders
}

// Close stops every hook: calls in flight and waiting finish as failed
// (error), and later calls fail at once.
func (c *Client) Close() {
	for _, p := range c.pools() {
		p.close()
	}
}

// Stats returns the calls of hook h waiting for a slot and at the backend
// now (0, 0 when h is off).
func (c *Client) Stats(h Hook) (queued, inFlight int) {
	for _, p := range c.pools() {
		if p.hook == h {
			return p.stats()
		}
	}
	return 0, 0
}

func (c *Client) pools() []*pool {
	if c == nil {
		return nil
	}
	var out []*pool
	for _, p := range []*pool{c.connect, c.join, c.publish} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// Connect asks the connect hook about a new connection. done runs once
// with the decision, on any goroutine (before Connect returns when the
// call is refused at once). The hook must be on.
func (c *Client) Connect(req *ConnectRequest, done func(*ConnectResult)) {
	p := c.connect
	p.submit(&call{req: req, key: req.Addr, size: req.size(), finish: func(a *answer, failure string, err error) {
		r := &ConnectResult{}
		if failure == "" {
			if err = c.connectAnswer(a, r); err != nil {
				failure = failInvalid
			}
		}
		if failure != "" {
			*r = ConnectResult{Result: p.failed(failure, err)}
		}
		p.count(&r.Result, false)
		done(r)
	}})
}

// Join asks the join hook whether req's user may join req's room. done
// runs once, on any goroutine. The hook must be on.
func (c *Client) Join(req *JoinRequest, done func(*Result)) {
	p := c.join
	p.submit(&call{req: req, key: req.RoomID, size: req.size(), finish: func(a *answer, failure string, err error) {
		var r Result
		if failure == "" {
			if a.Error != nil {
				r = p.refused(a.Error, "Not allowed in room "+req.RoomID)
			}
		} else {
			r = p.failed(failure, err)
		}
		p.count(&r, false)
		done(&r)
	}})
}

// Publish asks the publish hook about a message. done runs once, on any
// goroutine. The hook must be on.
func (c *Client) Publish(req *PublishRequest, done func(*PublishResult)) {
	p := c.publish
	p.submit(&call{req: req, key: req.RoomID, size: req.size(), finish: func(a *answer, failure string, err error) {
		r := &PublishResult{}
		if failure == "" {
			switch {
			case a.Error != nil:
				r.Result = p.refused(a.Error, "Message refused")
			case a.Content != nil && *a.Content == "":
				failure, err = failInvalid, errors.New("content is empty")
			case a.Content != nil:
				r.Content, r.Replaced = *a.Content, true
			}
		}
		if failure != "" {
			*r = PublishResult{Result: p.failed(failure, err)}
		}
		p.count(&r.Result, r.Replaced)
		done(r)
	}})
}

// connectAnswer reads a connect answer into r: a refusal, or the user the
// backend names (bounded like a token's claims), or nobody.
func (c *Client) connectAnswer(a *answer, r *ConnectResult) error {
	if a.Error != nil {
		r.Result = c.connect.refused(a.Error, "Connection refused")
		return nil
	}
	lim := &c.cfg.Limits
	if a.UserID != nil {
		if err := checkText("userId", *a.UserID, lim.UserIDBytes); err != nil {
			return err
		}
		if *a.UserID == SystemUserID {
			return errors.New("userId is " + SystemUserID + ", the server API's")
		}
		r.UserID, r.Name = *a.UserID, *a.UserID
	}
	if a.Name != nil {
		if a.UserID == nil {
			return errors.New("name without userId")
		}
		if err := checkText("name", *a.Name, lim.NameBytes); err != nil {
			return err
		}
		r.Name = *a.Name
	}
	if len(a.Rooms) > 0 {
		var list []string
		if string(a.Rooms) == "null" || json.Unmarshal(a.Rooms, &list) != nil {
			return errors.New("rooms is not a list of strings")
		}
		if lim.Rooms > 0 && len(list) > lim.Rooms {
			return fmt.Errorf("rooms has %d entries, over %d", len(list), lim.Rooms)
		}
		rooms, err := auth.ParseRooms(list, lim.RoomIDBytes)
		if err != nil {
			return fmt.Errorf("rooms: %w", err)
		}
		r.Rooms, r.HasRooms = rooms, true
	}
	return nil
}

// SystemUserID is the user id of the server API's messages: no backend
// answer may claim it (as no token may).
const SystemUserID = "system"

// checkText bounds a user id or a name as a token's claims are: not blank,
// at most max bytes (0: no bound), no control characters.
func checkText(field, s string, max int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("%s is blank", field)
	case max > 0 && len(s) > max:
		return fmt.Errorf("%s is over %d bytes", field, max)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%s has control characters", field)
	}
	return nil
}

// refused is the decision of a backend's refusal. A refusal stays one
// whatever its form: a code chatd cannot pass on becomes "forbidden", a
// missing message the hook's default def.
func (p *pool) refused(e *refusal, def string) Result {
	code, msg := e.Code, e.Message
	if !validCode(code) {
		if code != "" {
			p.logFailure("refusal code replaced by forbidden", fmt.Errorf("code %q", cut(code, MaxCodeBytes)))
		}
		code = "forbidden"
	}
	if strings.TrimSpace(msg) == "" {
		msg = def
	}
	return Result{Outcome: Refused, Code: code, Message: cut(msg, MaxRefusalBytes)}
}

// failed is the decision of a failed call: the hook's policy, counted and
// logged.
func (p *pool) failed(reason string, err error) Result {
	p.m.failures.WithLabelValues(reason, string(p.policy)).Inc()
	p.logFailure(reason, err)
	if p.policy == Allow {
		return Result{Outcome: Allowed, Failure: reason}
	}
	return Result{Outcome: Unavailable, Failure: reason}
}

// count counts a decision by result.
func (p *pool) count(r *Result, rewritten bool) {
	switch {
	case r.Failure != "":
		p.m.calls[resultFailed].Inc()
	case r.Outcome == Refused:
		p.m.calls[resultRefused].Inc()
	case rewritten:
		p.m.calls[resultRewritten].Inc()
	default:
		p.m.calls[resultAllowed].Inc()
	}
}

// validCode reports whether a refusal code may be passed to clients as it
// is: 1 to MaxCodeBytes of a-z, A-Z, 0-9, '_', '-', '.'.
func validCode(s string) bool {
	if s == "" || len(s) > MaxCodeBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// cut shortens s to at most n bytes, at a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
