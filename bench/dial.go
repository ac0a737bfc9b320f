package bench

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// dial starts a non-blocking connect for c; the loop finishes it when the socket turns writable.
//
// With -src, the socket is bound to a chosen local address first. IP_BIND_ADDRESS_NO_PORT makes
// the kernel defer the port choice to connect(2), where it may reuse a port for a different
// destination; without it bind(2) must reserve a port for every possible destination, which is
// slow and runs out near 28k connections per source address (the ephemeral port range; README, Tuning a host).
func (l *loop) dial(c *conn) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if c.src != nil {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			unix.Close(fd)
			return fmt.Errorf("setsockopt IP_BIND_ADDRESS_NO_PORT: %w", err)
		}
		src := *c.src // Sockaddr methods write into the value: each call needs its own copy
		if err := unix.Bind(fd, &src); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind %d.%d.%d.%d: %w", src.Addr[0], src.Addr[1], src.Addr[2], src.Addr[3], err)
		}
	}
	// Messages are small and latency is what we measure: never let Nagle hold one back.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		unix.Close(fd)
		return fmt.Errorf("setsockopt TCP_NODELAY: %w", err)
	}
	dst := c.tgt.addr
	if err := unix.Connect(fd, &dst); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return fmt.Errorf("connect %s: %w", c.tgt.raw, err)
	}
	c.fd = fd
	if err := l.register(c, unix.EPOLLIN|unix.EPOLLOUT); err != nil {
		unix.Close(fd)
		c.fd = -1
		return err
	}
	c.wantOut = true
	c.deadline = c.dialNs + int64(l.sh.cfg.ConnectTimeout)
	l.setup = append(l.setup, c)
	return nil
}
