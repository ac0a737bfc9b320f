package bench

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// loop is one client event loop: a goroutine that owns an epoll set and every connection
// registered in it. All connection state is touched only by the loop's goroutine; other goroutines
// talk to it by posting tasks (closures run on the loop, woken through an eventfd). A few loops
// hold tens of thousands of connections, each costing a small struct and its socket.
type loop struct {
	id   int
	sh   *runShared
	epfd int
	efd  int

	mu      sync.Mutex
	tasks   []func()
	pending atomic.Bool // tasks non-empty; saves an eventfd write per post under load

	conns   []*conn // by file descriptor
	open    int     // connections with a descriptor
	members []*conn // every member this loop ever dialed, kept for the final accounting
	setup   []*conn // connections with a connect/join or close deadline to watch
	heap    sendHeap

	rbuf []byte // shared read buffer: a connection keeps bytes only while a frame is partial
	wbuf []byte // frame being written
	pbuf []byte // payload being built
	free [][]byte
	rnd  rng

	st         Counters
	lat        *Hist // delivery latency, messages sent after the warmup
	echoLat    *Hist
	joinLat    *Hist // dial to roomJoined
	churnLat   *Hist // churn: dial to roomJoined
	ackLat     *Hist // v2: publish to its ok
	reconnLat  *Hist // recovery: dial to every room re-joined
	epochs     map[string]string
	errs       map[string]uint64
	closeCodes map[string]uint64

	settleArmed, startArmed bool
	stopping                bool
	frozen                  bool // accounting is over (after the drain); messages are ignored
	stopDeadline            int64
	lastScan                int64
	done                    chan struct{}
	fatal                   error
}

const (
	readBufSize   = 256 << 10
	scanEveryNs   = 50e6    // deadline scan period
	maxWaitMs     = 50      // epoll_wait timeout cap, so deadlines are seen
	maxOutbound   = 8 << 20 // bytes the server has not taken from one connection: it is stuck
	closeGraceNs  = 1e9     // how long a closing connection waits for the server's close frame
	maxErrorKinds = 32
)

func newLoop(id int, sh *runShared) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("loop %d: epoll_create1: %w", id, err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("loop %d: eventfd: %w", id, err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}); err != nil {
		unix.Close(epfd)
		unix.Close(efd)
		return nil, fmt.Errorf("loop %d: register eventfd: %w", id, err)
	}
	l := &loop{
		id: id, sh: sh, epfd: epfd, efd: efd,
		rbuf: make([]byte, readBufSize), wbuf: make([]byte, 0, 4096), pbuf: make([]byte, 0, 4096),
		rnd: rng{s: uint64(wallNow()) ^ uint64(id)<<56},
		lat: NewHist(), echoLat: NewHist(), joinLat: NewHist(), churnLat: NewHist(), ackLat: NewHist(), reconnLat: NewHist(),
		epochs: map[string]string{},
		errs:   map[string]uint64{}, closeCodes: map[string]uint64{},
		done: make(chan struct{}),
	}
	return l, nil
}

// post runs fn on the loop's goroutine.
func (l *loop) post(fn func()) {
	l.mu.Lock()
	l.tasks = append(l.tasks, fn)
	l.mu.Unlock()
	if !l.pending.Swap(true) {
		var one = [8]byte{1}
		unix.Write(l.efd, one[:])
	}
}

// sync runs fn on the loop and waits for it.
func (l *loop) sync(fn func()) {
	ch := make(chan struct{})
	l.post(func() { fn(); close(ch) })
	select {
	case <-ch:
	case <-l.done:
	}
}

func (l *loop) runTasks() {
	if !l.pending.Load() {
		return
	}
	var b [8]byte
	unix.Read(l.efd, b[:])
	l.pending.Store(false)
	l.mu.Lock()
	tasks := l.tasks
	l.tasks = nil
	l.mu.Unlock()
	for _, fn := range tasks {
		fn()
	}
}

// run is the loop's goroutine.
func (l *loop) run() {
	defer close(l.done)
	defer unix.Close(l.epfd)
	defer unix.Close(l.efd)
	events := make([]unix.EpollEvent, 512)
	for {
		n, err := unix.EpollWait(l.epfd, events, l.waitMs())
		if err != nil && err != unix.EINTR {
			l.fatal = fmt.Errorf("loop %d: epoll_wait: %w", l.id, err)
			l.closeAll()
			return
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd == l.efd {
				continue // tasks run below
			}
			if fd < len(l.conns) {
				if c := l.conns[fd]; c != nil {
					l.handleEvent(c, events[i].Events)
				}
			}
		}
		l.runTasks()
		now := wallNow()
		l.sendDue(now)
		if now-l.lastScan >= scanEveryNs {
			l.lastScan = now
			l.scanDeadlines(now)
		}
		if l.stopping && (l.open == 0 || now >= l.stopDeadline) {
			l.closeAll()
			return
		}
	}
}

// waitMs is the epoll_wait timeout: until the next send is due, at most maxWaitMs.
func (l *loop) waitMs() int {
	if l.pending.Load() {
		return 0
	}
	if l.heap.len() > 0 {
		d := l.heap.top().nextDue - wallNow()
		if d <= 0 {
			return 0
		}
		if ms := int((d + 999_999) / 1_000_000); ms < maxWaitMs {
			return ms
		}
	}
	return maxWaitMs
}

func (l *loop) handleEvent(c *conn, ev uint32) {
	if c.state == stConnecting {
		l.finishConnect(c)
		return
	}
	if ev&unix.EPOLLOUT != 0 && len(c.out) > 0 {
		if !l.flush(c) {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.readConn(c)
	}
}

// register adds fd to the epoll set and the fd table.
func (l *loop) register(c *conn, events uint32) error {
	for c.fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*conn, len(l.conns)+1024)...)
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: events, Fd: int32(c.fd)}); err != nil {
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	l.conns[c.fd] = c
	l.open++
	return nil
}

func (l *loop) setEvents(c *conn, events uint32) {
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: events, Fd: int32(c.fd)})
}

// closeFd releases a connection's descriptor and buffers; the conn struct itself stays with its
// counters for the final accounting.
func (l *loop) closeFd(c *conn) {
	if c.state >= stClosed {
		return
	}
	if c.fd >= 0 {
		l.conns[c.fd] = nil
		unix.Close(c.fd) // also removes it from the epoll set
		l.open--
		c.fd = -1
	}
	c.state = stClosed
	if c.churner {
		l.sh.churners.Done()
	}
	l.putBuf(c.in)
	c.in, c.out, c.frag, c.accept = nil, nil, nil, nil
	if c.heapIdx >= 0 {
		l.heap.remove(c)
	}
	if c.holdsToken {
		c.holdsToken = false
		<-l.sh.dialSem
	}
}

// closeAll closes every descriptor at once (the end of a run, or a fatal loop error).
func (l *loop) closeAll() {
	for _, c := range l.conns {
		if c != nil {
			l.closeFd(c)
		}
	}
}

func (l *loop) noteErr(reason string) {
	if _, ok := l.errs[reason]; ok || len(l.errs) < maxErrorKinds {
		l.errs[reason]++
	} else {
		l.errs["(other errors)"]++
	}
}

// getBuf and putBuf recycle the small buffers that hold partial frames, so a busy connection
// does not allocate one per read.
func (l *loop) getBuf() []byte {
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free = l.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, 4096)
}

func (l *loop) putBuf(b []byte) {
	if b != nil && cap(b) <= 64<<10 && len(l.free) < 256 {
		l.free = append(l.free, b[:0])
	}
}

// scanDeadlines fails connections that did not connect, upgrade or join in time, force-closes
// those whose close handshake did not finish, and (recovery) starts outages that waited too long
// for replies and reconnects members whose time away is over.
func (l *loop) scanDeadlines(now int64) {
	keep := l.setup[:0]
	var later []*conn // outages and reconnects re-enter l.setup: run them after the filter
	for _, c := range l.setup {
		switch {
		case c.state == stClosed || c.deadline == 0:
			continue
		case now < c.deadline:
			keep = append(keep, c)
		case c.state == stAway || c.wantAway:
			later = append(later, c)
		case c.state == stClosing:
			l.closeFd(c)
			l.closed(c)
		default:
			l.drop(c, "timeout: "+c.state.waitingFor())
		}
	}
	for i := len(keep); i < len(l.setup); i++ {
		l.setup[i] = nil
	}
	l.setup = keep
	for _, c := range later {
		// A member can be listed twice (its outage and its reconnect); act once per state.
		switch {
		case c.wantAway && c.state == stOpen:
			l.st.AwayUnanswered++
			l.doAway(c, now)
		case c.state == stAway && now >= c.deadline:
			if !l.reconnect(c, now) {
				l.setup = append(l.setup, c) // no dial slot free: try again at the next scan
			}
		}
	}
}

// sendHeap orders a loop's senders by the time their next message is due.
type sendHeap struct{ a []*conn }

func (h *sendHeap) len() int           { return len(h.a) }
func (h *sendHeap) top() *conn         { return h.a[0] }
func (h *sendHeap) less(i, j int) bool { return h.a[i].nextDue < h.a[j].nextDue }

func (h *sendHeap) swap(i, j int) {
	h.a[i], h.a[j] = h.a[j], h.a[i]
	h.a[i].heapIdx = i
	h.a[j].heapIdx = j
}

func (h *sendHeap) push(c *conn) {
	c.heapIdx = len(h.a)
	h.a = append(h.a, c)
	h.up(c.heapIdx)
}

func (h *sendHeap) remove(c *conn) {
	i := c.heapIdx
	last := len(h.a) - 1
	if i != last {
		h.swap(i, last)
	}
	h.a[last] = nil
	h.a = h.a[:last]
	c.heapIdx = -1
	if i != last {
		h.fix(i)
	}
}

func (h *sendHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *sendHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.swap(i, p)
		i = p
	}
}

func (h *sendHeap) down(i int) bool {
	start := i
	n := len(h.a)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
}
