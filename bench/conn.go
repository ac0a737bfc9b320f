package bench

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// conn is one client connection. It is deliberately small: buffers exist only while needed (a
// partial frame, an unfinished write, a fragmented message), and receive tracking is allocated
// on the first delivery.
type conn struct {
	fd      int
	state   connState
	churner bool

	// Member lifecycle flags. Each phase countdown is decremented at most once per member;
	// these flags remember whether it was.
	joinSent, joined, failed, dead, receiver bool
	settled, sendDone, finalsDone            bool
	holdsToken                               bool // holds a dial-concurrency slot
	wantOut                                  bool // EPOLLOUT registered

	// v2 (session_v2.go): the hello's ok came; rooms joined on this connection.
	helloDone   bool
	slotsJoined uint16
	// recovery (recovery.go): waiting for its publishes' replies before going away; away (no
	// connection); reconnecting and re-joining with since.
	wantAway, rejoining bool

	idx  int // global member index; churners: the cycle number
	room int // the room of slot 0
	pos  int
	tgt  *target
	src  *unix.SockaddrInet4

	dialNs   int64
	deadline int64 // connect, upgrade, join, close or reconnect deadline; 0: none
	awayNs   int64 // recovery: how long this member's outage lasts
	backNs   int64 // recovery: when it was back; sends due before are catch-up, not late

	accept []byte // expected Sec-WebSocket-Accept, during the upgrade only
	in     []byte // bytes of an incomplete response or frame
	frag   []byte // payload of a fragmented message being assembled
	out    []byte // bytes the socket has not taken yet

	sent       uint32
	planned    uint32
	answered   uint32 // v2: publishes answered (ok or error)
	nextDue    int64
	heapIdx    int
	finalsSeen uint32
	finalsNeed uint32
	s0         slot       // the member's room (v2: its first)
	more       []slot     // v2 -rooms-per-client K > 1: slots 1..K-1
	acks       *recvTrack // v2: replies to our publishes, by message seq (one "sender": ourselves)
}

// slot is a member's state in one of its rooms.
type slot struct {
	track    recvTrack     // what the member has seen from each sender of the room
	maxCount int64         // highest memberCount seen (roomJoined, userJoined; v2: join ok, joined)
	joined   bool          // v2: this connection's join of the room was answered ok
	off      *offsetLedger // v2 with server history (offsets.go); nil until the server gives one
}

// slot returns the member's slot j (0 <= j < K).
func (c *conn) slot(j int) *slot {
	if j == 0 {
		return &c.s0
	}
	return &c.more[j-1]
}

type connState uint8

const (
	stConnecting connState = iota
	stUpgrading
	stOpen
	stClosing
	stClosed
	stAway // recovery: the member dropped its connection on purpose and will come back
)

func (s connState) waitingFor() string {
	switch s {
	case stConnecting:
		return "TCP connect"
	case stUpgrading:
		return "upgrade response"
	case stOpen:
		return "roomJoined (v2: the replies to hello and join)"
	case stAway:
		return "reconnect"
	default:
		return "close"
	}
}

// finishConnect runs when a connecting socket becomes writable: connected or failed.
func (l *loop) finishConnect(c *conn) {
	soerr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soerr != 0 {
		err = unix.Errno(soerr)
	}
	if err != nil {
		l.drop(c, "connect: "+err.Error())
		return
	}
	c.state = stUpgrading
	key := newHandshakeKey(&l.rnd)
	c.accept = acceptFor(key)
	l.setEvents(c, unix.EPOLLIN)
	c.wantOut = false
	l.write(c, appendHandshakeRequest(l.wbuf[:0], c.tgt, key, l.sh.subprotocol))
}

// write sends b now if it can and keeps the rest for EPOLLOUT. It reports false when the
// connection is gone.
func (l *loop) write(c *conn, b []byte) bool {
	if c.state >= stClosed {
		return false
	}
	if len(c.out) > 0 {
		if len(c.out)+len(b) > maxOutbound {
			l.drop(c, "client outbound buffer over 8 MiB: server not reading")
			return false
		}
		c.out = append(c.out, b...)
		return true
	}
	n, err := unix.Write(c.fd, b)
	if err != nil {
		if !errors.Is(err, unix.EAGAIN) {
			l.drop(c, "write: "+err.Error())
			return false
		}
		n = 0
	}
	if n < len(b) {
		c.out = append(c.out, b[n:]...)
		c.wantOut = true
		l.setEvents(c, unix.EPOLLIN|unix.EPOLLOUT)
	}
	return true
}

// flush writes pending output when the socket is writable again.
func (l *loop) flush(c *conn) bool {
	n, err := unix.Write(c.fd, c.out)
	if err != nil {
		if errors.Is(err, unix.EAGAIN) {
			return true
		}
		l.drop(c, "write: "+err.Error())
		return false
	}
	c.out = c.out[n:]
	if len(c.out) == 0 {
		c.out = nil
		c.wantOut = false
		l.setEvents(c, unix.EPOLLIN)
	}
	return true
}

// readConn reads once (level-triggered epoll calls again if more is waiting) and consumes every
// complete frame; an incomplete tail is kept in c.in.
func (l *loop) readConn(c *conn) {
	n, err := unix.Read(c.fd, l.rbuf)
	if err != nil {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return
		}
		l.drop(c, "read: "+err.Error())
		return
	}
	if n == 0 {
		if c.state == stClosing {
			l.closeFd(c)
			l.closed(c)
			return
		}
		l.drop(c, "connection closed by server without close frame")
		return
	}
	now := wallNow()
	l.st.Reads++
	data := l.rbuf[:n]
	buffered := len(c.in) > 0
	if buffered {
		c.in = append(c.in, data...)
		data = c.in
	}
	used, ok := l.consume(c, data, now)
	if !ok || c.state >= stClosed {
		return
	}
	rest := data[used:]
	switch {
	case len(rest) == 0:
		l.putBuf(c.in)
		c.in = nil
	case buffered:
		c.in = c.in[:copy(c.in, rest)]
	default:
		c.in = append(l.getBuf(), rest...)
	}
}

// consume handles the upgrade response and then every complete frame in data, returning the
// bytes used. false: the connection was closed on the way.
func (l *loop) consume(c *conn, data []byte, now int64) (int, bool) {
	off := 0
	if c.state == stUpgrading {
		n, err := parseHandshakeResponse(data, c.accept, l.sh.subprotocol)
		if err != nil {
			l.drop(c, err.Error())
			return 0, false
		}
		if n == 0 {
			return 0, true
		}
		off = n
		l.upgraded(c)
	}
	for off < len(data) {
		f, n, err := parseFrame(data[off:])
		if err != nil {
			l.st.BadFrames++
			l.drop(c, err.Error())
			return off, false
		}
		if n == 0 {
			break
		}
		off += n
		if !l.onFrame(c, f, now) {
			return off, false
		}
	}
	return off, true
}

// onFrame handles one server frame; false when the connection ended.
func (l *loop) onFrame(c *conn, f frame, now int64) bool {
	switch f.op {
	case opPing:
		return l.write(c, appendFrame(l.wbuf[:0], opPong, f.payload, uint32(l.rnd.next())))
	case opPong:
		return true
	case opClose:
		code := closeCode(f.payload)
		l.closeCodes[fmt.Sprint(code)]++
		if c.state == stClosing {
			l.closeFd(c)
			l.closed(c)
			return false
		}
		var p [2]byte
		p[0], p[1] = byte(code>>8), byte(code)
		if code == 1005 {
			p[0], p[1] = 0x03, 0xE8 // 1000: a close without a code is answered with a normal close
		}
		l.write(c, appendFrame(l.wbuf[:0], opClose, p[:], uint32(l.rnd.next())))
		l.drop(c, fmt.Sprintf("closed by server with code %d", code))
		return false
	case opText, opBinary:
		if c.frag != nil {
			l.drop(c, "websocket: new message inside a fragmented one")
			return false
		}
		if !f.fin {
			c.frag = append(l.getBuf(), f.payload...)
			return true
		}
		l.onMessage(c, f.payload, now)
	case opContinuation:
		if c.frag == nil {
			l.drop(c, "websocket: continuation frame without a message")
			return false
		}
		c.frag = append(c.frag, f.payload...)
		if len(c.frag) > maxServerFrame {
			l.drop(c, "websocket: fragmented message over the size limit")
			return false
		}
		if f.fin {
			msg := c.frag
			c.frag = nil
			l.onMessage(c, msg, now)
			l.putBuf(msg)
		}
	default:
		l.drop(c, fmt.Sprintf("websocket: unknown opcode %d", f.op))
		return false
	}
	return c.state < stClosed
}

// startClose sends our close frame and waits (bounded) for the server's.
func (l *loop) startClose(c *conn, now int64) {
	if c.state >= stClosing {
		return
	}
	if c.state != stOpen {
		l.closeFd(c) // still connecting or upgrading: nothing to close politely
		return
	}
	c.state = stClosing
	if !l.write(c, appendFrame(l.wbuf[:0], opClose, []byte{0x03, 0xE8}, uint32(l.rnd.next()))) {
		return
	}
	c.deadline = now + closeGraceNs
	l.setup = append(l.setup, c)
}
