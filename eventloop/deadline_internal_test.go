package eventloop

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// ctxConn is a null gnet connection that carries its Conn, for OnClose.
type ctxConn struct {
	nullConn
	c *Conn
}

func (g *ctxConn) Context() any         { return g.c }
func (g *ctxConn) RemoteAddr() net.Addr { return nil }

// deadlineLoop is one loop of an engine that is never started.
func deadlineLoop() (*Engine, *loop) {
	e := &Engine{base: time.Now(), cfg: Config{MaxOutboundBytes: 1 << 20, Handler: nopHandler{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	l := newLoop(e, 0)
	e.loops = []*loop{l}
	return e, l
}

func openConn(l *loop) *Conn {
	g := &ctxConn{}
	c := &Conn{gc: g, loop: l, state: stateOpen}
	g.c = c
	l.addConn(c)
	l.stats.websockets.Add(1)
	return c
}

// TestDeadlineTable: the per-loop deadline map is the only state a
// deadline has; setting, replacing, clearing, expiring and closing keep the
// map, the Conn flag and the gauge in step, and nothing is left behind.
func TestDeadlineTable(t *testing.T) {
	e, l := deadlineLoop()
	check := func(step string, entries int) {
		t.Helper()
		if len(l.deadlines) != entries || l.stats.deadlines.Load() != int64(entries) {
			t.Fatalf("%s: %d entries, gauge %d; want %d", step, len(l.deadlines), l.stats.deadlines.Load(), entries)
		}
	}

	a, b := openConn(l), openConn(l)
	a.SetDeadline(time.Hour, CloseSessionTimeout, "no hello")
	first := l.deadlines[a].at
	a.SetDeadline(2*time.Hour, CloseSessionTimeout, "no hello") // replaces
	check("set twice", 1)
	if at := l.deadlines[a].at; at < first+int64(time.Hour) {
		t.Fatalf("the second SetDeadline did not replace the first: %d, first %d", at, first)
	}
	b.SetDeadline(time.Hour, ClosePolicy, "b")
	check("two conns", 2)
	b.ClearDeadline()
	b.ClearDeadline() // twice: a no-op
	check("cleared", 1)
	if b.deadline || !a.deadline {
		t.Fatal("flags out of step with the map")
	}

	at := l.deadlines[a].at
	l.expireDeadlines(at - 1)
	if a.state != stateOpen || l.stats.deadlineCloses.Load() != 0 {
		t.Fatal("closed before its deadline")
	}
	l.expireDeadlines(at)
	check("expired", 0)
	if a.state != stateClosing || a.closeCode != CloseSessionTimeout || l.stats.deadlineCloses.Load() != 1 {
		t.Fatalf("at the deadline: state %d code %d closes %d", a.state, a.closeCode, l.stats.deadlineCloses.Load())
	}
	if f := l.pend[a.pHead].b; len(f) < 4 || f[0] != 0x88 || CloseCode(binary.BigEndian.Uint16(f[2:4])) != CloseSessionTimeout ||
		string(f[4:]) != "no hello" {
		t.Fatalf("close frame %q", f)
	}
	if b.state != stateOpen {
		t.Fatal("a cleared deadline fired")
	}

	// Only open connections take a deadline; one that starts closing on
	// its own is forgotten at its deadline, not counted.
	hs := &Conn{loop: l, state: stateHandshake}
	hs.SetDeadline(0, CloseSessionTimeout, "")
	check("handshake", 0)
	c := openConn(l)
	c.SetDeadline(time.Millisecond, CloseSessionTimeout, "")
	c.Close(CloseNormal, "")
	l.expireDeadlines(l.deadlines[c].at)
	check("closing", 0)
	if l.stats.deadlineCloses.Load() != 1 || c.closeCode != CloseNormal {
		t.Fatal("a closing connection was closed again by its deadline")
	}

	// Closed before its deadline: the entry goes with the connection.
	d := openConn(l)
	d.SetDeadline(time.Hour, CloseSessionTimeout, "")
	check("before close", 1)
	e.OnClose(d.gc, nil)
	check("after close", 0)
	if d.deadline {
		t.Fatal("flag left set on a closed connection")
	}
	d.SetDeadline(time.Hour, CloseSessionTimeout, "") // closed: a no-op
	check("set after close", 0)
}

// TestDeadlineMapReleased: after a storm of connections with deadlines the
// loop's map is released once empty; a small map is kept.
func TestDeadlineMapReleased(t *testing.T) {
	_, l := deadlineLoop()
	conns := make([]*Conn, maxKeptDeadlines+1)
	for i := range conns {
		conns[i] = openConn(l)
		conns[i].SetDeadline(time.Hour, CloseSessionTimeout, "")
	}
	for _, c := range conns[1:] {
		c.ClearDeadline()
	}
	l.expireDeadlines(0)
	if l.deadlines == nil {
		t.Fatal("released while an entry is left")
	}
	conns[0].ClearDeadline()
	l.expireDeadlines(0)
	if l.deadlines != nil {
		t.Fatal("a map that held a storm's deadlines is kept once empty")
	}
	c := openConn(l)
	c.SetDeadline(time.Hour, CloseSessionTimeout, "")
	c.ClearDeadline()
	l.expireDeadlines(0)
	if l.deadlines == nil {
		t.Fatal("a small map is released (and would be made again per connection)")
	}
}
