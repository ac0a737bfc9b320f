package eventloop

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// File descriptors are the hard ceiling of a connection server, and gnet
// makes running out of them fatal: when accept(2) fails with EMFILE its
// acceptor stops the whole engine, every connection with it. So the engine
// never lets connections use the last descriptors: past MaxTCPConns a new
// socket is answered 503 and closed at once. The default leaves room for a
// full listen backlog (accepted in one burst before any of them reaches
// OnOpen) plus the process's own files (Redis connections, epoll, logs).

// fdReserve is kept for the process's own files beside the backlog.
const fdReserve = 256

// defaultMaxTCPConns derives the connection cap from the file limit: the
// soft RLIMIT_NOFILE (Go raises it to the hard limit at start) minus the
// listen backlog (net.core.somaxconn) minus fdReserve, and at least a
// quarter of the limit.
func defaultMaxTCPConns() (max int, limit uint64) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return 0, 0
	}
	return maxTCPConnsFor(rl.Cur, somaxconn()), rl.Cur
}

// maxTCPConnsFor is the cap for a file limit and a listen backlog.
func maxTCPConnsFor(limit uint64, backlog int) int {
	n := int64(limit) - int64(backlog) - fdReserve
	return int(max(n, int64(limit/4)))
}

// somaxconn reads the kernel's listen backlog cap (gnet listens with it).
func somaxconn() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 4096
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 4096
	}
	return n
}
