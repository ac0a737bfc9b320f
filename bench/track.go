package bench

// recvTrack is one receiver's memory of what it has seen from each sender of its room, enough to
// classify every arrival exactly:
//   - fresh: first arrival of a sequence number;
//   - late: first arrival of a number below one already seen (out of order: a higher number from
//     the same sender arrived before it);
//   - duplicate: a number already seen.
//
// Per sender it keeps next (highest seen + 1) and, only for senders whose stream has holes, the
// list of missing ranges below next. With an ordered, lossless server that is four bytes per
// sender and no allocation after the first message.
type recvTrack struct {
	dense  []uint32            // next, indexed by the sender's position in the room
	sparse map[uint32]uint32   // next, for rooms too big for a dense slice per receiver
	holes  map[uint32][]seqGap // missing ranges per sender position; nil while no holes
}

// seqGap is a half-open range [lo, hi) of sequence numbers not yet seen.
type seqGap struct{ lo, hi uint32 }

type arrival uint8

const (
	arrivalFresh arrival = iota
	arrivalLate
	arrivalDuplicate
)

// denseTrackLimit: above this room size a receiver tracks senders in a map, since only a few of
// a huge room's members send in any run (bigroom spreads a small total rate).
const denseTrackLimit = 4096

func (t *recvTrack) getNext(pos uint32, roomSize int) uint32 {
	if roomSize <= denseTrackLimit {
		if t.dense == nil {
			t.dense = make([]uint32, roomSize)
		}
		return t.dense[pos]
	}
	if t.sparse == nil {
		t.sparse = make(map[uint32]uint32)
	}
	return t.sparse[pos]
}

func (t *recvTrack) setNext(pos uint32, roomSize int, v uint32) {
	if roomSize <= denseTrackLimit {
		t.dense[pos] = v
		return
	}
	t.sparse[pos] = v
}

// observe classifies the arrival of seq from the sender at position pos of a room of roomSize.
func (t *recvTrack) observe(pos uint32, roomSize int, seq uint32) arrival {
	next := t.getNext(pos, roomSize)
	switch {
	case seq == next:
		t.setNext(pos, roomSize, seq+1)
		return arrivalFresh
	case seq > next:
		// Everything between next and seq is now missing; ranges are appended in order, so
		// each sender's hole list stays sorted.
		if t.holes == nil {
			t.holes = make(map[uint32][]seqGap)
		}
		t.holes[pos] = append(t.holes[pos], seqGap{next, seq})
		t.setNext(pos, roomSize, seq+1)
		return arrivalFresh
	default:
		if t.fillHole(pos, seq) {
			return arrivalLate
		}
		return arrivalDuplicate
	}
}

// fillHole removes seq from pos's missing ranges, reporting whether it was missing.
func (t *recvTrack) fillHole(pos uint32, seq uint32) bool {
	gaps := t.holes[pos]
	for i, g := range gaps {
		if seq < g.lo || seq >= g.hi {
			continue
		}
		switch {
		case g.hi-g.lo == 1:
			gaps = append(gaps[:i], gaps[i+1:]...)
		case seq == g.lo:
			gaps[i].lo++
		case seq == g.hi-1:
			gaps[i].hi--
		default:
			gaps = append(gaps, seqGap{})
			copy(gaps[i+2:], gaps[i+1:])
			gaps[i] = seqGap{g.lo, seq}
			gaps[i+1] = seqGap{seq + 1, g.hi}
		}
		if len(gaps) == 0 {
			delete(t.holes, pos)
		} else {
			t.holes[pos] = gaps
		}
		return true
	}
	return false
}

// missing counts the holes below next for every sender (lost so far, or still in flight).
func (t *recvTrack) missing() uint64 {
	var n uint64
	for _, gaps := range t.holes {
		for _, g := range gaps {
			n += uint64(g.hi - g.lo)
		}
	}
	return n
}
