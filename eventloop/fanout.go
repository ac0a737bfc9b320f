package eventloop

// Fan-out: one pre-encoded frame to many connections, with one task per
// event loop rather than one per connection. The set of recipients is
// resolved on each loop at delivery time, by the loop that owns them, so a
// registry whose per-loop member lists are only changed on their own loop
// needs no lock on the delivery path.

// Audience is a set of connections spread over the event loops.
type Audience interface {
	// HasMembers reports whether loop i may have members. Called from any
	// goroutine; a false positive only costs an empty task.
	HasMembers(i int) bool
	// Members returns the members on loop i. Called on loop i only.
	Members(i int) []*Conn
}

// Fanout writes frame to every member of a except exclude (which may be nil).
// It is safe from any goroutine. Frames fanned out from one goroutine reach
// every connection in the order of the calls; callers that fan out to one
// audience from several goroutines and need one order for all members must
// serialize their calls. frame must not be modified afterwards.
func (e *Engine) Fanout(frame []byte, a Audience, exclude *Conn) {
	for i, l := range e.loops {
		if l.bound.Load() && a.HasMembers(i) {
			l.post(task{frame: frame, aud: a, exclude: exclude})
		}
	}
}

// ConnSet is a fixed Audience built from a list of connections, grouped by
// loop once so that repeated fan-outs to it cost nothing per member.
type ConnSet struct{ byLoop [][]*Conn }

// NewConnSet groups conns by event loop.
func (e *Engine) NewConnSet(conns []*Conn) *ConnSet {
	s := &ConnSet{byLoop: make([][]*Conn, len(e.loops))}
	for _, c := range conns {
		s.byLoop[c.loop.idx] = append(s.byLoop[c.loop.idx], c)
	}
	return s
}

// HasMembers implements Audience.
func (s *ConnSet) HasMembers(i int) bool { return len(s.byLoop[i]) > 0 }

// Members implements Audience.
func (s *ConnSet) Members(i int) []*Conn { return s.byLoop[i] }
