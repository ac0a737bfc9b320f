package chatdclient

import "sync"

// eventQueue holds the events the application has not received yet, in
// order. Data events (messages, joins, leaves, typing, errors) are refused
// past limit, which the connection handles as an overflow (it drops the
// connection and recovers later, so nothing is lost silently); control events
// (state changes, recovered, gap, room lost) always go in: a connection adds
// a bounded number of them before it waits for the queue to drain.
type eventQueue struct {
	mu       sync.Mutex
	ring     []Event
	head, n  int
	limit    int
	finished bool          // no event will be added: close the channel once empty
	signal   chan struct{} // (cap 1) events arrived, or finished
	low      chan struct{} // (cap 1) the queue fell to half its limit
}

func newEventQueue(limit int) *eventQueue {
	return &eventQueue{ring: make([]Event, 16), limit: limit, signal: make(chan struct{}, 1),
		low: make(chan struct{}, 1)}
}

// push appends ev; a data event (force false) is refused when limit events
// wait.
func (q *eventQueue) push(ev Event, force bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.finished || (!force && q.n >= q.limit) {
		return false
	}
	if q.n == len(q.ring) {
		grown := make([]Event, 2*len(q.ring))
		for i := 0; i < q.n; i++ {
			grown[i] = q.ring[(q.head+i)%len(q.ring)]
		}
		q.ring, q.head = grown, 0
	}
	q.ring[(q.head+q.n)%len(q.ring)] = ev
	q.n++
	notify(q.signal)
	return true
}

// full reports whether a data event would be refused now.
func (q *eventQueue) full() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n >= q.limit
}

// finish marks the end: the channel closes once the queued events are out.
func (q *eventQueue) finish() {
	q.mu.Lock()
	q.finished = true
	q.mu.Unlock()
	notify(q.signal)
}

// next takes the oldest event; done when finished and empty.
func (q *eventQueue) next() (ev Event, ok, done bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return nil, false, q.finished
	}
	ev = q.ring[q.head]
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	if q.n <= q.limit/2 {
		notify(q.low)
	}
	// A burst made the ring large: give the memory back once it is empty.
	if q.n == 0 && len(q.ring) > 4*max(q.limit, 16) {
		q.ring, q.head = make([]Event, 16), 0
	}
	return ev, true, false
}

// run hands the events to out, in order, until finished and empty or until
// stop closes; then it closes out.
func (q *eventQueue) run(out chan<- Event, stop <-chan struct{}) {
	defer close(out)
	for {
		ev, ok, done := q.next()
		if done {
			return
		}
		if !ok {
			select {
			case <-q.signal:
			case <-stop:
				return
			}
			continue
		}
		select {
		case out <- ev:
		case <-stop:
			return
		}
	}
}

// waitLow returns true once at most half the limit is queued, false if stop
// closes first.
func (q *eventQueue) waitLow(stop <-chan struct{}) bool {
	for {
		q.mu.Lock()
		n := q.n
		q.mu.Unlock()
		if n <= q.limit/2 {
			return true
		}
		select {
		case <-q.low:
		case <-stop:
			return false
		}
	}
}

// notify wakes the waiter of a capacity-1 channel without blocking.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
