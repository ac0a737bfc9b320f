package chatdclient

// track is where a client stands in one room's history: the epoch, and the
// offsets it has had. Stored messages are numbered 1, 2, 3, … with no hole;
// the client gets others' messages as pushes and learns its own from
// publish replies, which may come in either order (a push of offset 8 can
// come before the reply that says our message is 7). last is the highest
// offset with nothing missing below it (the `since` of a recovery: nothing
// after it can be skipped); ahead holds the offsets had above a hole.
type track struct {
	epoch string
	last  uint64
	ahead map[uint64]struct{}
}

// at resets the track to a position.
func (t *track) at(epoch string, last uint64) {
	t.epoch, t.last = epoch, last
	clear(t.ahead)
}

// has reports whether offset o was had already (a duplicate).
func (t *track) has(o uint64) bool {
	if o <= t.last {
		return true
	}
	_, ok := t.ahead[o]
	return ok
}

// mark records offset o as had.
func (t *track) mark(o uint64) {
	switch {
	case o <= t.last:
	case o == t.last+1:
		t.last = o
		for len(t.ahead) > 0 {
			if _, ok := t.ahead[t.last+1]; !ok {
				break
			}
			delete(t.ahead, t.last+1)
			t.last++
		}
	default:
		if t.ahead == nil {
			t.ahead = make(map[uint64]struct{})
		}
		t.ahead[o] = struct{}{}
	}
}

// hole reports whether an offset below one had is missing.
func (t *track) hole() bool { return len(t.ahead) > 0 }

// position is the since of a recovery.
func (t *track) position() Position { return Position{Epoch: t.epoch, Offset: t.last} }
