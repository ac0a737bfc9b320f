package bench

// offsetLedger is a member's view of one room's history when the server numbers the room's
// messages (the README's protocol v2: offsets 1, 2, 3, ... per room, no hole, within an epoch). It is a second,
// independent account beside the per-sender one: every member must come to know every offset of
// its room exactly once, its own messages' from the replies to its publishes, the others' from
// pushes and recovered join results. Rooms are new for every run, so the run's messages are
// offsets base+1 ... base+M, where base is the offset of the first join result (0) and M the
// messages published to the room.
type offsetLedger struct {
	epoch  string    // from the first join result (interned per loop)
	base   uint64    // offset in the first join result
	last   uint64    // highest offset received in a push or a join result: where since resumes
	since  uint64    // the offset of the last since sent
	seen   recvTrack // offsets seen, as the sequence base+1+n of a single "sender"
	broken bool      // the epoch changed: offsets restarted and mean nothing to this ledger
}

type offsetKind uint8

const (
	offPush         offsetKind = iota // another member's message, pushed or recovered
	offOwnAck                         // the reply to our own publish
	offOwnRecovered                   // our own message in a recovered history
	offKnown                          // a recovered message the member got pushed after its since
)

// seeOffset enters one offset into a slot's ledger.
//
// since resumes after the highest offset pushed (or recovered), not after our own publishes':
// a reply can overtake the push of a message that was stored just before ours, and resuming
// after our own offset would skip that message. Our own messages above since then come back in
// the recovered history; they are known already and are no duplicate.
func (l *loop) seeOffset(s *slot, offset int64, kind offsetKind) {
	o := s.off
	if o == nil {
		o = &offsetLedger{}
		s.off = o
	}
	if o.broken {
		return
	}
	off := uint64(offset)
	if kind != offOwnAck && off > o.last {
		o.last = off
	}
	if off <= o.base || off-o.base > 1<<31 {
		l.st.OffsetStray++
		return
	}
	if o.seen.observe(0, 1, uint32(off-o.base-1)) == arrivalDuplicate && kind != offOwnRecovered && kind != offKnown {
		l.st.OffsetDuplicated++
	}
}

// seenUpTo is the highest offset seen, relative to base (0: none), and distinct the offsets
// seen at or below it.
func (o *offsetLedger) seenUpTo() (highest, distinct uint64) {
	if o.seen.dense == nil {
		return 0, 0
	}
	highest = uint64(o.seen.dense[0])
	return highest, highest - o.seen.missing()
}
