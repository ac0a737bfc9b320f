package server

import (
	"net/netip"
	"strings"

	"github.com/chatd/chatd/eventloop"
)

// proxyTrust decides which address a request comes from, and which host it
// was sent to, when chatd runs behind reverse proxies (Config.TrustedProxies).
//
// Only a peer inside a trusted prefix may speak for the client. From any
// other peer the forwarding headers are ignored, whatever they say: they are
// the client's own words. The rules:
//
//   - X-Forwarded-For (every such header line, in order, as one list) is
//     walked from the right, skipping addresses of trusted proxies; the first
//     address that is not a trusted proxy is the client. Entries left of it
//     were written by the client and are never read. An entry that is not an
//     address ends the walk at the last good hop.
//   - Without X-Forwarded-For, X-Real-IP (one address) is the client.
//   - X-Forwarded-Host (its first value) replaces Host for the origin check.
//
// The PROXY protocol is not supported.
type proxyTrust []netip.Prefix

// trusts reports whether a is one of the trusted proxies.
func (t proxyTrust) trusts(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr parses the TCP peer of r ("ip:port"); the zero Addr if it cannot.
func peerAddr(r *eventloop.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// clientAddr returns the address of the client behind r: the peer itself,
// or, when the peer is a trusted proxy, the address it forwards.
func (t proxyTrust) clientAddr(r *eventloop.Request) netip.Addr {
	peer := peerAddr(r)
	if len(t) == 0 || !peer.IsValid() || !t.trusts(peer) {
		return peer
	}
	hop := peer
	sawXFF := false
	for i := len(r.Header) - 1; i >= 0; i-- {
		f := r.Header[i]
		if !strings.EqualFold(f.Name, "X-Forwarded-For") {
			continue
		}
		sawXFF = true
		for list := f.Value; list != ""; {
			var item string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				item, list = list[j+1:], list[:j]
			} else {
				item, list = list, ""
			}
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			a, ok := parseForwarded(item)
			if !ok {
				return hop
			}
			if !t.trusts(a) {
				return a
			}
			hop = a
		}
	}
	if sawXFF {
		return hop // every hop is a trusted proxy: the farthest one is all we know
	}
	if a, ok := parseForwarded(strings.TrimSpace(r.Get("X-Real-IP"))); ok {
		return a
	}
	return peer
}

// parseForwarded parses one forwarded address: "1.2.3.4", "2001:db8::1",
// and the forms with a port some proxies write ("1.2.3.4:5", "[2001:db8::1]:5").
func parseForwarded(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// host returns the host the client addressed: X-Forwarded-Host from a
// trusted proxy, else Host.
func (t proxyTrust) host(r *eventloop.Request) string {
	if len(t) == 0 {
		return r.Host
	}
	fh := r.Get("X-Forwarded-Host")
	if fh == "" {
		return r.Host
	}
	if p := peerAddr(r); !p.IsValid() || !t.trusts(p) {
		return r.Host
	}
	first, _, _ := strings.Cut(fh, ",")
	if first = strings.TrimSpace(first); first == "" {
		return r.Host
	}
	return first
}
