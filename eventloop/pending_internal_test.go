package eventloop

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/panjf2000/gnet/v2"
)

// addrConn is a gnet connection that only knows its peer's address.
type addrConn struct {
	gnet.Conn
	addr net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.addr }

func TestPendingTable(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.7")
	other := netip.MustParseAddr("192.0.2.8")
	for _, tc := range []struct {
		ip   net.IP
		want netip.Addr
	}{
		{net.ParseIP("192.0.2.7"), v4}, // net.ParseIP gives 16 bytes
		{net.ParseIP("192.0.2.7").To4(), v4},
		{net.ParseIP("::ffff:192.0.2.7"), v4},
		{net.ParseIP("2001:db8::1"), netip.MustParseAddr("2001:db8::1")},
	} {
		if got, ok := peerIP(addrConn{addr: &net.TCPAddr{IP: tc.ip, Port: 1}}); !ok || got != tc.want {
			t.Errorf("peerIP(%v) = %v %v, want %v", tc.ip, got, ok, tc.want)
		}
	}
	if _, ok := peerIP(addrConn{}); ok {
		t.Error("peerIP of a gone connection")
	}

	p := newPendingTable(2, -1, unmapPrefixes([]netip.Prefix{netip.MustParsePrefix("::ffff:198.51.100.0/120")}))
	for i, want := range []bool{true, true, false, false} {
		if counted, ok := p.acquire(v4); ok != want || counted != want {
			t.Fatalf("acquire #%d = %v %v, want %v", i+1, counted, ok, want)
		}
	}
	if counted, ok := p.acquire(other); !ok || !counted {
		t.Fatal("another address is refused")
	}
	for range 10 {
		if counted, ok := p.acquire(netip.MustParseAddr("198.51.100.9")); !ok || counted {
			t.Fatal("an exempt address (mapped prefix) is limited")
		}
	}
	p.release(v4)
	if _, ok := p.acquire(v4); !ok {
		t.Fatal("a released slot is not free")
	}
	p.release(v4)
	p.release(v4)
	p.release(other)
	for i := range p.shards {
		if n := len(p.shards[i].n); n != 0 {
			t.Fatalf("shard %d keeps %d entries after every release", i, n)
		}
	}
	if counted, ok := newPendingTable(-1, -1, nil).acquire(v4); !ok || counted {
		t.Fatal("no limit: limited")
	}
}

func TestUnmapPrefixes(t *testing.T) {
	got := unmapPrefixes([]netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104"),
		netip.MustParsePrefix("10.1.2.3/16"), {}, netip.MustParsePrefix("2001:db8::/32")})
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("2001:db8::/32")}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestPendingPressure: the per-address bound applies only once the node
// has PendingPressure connections pending; below it an address may start
// any number, and what it holds counts when the bound engages.
func TestPendingPressure(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	p := newPendingTable(1, 3, nil)
	type step struct {
		op   string // "+" acquire, "-" release
		addr netip.Addr
		ok   bool // acquire's answer
	}
	for i, s := range []step{
		{"+", a, true}, {"+", a, true}, {"+", a, true}, // idle: a starts 3, over its bound of 1
		{"+", a, false},                 // 3 pending: under pressure, a is over its bound
		{"+", b, true},                  // b is under its bound
		{"+", b, false},                 // and now at it
		{"-", a, true}, {"+", a, false}, // 3 pending: still under pressure
		{"-", a, true}, {"-", b, true}, {"+", a, true}, // 1 pending: below the threshold again
		{"+", b, true}, {"+", b, false},
	} {
		if s.op == "-" {
			p.release(s.addr)
			continue
		}
		if counted, ok := p.acquire(s.addr); ok != s.ok || counted != s.ok {
			t.Fatalf("step %d: acquire(%v) = %v %v, want %v (total %d)", i, s.addr, counted, ok, s.ok, p.total.Load())
		}
	}
	if n := p.total.Load(); n != 3 {
		t.Fatalf("total = %d, want 3", n)
	}
}
