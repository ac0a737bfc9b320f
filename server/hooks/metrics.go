package hooks

import "github.com/prometheus/client_golang/prometheus"

// metrics are the hooks' Prometheus metrics, registered in the node's
// registry: calls by result, failures by reason and the policy applied,
// round-trip times, and (read at scrape time) the calls waiting and in
// flight.
type metrics struct {
	calls    *prometheus.CounterVec   // hook, result
	failures *prometheus.CounterVec   // hook, reason, policy
	duration *prometheus.HistogramVec // hook
}

// hookMetrics are one hook's, resolved once.
type hookMetrics struct {
	duration prometheus.Observer
	calls    map[string]prometheus.Counter // by result
	failures *prometheus.CounterVec        // curried with the hook
}

// The call results (metric label values).
const (
	resultAllowed   = "allowed"   // the backend said yes
	resultRefused   = "refused"   // the backend said no
	resultRewritten = "rewritten" // publish: the backend replaced the content
	resultFailed    = "failed"    // no usable answer: the policy decided (see chatd_hook_failures_total)
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chatd", Name: "hook_calls_total",
			Help: "Hook calls by hook and result: allowed, refused, rewritten (publish) or failed."}, []string{"hook", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chatd", Name: "hook_failures_total",
			Help: "Failed hook calls by hook, reason (timeout, error, status, invalid, overload) and the policy applied (refuse, allow)."},
			[]string{"hook", "reason", "policy"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "chatd", Name: "hook_duration_seconds",
			Help:    "Round trips of hook calls that reached the backend (answered or not), by hook.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"hook"}),
	}
	reg.MustRegister(m.calls, m.failures, m.duration)
	return m
}

func (m *metrics) forHook(h Hook) *hookMetrics {
	hm := &hookMetrics{duration: m.duration.WithLabelValues(string(h)), calls: map[string]prometheus.Counter{},
		failures: m.failures.MustCurryWith(prometheus.Labels{"hook": string(h)})}
	for _, r := range []string{resultAllowed, resultRefused, resultRewritten, resultFailed} {
		hm.calls[r] = m.calls.WithLabelValues(string(h), r)
	}
	return hm
}

// collector reads the queues at scrape time.
type collector struct{ c *Client }

var (
	descQueued   = prometheus.NewDesc("chatd_hook_queued", "Hook calls waiting for a free slot, by hook.", []string{"hook"}, nil)
	descInFlight = prometheus.NewDesc("chatd_hook_in_flight", "Hook calls at the backend now, by hook.", []string{"hook"}, nil)
)

func (k collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descQueued
	ch <- descInFlight
}

func (k collector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range k.c.pools() {
		q, f := p.stats()
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(q), string(p.hook))
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(f), string(p.hook))
	}
}
