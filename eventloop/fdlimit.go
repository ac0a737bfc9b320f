package eventloop

import (
	"golang.org/x/sys/unix"
)

// File descriptors are the hard ceiling of a connection server, and gnet
// makes running out of them fatal: when accept(2) fails with EMFILE its
// acceptor stops the whole engine, every connection with it. So the engine
// never lets connections use the last descriptors: past MaxTCPConns a new
// socket is answered 503 and closed at once, in OnOpen.
//
// That only works if OnOpen sees each socket soon after accept(2) made it.
// gnet v2 accepts in one of two ways:
//
//   - one listener watched by a main reactor, which accepts in a loop until
//     the queue is empty (EAGAIN) and hands each socket to a loop's task
//     queue; OnOpen runs later, on that loop. How many sockets exist before
//     any of them reaches OnOpen is bounded only by how fast clients arrive
//     while the loops catch up: a listen backlog (4,096) or more.
//   - with SO_REUSEPORT, one listener per loop, watched by that loop
//     (level-triggered): each readiness event accepts ONE socket, registers
//     it and runs OnOpen at once, which closes it there and then if the cap
//     is reached. At most one socket per loop exists that OnOpen has not
//     counted.
//
// The engine always runs the second way (listen.go keeps a port exclusive
// unless Config.ReusePort asks to share it), so the descriptors in use are
// at most MaxTCPConns + one per loop + the process's own. The default cap
// therefore keeps only a small reserve instead of a whole listen backlog:
// with 20,000 files and 2 loops it is 20,000 − 256 − 2×4 = 19,736 (98.7 %).
// Connections still queued in the kernel's listen backlog hold no
// descriptor of ours, so the backlog needs no reserve.

// fdReserve is kept for the process's own files: stdio, Go's netpoller,
// Redis connections (go-redis opens up to 10 per GOMAXPROCS, on demand), the
// admin listener, files read for /metrics.
const fdReserve = 256

// fdPerLoop is kept per event loop: its listener, its epoll and eventfd
// descriptors, and the one accepted socket OnOpen may be about to refuse.
const fdPerLoop = 4

// defaultMaxTCPConns derives the connection cap from the file limit (the
// soft RLIMIT_NOFILE, which Go raises to the hard limit at start) for an
// engine with loops event loops. limit is 0 when there is no limit.
func defaultMaxTCPConns(loops int) (max int, limit uint64) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return 0, 0
	}
	return maxTCPConnsFor(rl.Cur, loops), rl.Cur
}

// maxTCPConnsFor is the cap for a file limit: the limit minus the reserves,
// and at least a quarter of the limit (a limit this low gets a warning).
func maxTCPConnsFor(limit uint64, loops int) int {
	n := int64(limit) - fdReserve - int64(fdPerLoop*loops)
	return int(max(n, int64(limit/4)))
}
