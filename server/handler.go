package server

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strings"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/auth"
)

// handler is the Server seen by the transport.
type handler Server

// Upgrade accepts WebSocket upgrades on the WebSocket paths from allowed
// origins, within the per-address connection limit.
func (h *handler) Upgrade(c *eventloop.Conn, r *eventloop.Request) *eventloop.Response {
	if r.Path != "/" && r.Path != "/ws" {
		return &eventloop.Response{Status: 404, Body: []byte("no WebSocket endpoint at this path\n")}
	}
	trust := proxyTrust(h.cfg.TrustedProxies)
	if !h.originAllowed(r.Get("Origin"), trust.host(r)) {
		h.metrics.originRefused()
		h.logRefusal(r, "origin not allowed")
		return &eventloop.Response{Status: 403, Body: []byte("origin not allowed\n")}
	}
	claim := upgradeClaim{v2: slices.Contains(r.Protocols(), Subprotocol)}
	if claim.v2 {
		// Protocol v2; anything else, or nothing, is v1.
		r.Subprotocol = Subprotocol
	}
	if resp := h.admit(r, &claim); resp != nil { // the token, if any (identity.go)
		return resp
	}
	// Keep this check last: a counted connection is uncounted by Close,
	// which only follows Open, which only follows an accepted upgrade.
	if h.perIP != nil {
		slot, ok := h.perIP.acquire(trust.clientAddr(r))
		if !ok {
			h.metrics.ipRefused()
			h.logRefusal(r, "too many connections from this address")
			// 429, not 503: this client is over its share; the node is not full.
			return &eventloop.Response{Status: 429, Body: []byte("too many connections from this address\n")}
		}
		claim.ipSlot = slot
	}
	if claim != (upgradeClaim{}) {
		c.SetValue(claim)
	}
	return nil
}

// upgradeClaim is what Upgrade learned for Open: the protocol, the
// per-address slot taken, and the user of a token in the URL.
type upgradeClaim struct {
	v2     bool
	ipSlot int32
	claims *auth.Claims
}

// logRefusal logs a refused upgrade at debug level (a flood of refusals
// must not flood the log; the metrics count them) with the client's address
// as the trusted proxies report it, and the TCP peer's.
func (h *handler) logRefusal(r *eventloop.Request, why string) {
	log := h.cfg.Logger
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	log.Debug("upgrade refused", "reason", why, "client", proxyTrust(h.cfg.TrustedProxies).clientAddr(r).String(),
		"peer", r.RemoteAddr, "origin", r.Get("Origin"))
}

// originAllowed applies the origin policy (Config.AllowedOrigins). A request
// without Origin is not from a browser and is always allowed: the policy
// protects browser users from foreign pages, not the server from clients.
func (h *handler) originAllowed(origin, host string) bool {
	if origin == "" {
		return true
	}
	list := h.cfg.AllowedOrigins
	if len(list) > 0 {
		return slices.Contains(list, "*") || slices.Contains(list, origin)
	}
	_, rest, ok := strings.Cut(origin, "://")
	return ok && hostname(rest) == hostname(host)
}

// hostname strips the port from host[:port].
func hostname(hp string) string {
	if h, _, err := net.SplitHostPort(hp); err == nil {
		return strings.ToLower(h)
	}
	return strings.ToLower(strings.Trim(hp, "[]"))
}

// HTTP serves the web client and the side endpoints.
func (h *handler) HTTP(r *eventloop.Request) *eventloop.Response {
	return (*Server)(h).serveHTTP(r)
}

// Open starts a connection's session: a v1 connection is greeted with its
// user id at once; a v2 one hears nothing before its hello.
func (h *handler) Open(c *eventloop.Conn) {
	s := &session{srv: (*Server)(h), c: c}
	s.open(c.Value())
	c.SetValue(s)
	h.metrics.connected()
	if !s.v2 {
		if s.userID == "" {
			s.userID = newID()
		}
		h.conns.add(s)
		s.send(frameOf(&Connected{Type: TypeConnected, Message: "Connected", UserID: s.userID}))
	}
}

// Message hands a request to the connection's session.
func (h *handler) Message(c *eventloop.Conn, p []byte, _ bool) {
	h.metrics.messageIn()
	c.Value().(*session).receive(p)
}

// Close announces the user's departure.
func (h *handler) Close(c *eventloop.Conn, code eventloop.CloseCode) {
	h.metrics.disconnected()
	if s, ok := c.Value().(*session); ok {
		s.disconnect()
		if s.ipSlot != 0 {
			h.perIP.release(s.ipSlot)
			s.ipSlot = 0
		}
	}
}
