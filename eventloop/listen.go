package eventloop

import (
	"context"
	"net"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// gnet always runs with one SO_REUSEPORT listener per event loop, because
// that is the mode in which every accepted socket reaches OnOpen at once and
// the TCP cap can keep gnet from ever hitting EMFILE (see fdlimit.go). Two
// things the plain mode gave for free are restored here, before gnet binds:
//
//   - Exclusivity. Without Config.ReusePort a server must fail with
//     "address already in use" on a port something listens on, not silently
//     share it. A probe listener without SO_REUSEPORT fails exactly when
//     something already listens there (a plain listener or a SO_REUSEPORT
//     group). Two cases are beyond reach: a later server of the same user
//     that sets SO_REUSEPORT itself (chatd -reuseport) joins an exclusive
//     server's port, since the kernel cannot tell the two apart; and two
//     exclusive servers started on one fixed port in the same microseconds
//     (between one's probe and its bind) could both succeed.
//   - Port 0. gnet binds each loop's listener from the address string, so
//     ":0" would give every loop a different port. The kernel picks one
//     port for a reservation socket (SO_REUSEPORT, so that gnet's listeners
//     can join it) and all listeners bind that port. The reservation stays
//     open until they all listen: closed earlier, the port would be free for
//     a moment, and another server picking a port then could get the same
//     one and, with SO_REUSEPORT on both, silently share it (tests starting
//     engines in parallel did). Nobody knows the port before Start returns,
//     so no client connects to the reservation itself.

// listenAddr checks addr and returns it with a concrete port, and a function
// to call once gnet's listeners are all bound.
func listenAddr(addr string, shared bool) (string, func(), error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, err
	}
	if port == "0" {
		lc := net.ListenConfig{Control: setReusePort}
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			return "", nil, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		return net.JoinHostPort(host, strconv.Itoa(p)), func() { _ = ln.Close() }, nil
	}
	if !shared {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", nil, err
		}
		if err := ln.Close(); err != nil {
			return "", nil, err
		}
	}
	return addr, func() {}, nil
}

// setReusePort sets SO_REUSEPORT on a socket before it binds.
func setReusePort(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
