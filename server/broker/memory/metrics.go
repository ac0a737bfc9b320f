package memory

import "github.com/prometheus/client_golang/prometheus"

// The memory broker's history gauges, exact (the Redis broker estimates the
// same chatd_history_bytes from a sample of Redis).
var (
	descHistBytes = prometheus.NewDesc("chatd_history_bytes",
		"Bytes held by room histories: payloads plus a fixed cost per room (the -history-max-bytes accounting); exact without Redis.",
		nil, nil)
	descHistMessages = prometheus.NewDesc("chatd_history_messages", "Stored messages held by room histories (without Redis).", nil, nil)
	descHistRooms    = prometheus.NewDesc("chatd_history_rooms", "Rooms with a history, messages or not (without Redis).", nil, nil)
)

// Describe implements prometheus.Collector.
func (b *Broker) Describe(ch chan<- *prometheus.Desc) {
	ch <- descHistBytes
	ch <- descHistMessages
	ch <- descHistRooms
}

// Collect implements prometheus.Collector.
func (b *Broker) Collect(ch chan<- prometheus.Metric) {
	b.mu.Lock()
	bytes, rooms, msgs := b.histBytes, len(b.hist), b.histMsgs
	b.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descHistBytes, prometheus.GaugeValue, float64(bytes))
	ch <- prometheus.MustNewConstMetric(descHistMessages, prometheus.GaugeValue, float64(msgs))
	ch <- prometheus.MustNewConstMetric(descHistRooms, prometheus.GaugeValue, float64(rooms))
}
