package bench

// finalizeV2 derives the v2 figures (publish replies, offsets, recovery) and tightens the verdict.
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
	r.Pass = r.Pass && r.AcksMissing == 0 && m.AckDuplicated == 0 && m.SelfPushes == 0 && m.BadReplies == 0
	if r.OffsetsJudged {
		r.Pass = r.Pass && r.OffsetMissing == 0 && r.OffsetBeyond == 0 && m.OffsetDuplicated == 0 && m.OffsetStray == 0
	}
	if cfg.Workload == "recovery" {
		r.ChurnShare, r.Seed = cfg.ChurnShare, cfg.Seed
		r.AwayMinSec, r.AwayMaxSec = cfg.AwayMin.Seconds(), cfg.AwayMax.Seconds()
		r.ReconnectLatency = m.ReconnectLatency.Summary()
		// The workload exists to judge recovery: it must have happened, from a server that
		// numbers its messages, and worked every time.
		if m.NoOffset > 0 {
			r.Errors["recovery: messages or publish replies without offset: the server's history is missing or incomplete"] += m.NoOffset
		}
		r.Pass = r.Pass && r.OffsetsJudged && m.Outages > 0 && m.Reconnects == m.Outages && m.ReconnectFailed == 0 &&
			m.RecoveryFailed == 0 && m.EpochChanges == 0 && m.NoHistory == 0
	}
}
