package server

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/chat"
	"github.com/chatd/chatd/server/hooks"
	"github.com/prometheus/client_golang/prometheus"
)

// The node's side of the hooks (package server/hooks calls the backend;
// server/chat decides what the answers mean): their configuration, and
// what the WebSocket carrier captures at the upgrade for the connect hook.

// newHooks starts the hooks of cfg (with defaults): nil when none is on.
// Their answers are bounded by the node's own limits on names, room ids
// and token rooms.
func newHooks(cfg *Config, reg prometheus.Registerer) (*hooks.Client, error) {
	hc := cfg.Hooks
	if !hc.On() {
		return nil, nil
	}
	if hc.Connect.URL != "" && cfg.Auth == AuthRequired {
		// Every connection has a verified token, which names its user: the
		// connect hook would never be asked.
		return nil, errors.New("server: the connect hook identifies connections without a token; with -auth required every connection has one")
	}
	hc.Limits = hooks.Limits{UserIDBytes: cfg.MaxUserIDBytes, NameBytes: cfg.MaxUsernameBytes,
		RoomIDBytes: cfg.MaxRoomIDBytes, Rooms: cfg.AuthKeys.MaxRooms}
	hc.NodeID, hc.Logger = cfg.NodeID, cfg.Logger
	c, err := hooks.New(hc, reg)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return c, nil
}

// hookPeer captures, at the upgrade, what the connect hook is told of a
// connection without a verified token: its protocol, the client's address
// (as the trusted proxies resolve it), the URL's token when chatd verifies
// none itself (-auth off), and the configured request headers it sent. Nil
// without a connect hook: nothing is kept. The session drops it once the
// hook has answered.
func (h *handler) hookPeer(r *eventloop.Request, trust proxyTrust, class int) *chat.Peer {
	hk := h.hooks
	if !hk.ConnectOn() {
		return nil
	}
	p := &chat.Peer{Protocol: "v1"}
	if class == classV2 {
		p.Protocol = "v2"
	}
	if a := trust.clientAddr(r); a.IsValid() {
		p.Addr = a.String()
	}
	if !h.node.AuthOn() && r.RawQuery != "" {
		if q, err := url.ParseQuery(r.RawQuery); err == nil {
			p.Token = q.Get("token")
		}
	}
	for _, name := range hk.ConnectHeaders() {
		sep := ", "
		if name == "Cookie" {
			sep = "; " // RFC 6265 §5.4: one cookie-string
		}
		var v string
		for _, f := range r.Header {
			if strings.EqualFold(f.Name, name) {
				if v != "" {
					v += sep
				}
				v += f.Value
			}
		}
		if v != "" {
			if p.Headers == nil {
				p.Headers = make(map[string]string, len(hk.ConnectHeaders()))
			}
			p.Headers[name] = v
		}
	}
	return p
}
