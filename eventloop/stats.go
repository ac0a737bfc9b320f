package eventloop

import "sync/atomic"

// HandshakeFailure names why a connection never became a WebSocket.
type HandshakeFailure uint8

// Handshake failure reasons, for metrics.
const (
	HandshakeMalformed HandshakeFailure = iota // 400: not HTTP, or a bad upgrade request
	HandshakeVersion                           // 426: Sec-WebSocket-Version is not 13
	HandshakeTooLarge                          // 431: request head over MaxHeaderBytes
	HandshakeTimeout                           // no complete head within HandshakeTimeout
	HandshakeRefused                           // the handler refused it (origin, path)
	HandshakeFull                              // 503: MaxConns reached
	HandshakePerIP                             // 503: MaxPendingPerIP connections from the address in their handshake
	numHandshakeFailures
)

// String returns the reason's metric label.
func (f HandshakeFailure) String() string {
	return [...]string{"malformed", "version", "too_large", "timeout", "refused", "full", "pending_per_ip"}[f]
}

// loopStats are one loop's counters. Only the loop writes them; anyone may
// read them, hence atomics (uncontended: each loop has its own).
type loopStats struct {
	conns          atomic.Int64 // TCP connections on this loop now
	websockets     atomic.Int64 // of which are open WebSockets
	bytesIn        atomic.Int64
	bytesOut       atomic.Int64
	messagesIn     atomic.Int64
	framesOut      atomic.Int64
	deliveries     atomic.Int64 // frames queued to audience members by fan-outs
	writeCalls     atomic.Int64 // write/writev calls: framesOut/writeCalls is the coalescing ratio
	slowConsumers  atomic.Int64
	idleCloses     atomic.Int64
	protocolErrs   atomic.Int64
	pingAbuse      atomic.Int64
	deadlines      atomic.Int64 // connections with a deadline set now
	queued         atomic.Int64 // outbound bytes queued at the last measurement (budget.go)
	budgetCloses   atomic.Int64
	deadlineCloses atomic.Int64
	streams        atomic.Int64 // event streams open now (detached ones included)
	detached       atomic.Int64 // of which wait for a resume
	streamsOpened  atomic.Int64
	resumes        atomic.Int64
	streamsExpired atomic.Int64 // detached streams not resumed in time, or whose events were lost
	streamSlow     atomic.Int64 // streams among slowConsumers and budgetCloses
	replayBytes    atomic.Int64 // bytes retained for resumes, as of the last sweep
	_              [64]byte     // keep loops' counters off each other's cache lines
}

// Stats is a snapshot of the transport's counters.
type Stats struct {
	Conns             int64   // TCP connections now
	WebSockets        int64   // open WebSocket connections now
	Accepted          int64   // TCP connections accepted since start
	Upgraded          int64   // handshakes completed since start
	HTTPRequests      int64   // plain HTTP requests answered
	HandshakeFailures []int64 // by HandshakeFailure
	BytesIn           int64
	BytesOut          int64
	MessagesIn        int64
	FramesOut         int64
	Deliveries        int64 // fan-out frames queued to members (one per member)
	WriteCalls        int64
	SlowConsumers     int64   // connections (WebSockets and streams) closed with 4008 for their own queue over MaxOutboundBytes
	BudgetCloses      int64   // connections closed with 4008, largest queues first, to bring the node under MaxNodeOutboundBytes
	QueuedBytes       int64   // outbound bytes queued on the node, as last measured (every tick, and as queues grow)
	IdleCloses        int64   // connections closed for inactivity
	ProtocolErrors    int64   // connections failed for a protocol violation
	PingAbuseCloses   int64   // connections closed (1008) for sending pings over PingRate/PingBurst
	Deadlines         int64   // connections with a deadline set now (Conn.SetDeadline)
	DeadlineCloses    int64   // connections closed because their deadline passed
	PendingHandshakes int64   // handshakes in progress now, from peers MaxPendingPerIP applies to (what PendingPressure is compared with)
	Streams           int64   // event streams open now (Request.Stream), detached ones included
	DetachedStreams   int64   // streams whose TCP connection went away, waiting for a resume
	StreamsOpened     int64   // event streams opened since start
	StreamResumes     int64   // streams resumed on a new connection (Request.Resume)
	StreamsExpired    int64   // detached streams closed unresumed: past StreamResume, or their events no longer retained
	StreamSlow        int64   // streams among SlowConsumers and BudgetCloses
	StreamReplayBytes int64   // bytes of events retained for resumes, as of the last sweep
	LoopConns         []int64 // TCP connections per loop
}

// engineStats are counters touched outside the hot path.
type engineStats struct {
	accepted  atomic.Int64
	upgraded  atomic.Int64
	http      atomic.Int64
	hsFailure [numHandshakeFailures]atomic.Int64
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	s := Stats{
		Accepted:          e.stats.accepted.Load(),
		Upgraded:          e.stats.upgraded.Load(),
		HTTPRequests:      e.stats.http.Load(),
		HandshakeFailures: make([]int64, numHandshakeFailures),
		LoopConns:         make([]int64, len(e.loops)),
		PendingHandshakes: int64(e.pending.total.Load()),
	}
	for i := range e.stats.hsFailure {
		s.HandshakeFailures[i] = e.stats.hsFailure[i].Load()
	}
	for i, l := range e.loops {
		st := &l.stats
		s.LoopConns[i] = st.conns.Load()
		s.Conns += st.conns.Load()
		s.WebSockets += st.websockets.Load()
		s.BytesIn += st.bytesIn.Load()
		s.BytesOut += st.bytesOut.Load()
		s.MessagesIn += st.messagesIn.Load()
		s.FramesOut += st.framesOut.Load()
		s.Deliveries += st.deliveries.Load()
		s.WriteCalls += st.writeCalls.Load()
		s.SlowConsumers += st.slowConsumers.Load()
		s.IdleCloses += st.idleCloses.Load()
		s.ProtocolErrors += st.protocolErrs.Load()
		s.PingAbuseCloses += st.pingAbuse.Load()
		s.Deadlines += st.deadlines.Load()
		s.BudgetCloses += st.budgetCloses.Load()
		s.QueuedBytes += st.queued.Load()
		s.DeadlineCloses += st.deadlineCloses.Load()
		s.Streams += st.streams.Load()
		s.DetachedStreams += st.detached.Load()
		s.StreamsOpened += st.streamsOpened.Load()
		s.StreamResumes += st.resumes.Load()
		s.StreamsExpired += st.streamsExpired.Load()
		s.StreamSlow += st.streamSlow.Load()
		s.StreamReplayBytes += st.replayBytes.Load()
	}
	return s
}
