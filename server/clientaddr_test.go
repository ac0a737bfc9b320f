package server

import (
	"net/netip"
	"testing"

	"github.com/chatd/chatd/eventloop"
)

func req(peer string, hdr ...string) *eventloop.Request {
	r := &eventloop.Request{RemoteAddr: peer, Host: "backend:8080"}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header = append(r.Header, eventloop.HeaderField{Name: hdr[i], Value: hdr[i+1]})
	}
	return r
}

func TestClientAddr(t *testing.T) {
	trust := proxyTrust{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name  string
		trust proxyTrust
		r     *eventloop.Request
		want  string
	}{
		{"no trust: peer", nil, req("10.0.0.1:5", "X-Forwarded-For", "1.2.3.4"), "10.0.0.1"},
		{"untrusted peer: headers ignored", trust, req("192.0.2.9:5", "X-Forwarded-For", "1.2.3.4", "X-Real-IP", "5.6.7.8"), "192.0.2.9"},
		{"trusted peer, no headers", trust, req("10.0.0.1:5"), "10.0.0.1"},
		{"trusted peer: XFF", trust, req("10.0.0.1:5", "X-Forwarded-For", "1.2.3.4"), "1.2.3.4"},
		{"rightmost untrusted hop, not the client's spoof", trust,
			req("10.0.0.1:5", "X-Forwarded-For", "6.6.6.6, 1.2.3.4, 10.0.0.7"), "1.2.3.4"},
		{"several XFF lines are one list", trust,
			req("10.0.0.1:5", "X-Forwarded-For", "6.6.6.6", "x-forwarded-for", "1.2.3.4,10.0.0.2"), "1.2.3.4"},
		{"all hops trusted: the farthest", trust, req("10.0.0.1:5", "X-Forwarded-For", "10.1.1.1, 10.0.0.2"), "10.1.1.1"},
		{"garbage ends the walk at the last good hop", trust,
			req("10.0.0.1:5", "X-Forwarded-For", "1.2.3.4, unknown, 10.0.0.3"), "10.0.0.3"},
		{"garbage at once: the peer", trust, req("10.0.0.1:5", "X-Forwarded-For", "nonsense"), "10.0.0.1"},
		{"empty items skipped", trust, req("10.0.0.1:5", "X-Forwarded-For", " , 1.2.3.4 ,"), "1.2.3.4"},
		{"addresses with ports", trust, req("10.0.0.1:5", "X-Forwarded-For", "[2001:db8::1]:443"), "2001:db8::1"},
		{"IPv4-mapped IPv6 unmapped", trust, req("[::ffff:10.0.0.1]:5", "X-Forwarded-For", "::ffff:1.2.3.4"), "1.2.3.4"},
		{"IPv6 proxy", trust, req("[fd00::1]:5", "X-Forwarded-For", "2001:db8::2"), "2001:db8::2"},
		{"X-Real-IP without XFF", trust, req("10.0.0.1:5", "X-Real-IP", "1.2.3.4"), "1.2.3.4"},
		{"XFF wins over X-Real-IP", trust, req("10.0.0.1:5", "X-Real-IP", "5.6.7.8", "X-Forwarded-For", "1.2.3.4"), "1.2.3.4"},
		{"bad X-Real-IP: the peer", trust, req("10.0.0.1:5", "X-Real-IP", "localhost"), "10.0.0.1"},
		{"unparsable peer", trust, req("@", "X-Forwarded-For", "1.2.3.4"), "invalid IP"},
	} {
		if got := tc.trust.clientAddr(tc.r).String(); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestForwardedHost(t *testing.T) {
	trust := proxyTrust{netip.MustParsePrefix("127.0.0.0/8")}
	for _, tc := range []struct {
		name  string
		trust proxyTrust
		r     *eventloop.Request
		want  string
	}{
		{"no trust", nil, req("127.0.0.1:5", "X-Forwarded-Host", "chat.example.com"), "backend:8080"},
		{"untrusted peer", trust, req("192.0.2.1:5", "X-Forwarded-Host", "chat.example.com"), "backend:8080"},
		{"trusted peer", trust, req("127.0.0.1:5", "X-Forwarded-Host", "chat.example.com"), "chat.example.com"},
		{"first of a list", trust, req("127.0.0.1:5", "X-Forwarded-Host", "chat.example.com:443, inner"), "chat.example.com:443"},
		{"empty value", trust, req("127.0.0.1:5", "X-Forwarded-Host", " , x"), "backend:8080"},
		{"absent", trust, req("127.0.0.1:5"), "backend:8080"},
	} {
		if got := tc.trust.host(tc.r); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
