package eventloop

import "time"

// The outbound path. Frames written during a turn of the loop (one OnTraffic
// call, one mailbox drain, one timer sweep) are queued per connection and
// flushed at the end of the turn: one write(2) for a single frame, one
// writev(2) for several. A 160-byte write costs ~3.5 µs of CPU on loopback
// here and a batch of 16 ~0.5 µs per frame, so under load the syscalls, not
// the Go code, set the cost per delivery; batching is what brings it down.

// pendFrame is one queued frame; frames of a connection form a chain.
type pendFrame struct {
	b    []byte
	next int32 // next frame of the same connection, -1 at the end
}

// iovMax is the kernel's limit on iovecs per writev (UIO_MAXIOV).
const iovMax = 1024

// A loop's turn queues larger than maxKeptPending entries are released once
// no turn used more than an eighth of them for shrinkAfter.
const (
	maxKeptPending = 4096
	shrinkAfter    = 5 * time.Second
)

// maxTurnPending bounds the frames a loop holds in one turn: past it, the
// mailbox's drain writes them out between two tasks. High enough that a big
// room's frames still leave several per write under load (a 10,000-member
// room: six frames per member), low enough to bound a storm's memory (2 MiB).
const maxTurnPending = 1 << 16

// queue appends frame to c's pending chain.
func (l *loop) queue(c *Conn, frame []byte) {
	i := int32(len(l.pend))
	l.pend = append(l.pend, pendFrame{b: frame, next: -1})
	if c.dirty {
		l.pend[c.pTail].next = i
	} else {
		c.dirty = true
		c.pHead = i
		l.dirty = append(l.dirty, c)
	}
	c.pTail = i
	c.pBytes += int32(len(frame))
}

// flush writes every pending chain. A write error makes gnet close the
// connection at once (calling OnClose); the loop copes with that because it
// only reads l.dirty by index.
func (l *loop) flush() {
	var frames, calls, bytes int64
	for i := 0; i < len(l.dirty); i++ {
		c := l.dirty[i]
		c.dirty = false
		n := c.pBytes
		c.pBytes = 0
		if c.state == stateClosed || c.gc == nil { // gone, or a detached stream
			continue
		}
		bytes += int64(n)
		e := c.pHead
		if l.pend[e].next < 0 {
			_, _ = c.gc.Write(l.pend[e].b)
			frames++
			calls++
			continue
		}
		iov := l.iov[:0]
		for ; e >= 0; e = l.pend[e].next {
			iov = append(iov, l.pend[e].b)
			if len(iov) == iovMax {
				_, _ = c.gc.Writev(iov)
				frames += int64(len(iov))
				calls++
				iov = iov[:0]
				if c.state == stateClosed || c.gc == nil {
					break
				}
			}
		}
		if len(iov) > 0 && c.state != stateClosed && c.gc != nil {
			_, _ = c.gc.Writev(iov)
			frames += int64(len(iov))
			calls++
		}
		clear(iov)
		l.iov = iov[:0]
	}
	l.shrinkQueues()
	l.sinceMeasure += bytes
	if calls > 0 {
		l.stats.framesOut.Add(frames)
		l.stats.writeCalls.Add(calls)
		l.stats.bytesOut.Add(bytes)
	}
}

// endTurn flushes the queued frames, then drops the connections marked for
// abort (after their last frames, e.g. a 4008 close, had their chance).
func (l *loop) endTurn() {
	// Closing a connection runs Handler.Close, which may queue more frames
	// or aborts: repeat until both lists are empty.
	for len(l.dirty) > 0 || len(l.aborts) > 0 || len(l.stale) > 0 {
		if len(l.dirty) > 0 {
			l.flush()
			l.afterFlush() // may close connections: more frames and aborts
		}
		aborts := l.aborts
		l.aborts = nil
		for _, c := range aborts {
			if c == l.current {
				l.closeMe = true
				continue
			}
			switch {
			case c.state == stateClosed:
			case c.gc == nil:
				l.eng.gone(c) // a detached stream: no TCP connection to close
			default:
				_ = l.gl.Close(c.gc)
			}
		}
		clear(aborts)
		if l.aborts == nil {
			l.aborts = aborts[:0]
		}
		// Streams' former connections, replaced by a resume
		// (stream_resume.go): their close is ignored.
		for i, gc := range l.stale {
			_ = l.gl.Close(gc)
			l.stale[i] = nil
		}
		l.stale = l.stale[:0]
	}
	l.resetArena() // every queued pong is written (or its connection gone)
	l.resetIDs()   // ... and every event id
}

// shrinkQueues empties the turn's queues for the next turn, noting when a
// turn used much of a big queue (see shrinkIdle).
func (l *loop) shrinkQueues() {
	if cap(l.pend) > maxKeptPending && len(l.pend) > cap(l.pend)/8 {
		l.bigTurn = l.eng.now()
	}
	clear(l.pend)
	l.pend = l.pend[:0]
	clear(l.dirty)
	l.dirty = l.dirty[:0]
}

// shrinkIdle runs once per timer sweep. A burst (a join storm's notices, a
// big room's message) can grow a loop's queues to hundreds of thousands of
// entries: once no turn has used much of them for shrinkAfter, the big
// arrays go back to the allocator, so a loop keeps the memory of its
// ordinary turns, not of its largest one ever. Steady big turns keep
// theirs: no allocation on the hot path.
func (l *loop) shrinkIdle(now int64) {
	if cap(l.pend) > maxKeptPending && len(l.pend) == 0 && now-l.bigTurn > int64(shrinkAfter) {
		l.pend, l.dirty = nil, nil
	}
	l.mu.Lock()
	if cap(l.spare) > maxKeptPending && now-l.bigTurn > int64(shrinkAfter) {
		l.spare = nil // the mailbox's spare array, grown by the same bursts
	}
	l.mu.Unlock()
}
