package server

import (
	"net/netip"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/chat"
	"github.com/chatd/chatd/server/httpstream"
)

// The HTTP streaming carrier (server/httpstream), wired to the node: v2
// sessions over SSE and POSTs at DefaultStreamPath, as member class
// classStream, admitted by the node's origin policy and per-address limit
// like WebSocket upgrades.

func (s *Server) newStreamCarrier() *httpstream.Carrier {
	trust := proxyTrust(s.cfg.TrustedProxies)
	h := (*handler)(s)
	cfg := httpstream.Config{
		Node: s.node, Class: classStream,
		Heartbeat: s.cfg.PingInterval, ResumeWindow: s.cfg.StreamResume, RelayTimeout: s.cfg.BrokerTimeout,
		MaxBatch: s.cfg.StreamBatch, MaxMessageBytes: s.cfg.MaxMessageBytes,
		OriginAllowed: func(r *eventloop.Request) bool {
			if h.originAllowed(r.Get("Origin"), trust.host(r)) {
				return true
			}
			s.metrics.originRefusals.Inc()
			h.logRefusal(r, "origin not allowed")
			return false
		},
		ClientAddr: trust.clientAddr,
		// The connect hook sees a stream as a v2 client: its address, the
		// URL's token (-auth off), the configured headers of its GET.
		Peer:       func(r *eventloop.Request) *chat.Peer { return h.hookPeer(r, trust, classV2) },
		Registerer: s.metrics.reg, Logger: s.cfg.Logger,
	}
	if s.perIP != nil {
		cfg.AcquireAddr = func(a netip.Addr) (int32, bool) {
			slot, ok := s.perIP.acquire(a)
			if !ok {
				s.metrics.ipRefusals.Inc()
			}
			return slot, ok
		}
		cfg.ReleaseAddr = s.perIP.release
	}
	return httpstream.New(cfg)
}
