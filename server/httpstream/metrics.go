package httpstream

import "github.com/prometheus/client_golang/prometheus"

// The carrier's metrics. The streams themselves (open, detached, resumed,
// closed as slow consumers) are the transport's, exported by the server
// beside the WebSockets' (chatd_stream_*).
type metrics struct {
	posts    *prometheus.CounterVec
	relays   *prometheus.CounterVec
	refusals *prometheus.CounterVec
	resumes  *prometheus.CounterVec
}

// POST outcomes, counted where they are decided (a relayed POST by the node
// that holds its session).
const (
	resultApplied     = "applied"
	resultDuplicate   = "duplicate"
	resultGap         = "seq_gap"
	resultGone        = "session_gone"
	resultRateLimited = "rate_limited"
	resultBadRequest  = "bad_request"
	resultUnreachable = "session_unreachable"
	resultUnavailable = "cluster_unavailable"
)

// Relay directions.
const (
	dirOut = "out" // POSTs this node relayed to the node of their session
	dirIn  = "in"  // POSTs another node relayed to this one
)

// Why a stream was not opened, or not resumed.
const (
	reasonOrigin     = "origin"
	reasonPerAddress = "per_address"
	reasonFull       = "full"
	reasonDraining   = "draining"
	reasonGone       = "gone"
	reasonElsewhere  = "elsewhere"
	reasonLost       = "events_lost"
	reasonBadID      = "bad_id"
)

func newMetrics(reg prometheus.Registerer, c *Carrier) *metrics {
	vec := func(name, help, label string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chatd", Name: name, Help: help}, []string{label})
		reg.MustRegister(v)
		return v
	}
	m := &metrics{
		posts: vec("stream_posts_total", "HTTP stream POSTs by outcome (applied, duplicate, seq_gap, session_gone, "+
			"rate_limited, bad_request, session_unreachable, cluster_unavailable).", "result"),
		relays: vec("stream_relays_total",
			"HTTP stream POSTs relayed through the cluster to the node of their session (out) or from another node (in).", "direction"),
		refusals: vec("stream_refusals_total", "HTTP streams not opened, by reason (origin, per_address, full, draining).", "reason"),
		resumes: vec("stream_resume_refusals_total",
			"HTTP stream resumes refused, by reason (gone, elsewhere, events_lost, bad_id).", "reason"),
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "chatd", Name: "stream_sessions",
		Help: "HTTP stream sessions on this node (detached ones waiting for a resume included)."},
		func() float64 { return float64(c.reg.len()) }))
	return m
}

func (m *metrics) post(result string)          { m.posts.WithLabelValues(result).Inc() }
func (m *metrics) relayed(dir string)          { m.relays.WithLabelValues(dir).Inc() }
func (m *metrics) refused(reason string)       { m.refusals.WithLabelValues(reason).Inc() }
func (m *metrics) resumeRefused(reason string) { m.resumes.WithLabelValues(reason).Inc() }
