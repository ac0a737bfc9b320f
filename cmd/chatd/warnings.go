package main

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// configWarnings are settings that work but are risky in production; they
// are logged at start (as warnings, not errors, so that a development setup
// keeps working).
func configWarnings(o *options) []string {
	var w []string
	c := &o.cfg
	if len(c.AllowedOrigins) == 0 && !loopbackAddr(c.Addr) {
		w = append(w, fmt.Sprintf("-allowed-origins is empty and -addr %s is not a loopback address: "+
			"the same-host origin rule trusts the Host header, which DNS rebinding can forge; "+
			"set -allowed-origins to your site's origin (e.g. https://chat.example.com) in production", c.Addr))
	}
	for _, p := range c.TrustedProxies {
		if p.Bits() == 0 {
			w = append(w, fmt.Sprintf("-trusted-proxies contains %s: every peer is trusted, so any client "+
				"can choose the address it is limited and logged under", p))
		}
	}
	return w
}

// loopbackAddr reports whether a listen address accepts loopback
// connections only. An empty host or a name other than localhost is not
// (names are not resolved here).
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
