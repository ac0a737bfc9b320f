package redis

// SampleHistoryNow makes a chatd_history_bytes sample at once (tests).
func SampleHistoryNow(b *Broker) { b.sampleHistory() }
