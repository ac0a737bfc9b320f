package bench

import (
	"context"
)

// churn runs connect/join/leave/disconnect cycles at this process's share of -churn-rate until
// endNs. Churners are not members: they are not counted as receivers or senders, but the stable
// members of their rooms see their userJoined and userLeft notices, and the cycle rate, failures
// and dial-to-roomJoined latency are reported. A cycle that cannot get a dial slot waits, so an
// overloaded server shows up as a lower achieved rate rather than as unbounded connections.
func (rn *runner) churn(ctx context.Context, endNs int64) {
	sh := rn.sh
	rate := rn.cfg.ChurnRate / float64(rn.cfg.Procs)
	interval := int64(1e9 / rate)
	start := sh.startNs
	for k := int64(0); ; k++ {
		due := start + k*interval
		if due >= endNs || ctx.Err() != nil {
			return
		}
		sleepUntil(ctx, due)
		select {
		case sh.dialSem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		cycle := int(k)*rn.cfg.Procs + rn.cfg.ProcIndex
		c := &conn{fd: -1, heapIdx: -1, holdsToken: true, churner: true, idx: cycle,
			room: cycle % sh.lay.rooms, tgt: sh.targets[(cycle/sh.lay.rooms)%len(sh.targets)]}
		if len(sh.srcs) > 0 {
			c.src = &sh.srcs[int(k)%len(sh.srcs)]
		}
		l := rn.loops[int(k)%len(rn.loops)]
		sh.churners.Add(1)
		l.post(func() { l.dialChurner(c) })
	}
}
