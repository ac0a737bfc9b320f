package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// testLoopConn returns a loop (not running: the test drives it) and an open receiving member
// connected to the returned peer socket.
func testLoopConn(t *testing.T) (*loop, *conn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	cfg, _ := Preset("fanout")
	sh := &runShared{cfg: cfg, lay: layout{members: 4, rooms: 1, urls: 1}, dialSem: make(chan struct{}, 1),
		finalCD: newCountdown(1), sendCD: newCountdown(1), joinCD: newCountdown(1)}
	l, err := newLoop(0, sh)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.closeAll(); unix.Close(l.epfd); unix.Close(l.efd) })
	c := &conn{fd: fds[0], state: stOpen, joined: true, receiver: true, heapIdx: -1, finalsNeed: 1 << 30}
	if err := l.register(c, unix.EPOLLIN); err != nil {
		t.Fatal(err)
	}
	l.startArmed = true
	return l, c, fds[1]
}

func TestReadPathSplitFramesAndPings(t *testing.T) {
	l, c, peer := testLoopConn(t)
	var stream []byte
	for q := 0; q < 100; q++ {
		msg := fmt.Sprintf(`{"type":"message","content":"%s","username":"u1","userId":"x"}`,
			appendContent(nil, 1+q%3, uint32(q/3), 1, false, 10+q))
		stream = append(stream, serverFrame(true, opText, []byte(msg))...)
		if q == 50 {
			stream = append(stream, serverFrame(true, opPing, []byte("hello"))...)
			// A message split into three fragments, with a ping between them.
			body := []byte(`{"type":"userJoined","username":"z","memberCount":4}`)
			stream = append(stream, serverFrame(false, opText, body[:10])...)
			stream = append(stream, serverFrame(true, opPing, nil)...)
			stream = append(stream, serverFrame(false, opContinuation, body[10:20])...)
			stream = append(stream, serverFrame(true, opContinuation, body[20:])...)
		}
	}
	// Feed it in uneven pieces: single bytes, odd sizes, and big chunks holding many frames.
	sizes := []int{1, 1, 2, 7, 13, 1, 300, 5, 1000, 3}
	for off, i := 0, 0; off < len(stream); i++ {
		n := min(sizes[i%len(sizes)], len(stream)-off)
		if _, err := unix.Write(peer, stream[off:off+n]); err != nil {
			t.Fatal(err)
		}
		off += n
		l.readConn(c)
		if c.state == stClosed {
			t.Fatalf("connection closed at offset %d: %v", off, l.errs)
		}
	}
	if l.st.Delivered != 100 || l.st.Duplicated != 0 || l.st.OutOfOrder != 0 || l.st.UserJoined != 1 || c.s0.maxCount != 4 {
		t.Fatalf("delivered %d dup %d ooo %d userJoined %d maxCount %d", l.st.Delivered, l.st.Duplicated, l.st.OutOfOrder, l.st.UserJoined, c.s0.maxCount)
	}
	if c.in != nil || c.frag != nil {
		t.Fatalf("buffers kept after the last complete frame: in %d frag %d", len(c.in), len(c.frag))
	}
	// Two pongs came back, masked, echoing the ping payloads.
	buf := make([]byte, 256)
	n, err := unix.Read(peer, buf)
	if err != nil {
		t.Fatal(err)
	}
	got := buf[:n]
	for _, want := range []string{"hello", ""} {
		if len(got) < 6 || got[0] != 0x80|opPong || got[1]&0x80 == 0 || int(got[1]&0x7F) != len(want) {
			t.Fatalf("not a masked pong for %q: % x", want, got)
		}
		var k [4]byte
		copy(k[:], got[2:6])
		p := append([]byte(nil), got[6:6+len(want)]...)
		maskBytes(p, k)
		if string(p) != want {
			t.Fatalf("pong payload %q, want %q", p, want)
		}
		got = got[6+len(want):]
	}
}

func TestReadPathServerClose(t *testing.T) {
	l, c, peer := testLoopConn(t)
	c.joined = true
	close := serverFrame(true, opClose, binary.BigEndian.AppendUint16(nil, 4008))
	if _, err := unix.Write(peer, close); err != nil {
		t.Fatal(err)
	}
	l.readConn(c)
	if c.state != stClosed || !c.dead || l.st.Disconnects != 1 || l.closeCodes["4008"] != 1 {
		t.Fatalf("state %d dead %v disconnects %d codes %v", c.state, c.dead, l.st.Disconnects, l.closeCodes)
	}
	// We answered with a masked close carrying the same code.
	buf := make([]byte, 64)
	n, _ := unix.Read(peer, buf)
	if n != 8 || buf[0] != 0x80|opClose || buf[1] != 0x80|2 {
		t.Fatalf("close reply % x", buf[:n])
	}
	var k [4]byte
	copy(k[:], buf[2:6])
	p := append([]byte(nil), buf[6:8]...)
	maskBytes(p, k)
	if !bytes.Equal(p, []byte{0x0F, 0xA8}) {
		t.Fatalf("close reply code % x", p)
	}
}
