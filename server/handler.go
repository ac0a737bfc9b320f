package server

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/auth"
	"github.com/chatd/chatd/server/chat"
)

// The WebSocket carrier: the transport's callbacks (eventloop.Handler). An
// upgrade is checked (path, origin, the URL's token, the per-address limit)
// and picks the protocol (the subprotocol chatd.v2, or v1); every message of
// the connection then goes to its session.

// handler is the Server seen by the transport.
type handler Server

// webSocketPaths are the paths that accept upgrades.
var webSocketPaths = strings.Split(DefaultWebSocketPaths, ",")

// Upgrade accepts WebSocket upgrades on the WebSocket paths from allowed
// origins, within the per-address connection limit.
func (h *handler) Upgrade(c *eventloop.Conn, r *eventloop.Request) *eventloop.Response {
	if !slices.Contains(webSocketPaths, r.Path) {
		return &eventloop.Response{Status: 404, Body: []byte("no WebSocket endpoint at this path\n")}
	}
	trust := proxyTrust(h.cfg.TrustedProxies)
	if !h.originAllowed(r.Get("Origin"), trust.host(r)) {
		h.metrics.originRefusals.Inc()
		h.logRefusal(r, "origin not allowed")
		return &eventloop.Response{Status: 403, Body: []byte("origin not allowed\n")}
	}
	claim := upgradeClaim{class: classV1, addr: trust.clientAddr(r)}
	if slices.Contains(r.Protocols(), Subprotocol) {
		// Protocol v2; anything else, or nothing, is v1.
		claim.class = classV2
		r.Subprotocol = Subprotocol
	}
	if resp := h.admit(r, &claim); resp != nil {
		return resp
	}
	if claim.claims == nil {
		claim.peer = h.hookPeer(r, trust, claim.class) // nil without a connect hook
	}
	// Keep this check last: a counted connection is uncounted by Close,
	// which only follows Open, which only follows an accepted upgrade.
	if h.perIP != nil {
		slot, ok := h.perIP.acquire(claim.addr)
		if !ok {
			h.metrics.ipRefusals.Inc()
			h.logRefusal(r, "too many connections from this address")
			// 429, not 503: this client is over its share; the node is not full.
			return &eventloop.Response{Status: 429, Body: []byte("too many connections from this address\n")}
		}
		claim.ipSlot = slot
	}
	c.SetValue(claim)
	return nil
}

// upgradeClaim is what Upgrade learned for Open: the protocol, the client's
// address, the per-address slot taken, and the user of a token in the URL.
type upgradeClaim struct {
	class  int
	addr   netip.Addr
	ipSlot int32
	claims *auth.Claims
	peer   *chat.Peer // for the connect hook (hooks.go)
}

// admit verifies the upgrade URL's token, recording its user in claim. A
// bad token is refused with 401 before the upgrade, whatever the protocol;
// so is a v1 upgrade without a token under AuthRequired (a v2 one may still
// bring its token in hello).
func (h *handler) admit(r *eventloop.Request, claim *upgradeClaim) *eventloop.Response {
	n := h.node
	token := ""
	if n.AuthOn() && r.RawQuery != "" {
		if q, err := url.ParseQuery(r.RawQuery); err == nil {
			token = q.Get("token")
		}
	}
	if token == "" {
		if h.cfg.Auth == AuthRequired && claim.class == classV1 {
			n.Metrics().Refused(auth.ReasonMissing)
			return unauthorizedResponse(auth.ReasonMissing)
		}
		return nil
	}
	claims, err := n.VerifyToken(token, "url")
	if err != nil {
		return unauthorizedResponse(auth.ReasonOf(err))
	}
	claim.claims = claims
	return nil
}

// unauthorizedResponse is the 401 of a refused upgrade: the reason, never
// the token.
func unauthorizedResponse(r auth.Reason) *eventloop.Response {
	return &eventloop.Response{Status: 401,
		Header: []eventloop.HeaderField{{Name: "WWW-Authenticate", Value: `Bearer error="invalid_token"`}},
		Body:   []byte("unauthorized: token " + string(r) + "\n")}
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

// Open starts the connection's session in the protocol its upgrade chose.
func (h *handler) Open(c *eventloop.Conn) {
	claim, _ := c.Value().(upgradeClaim)
	h.node.Open(c, claim.class, claim.claims, claim.addr, claim.ipSlot, claim.peer)
}

// Message hands a request to the connection's session.
func (h *handler) Message(c *eventloop.Conn, p []byte, _ bool) {
	c.Value().(*chat.Session).Receive(p)
}

// Close ends the connection's session: it leaves its rooms, announcing it.
func (h *handler) Close(c *eventloop.Conn, _ eventloop.CloseCode) {
	if s, ok := c.Value().(*chat.Session); ok {
		if c.Stream() && h.stream != nil {
			h.stream.Closed(c) // before the session goes: no POST applies to it past this
		}
		s.Disconnect()
		if slot := s.IPSlot(); slot != 0 {
			h.perIP.release(slot)
		}
	}
}
