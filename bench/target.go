package bench

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// target is one server URL, resolved once up front so that dialing is a bare connect(2).
type target struct {
	raw  string
	host string // Host header: host[:port] as written in the URL
	path string // request path with query, "/" when the URL has none
	addr unix.SockaddrInet4
}

// parseTarget resolves a ws:// URL (IPv4 only; wss is not supported: TLS would dominate the
// cost we want to measure).
func parseTarget(raw string) (*target, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", raw, err)
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("url %q: scheme %q not supported (use ws://)", raw, u.Scheme)
	}
	host := u.Hostname()
	port := 80
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return nil, fmt.Errorf("url %q: bad port %q", raw, p)
		}
	}
	ip := net.ParseIP(host)
	if ip == nil {
		ips, err := net.LookupIP(host)
		if err != nil {
			return nil, fmt.Errorf("url %q: resolve %q: %w", raw, host, err)
		}
		for _, cand := range ips {
			if cand.To4() != nil {
				ip = cand
				break
			}
		}
	}
	if ip == nil || ip.To4() == nil {
		return nil, fmt.Errorf("url %q: no IPv4 address for %q", raw, host)
	}
	t := &target{raw: raw, host: u.Host, path: u.RequestURI()}
	if t.path == "" {
		t.path = "/"
	}
	copy(t.addr.Addr[:], ip.To4())
	t.addr.Port = port
	return t, nil
}

// parseSrc parses -src addresses (IPv4 literals) into bind addresses with port 0.
func parseSrc(list []string) ([]unix.SockaddrInet4, error) {
	var out []unix.SockaddrInet4
	for _, s := range list {
		ip := net.ParseIP(strings.TrimSpace(s))
		if ip == nil || ip.To4() == nil {
			return nil, fmt.Errorf("-src %q: not an IPv4 address", s)
		}
		var sa unix.SockaddrInet4
		copy(sa.Addr[:], ip.To4())
		out = append(out, sa)
	}
	return out, nil
}
