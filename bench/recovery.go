package bench

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"slices"
)

// The recovery workload: during the send phase a share of the members (-churn-share), picked at
// random, each drop their connection once, without a close frame, at a random time; each stays
// away a random time in -away, reconnects, says hello and re-joins every room with since (the
// epoch of its first join, the last offset pushed to it). What the join results return counts as
// received. Membership does not change: every message published to a room is expected by every
// other member, away or not, exactly as in fanout, so a message the recovery misses is lost and
// one it returns twice is duplicated.
//
// A member goes away only with nothing in flight: it stops publishing and waits for the replies
// to its publishes (bounded by -connect-timeout), because a publish cut off by the outage may or
// may not have been stored, and the run could not tell lost from never sent. While away its
// schedule runs on; back, it sends what fell due meanwhile at once (catch-up), so every member
// still sends exactly its planned messages.

// outage is one planned outage of a member of this process.
type outage struct {
	c      *conn
	l      *loop
	atNs   int64 // absolute
	awayNs int64
}

// planOutages picks this process's outages: round(share * members) of its joined members, each at
// a time in [start, start + outageWindow), so that every outage ends while messages are still
// being published, before the last of any stream. The processes pick independently (seed +
// process index): who goes away does not change what anyone expects.
func (rn *runner) planOutages() []outage {
	cfg, sh := rn.cfg, rn.sh
	var cands []outage
	rn.onLoops(func(l *loop) {
		for _, c := range l.members {
			if c.joined && !c.dead {
				cands = append(cands, outage{c: c, l: l})
			}
		}
	})
	slices.SortFunc(cands, func(a, b outage) int { return cmp.Compare(a.c.idx, b.c.idx) })
	rnd := rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.ProcIndex)))
	rnd.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	n := min(len(cands), int(math.Round(cfg.ChurnShare*float64(rn.hi-rn.lo))))
	window := max(1, cfg.outageWindow())
	spread := int64(cfg.AwayMax-cfg.AwayMin) + 1
	plan := cands[:n]
	for i := range plan {
		plan[i].atNs = sh.startNs + rnd.Int64N(window)
		plan[i].awayNs = int64(cfg.AwayMin) + rnd.Int64N(spread)
	}
	slices.SortFunc(plan, func(a, b outage) int { return cmp.Compare(a.atNs, b.atNs) })
	return plan
}

// outages runs the plan: each outage is posted to its member's loop at its time.
func (rn *runner) outages(ctx context.Context, plan []outage) {
	for _, o := range plan {
		sleepUntil(ctx, o.atNs)
		if ctx.Err() != nil {
			return
		}
		o := o
		o.l.post(func() { o.l.goAway(o.c, o.awayNs, wallNow()) })
	}
}

// goAway starts member c's outage: at once if none of its publishes waits for a reply,
// otherwise once the last reply came (onPublishReply) or the connect timeout passed.
func (l *loop) goAway(c *conn, awayNs, now int64) {
	if !c.joined || c.dead || c.state != stOpen || c.rejoining || c.wantAway || l.frozen {
		l.st.OutagesSkipped++
		return
	}
	c.awayNs = awayNs
	if c.answered < c.sent {
		c.wantAway = true
		if c.heapIdx >= 0 {
			l.heap.remove(c)
		}
		c.deadline = now + int64(l.sh.cfg.ConnectTimeout)
		l.setup = append(l.setup, c)
		return
	}
	l.doAway(c, now)
}

// doAway drops c's connection without a close frame (to the server it just ends) and schedules
// its return.
func (l *loop) doAway(c *conn, now int64) {
	c.wantAway = false
	l.st.Outages++
	l.closeFd(c)
	c.state = stAway
	for j := 0; j < l.sh.k; j++ {
		c.slot(j).joined = false
	}
	c.slotsJoined, c.helloDone = 0, false
	c.deadline = now + c.awayNs
	l.setup = append(l.setup, c)
}

// reconnect dials c again when its time away is over; it reports false when no dial slot is
// free (the caller retries at the next deadline scan).
func (l *loop) reconnect(c *conn, now int64) bool {
	if l.stopping || l.frozen {
		return true // the accounting is over: it stays away
	}
	select {
	case l.sh.dialSem <- struct{}{}:
	default:
		return false
	}
	c.holdsToken = true
	c.state = stConnecting
	c.rejoining = true
	c.dialNs = now
	if err := l.dial(c); err != nil {
		l.drop(c, err.Error())
	}
	return true
}

// rejoined: c is back in every room; it resumes its schedule.
func (l *loop) rejoined(c *conn, now int64) {
	c.rejoining = false
	c.deadline = 0
	c.backNs = now
	l.st.Reconnects++
	l.reconnLat.Record(now - c.dialNs)
	if l.startArmed && !c.sendDone && c.sent < c.planned && c.heapIdx < 0 {
		c.nextDue = l.sh.startNs + l.sh.sched.due(c.idx, c.sent)
		l.heap.push(c)
	}
}
