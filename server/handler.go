package server

import (
	"net"
	"slices"
	"strings"

	"github.com/chatd/chatd/eventloop"
)

// handler is the Server seen by the transport.
type handler Server

// Upgrade accepts WebSocket upgrades on the WebSocket paths from allowed
// origins.
func (h *handler) Upgrade(c *eventloop.Conn, r *eventloop.Request) *eventloop.Response {
	if r.Path != "/" && r.Path != "/ws" {
		return &eventloop.Response{Status: 404, Body: []byte("no WebSocket endpoint at this path\n")}
	}
	if !h.originAllowed(r.Get("Origin"), r.Host) {
		h.metrics.originRefused()
		return &eventloop.Response{Status: 403, Body: []byte("origin not allowed\n")}
	}
	v2 := slices.Contains(r.Protocols(), Subprotocol)
	if v2 {
		// Protocol v2; anything else, or nothing, is v1.
		r.Subprotocol = Subprotocol
	}
	return h.admit(c, r, v2) // the token, if any (identity.go)
}

// v2Pending marks a connection accepted for protocol v2 between Upgrade and
// Open.
var v2Pending = new(int)

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
	}
}
