package eventloop

import (
	"net"
	"strconv"
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
//     group). One case is beyond reach: a later server of the same user
//     that sets SO_REUSEPORT itself (chatd -reuseport) joins an exclusive
//     server's port, since the kernel cannot tell the two apart.
//   - Port 0. gnet binds each loop's listener from the address string, so
//     ":0" would give every loop a different port. The probe picks one port
//     and all listeners bind it.
//
// The probe is closed before gnet binds: another process could take the
// port in between (microseconds), and gnet's bind would then fail with an
// error Start reports.

// listenAddr checks addr and returns it with a concrete port.
func listenAddr(addr string, shared bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if shared && port != "0" {
		return addr, nil // joining (or founding) a shared port is the point
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	p := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}
