package bench

// finalizeV2 derives the v2 figures (publish replies, offsets, recovery) that the verdict judges.
func finalizeV2(cfg *Config, m *Raw, r *Result) {
	if m.Acks < m.Sent {
		r.AcksMissing = m.Sent - m.Acks
	}
	r.AckLatency = m.AckLatency.Summary()
	// Offsets mean something only from a server that numbers every message; a run against one
	// without history reports how many came without one and judges nothing by them.
	if m.WithOffset > 0 && m.NoOffset == 0 {
		r.OffsetsJudged = true
		for i := range m.RoomSent {
			r.OffsetExpected += m.RoomReceivers[i] * m.RoomSent[i]
			if m.RoomMaxOffset[i] > m.RoomSent[i] {
				r.OffsetBeyond++
			}
		}
		if m.OffsetDistinct < r.OffsetExpected {
			r.OffsetMissing = r.OffsetExpected - m.OffsetDistinct
		}
	}
	if cfg.Workload == "recovery" {
		r.ChurnShare, r.Seed = cfg.ChurnShare, cfg.Seed
		r.AwayMinSec, r.AwayMaxSec = cfg.AwayMin.Seconds(), cfg.AwayMax.Seconds()
		r.ReconnectLatency = m.ReconnectLatency.Summary()
		if m.NoOffset > 0 {
			r.Errors["recovery: messages or publish replies without offset: the server's history is missing or incomplete"] += m.NoOffset
		}
	}
}
