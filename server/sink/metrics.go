package sink

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the sink's Prometheus metrics, registered in the node's
// registry. The gauges cover the shards this node holds: summed over the
// nodes (backlog) or their maximum (lag) they describe the cluster.
type metrics struct {
	delivered prometheus.Counter     // messages acknowledged by the backend
	dropped   *prometheus.CounterVec // reason: backlog, age
	posts     *prometheus.CounterVec // result: ok, failed
	duration  prometheus.Histogram
}

// The drop reasons and POST results (metric label values).
const (
	dropBacklog = "backlog" // refused by a full queue
	dropAge     = "age"     // older than MaxAge before it was acknowledged
	postOK      = "ok"
	postFailed  = "failed"
)

func newMetrics(reg prometheus.Registerer, s *Sink) *metrics {
	m := &metrics{
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "chatd", Name: "sink_delivered_total",
			Help: "Messages the sink's backend acknowledged (a message posted again after a failure counts again)."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chatd", Name: "sink_dropped_total",
			Help: "Stored messages the sink never delivered, by reason: backlog (its queue was full), age (older than -sink-max-age)."},
			[]string{"reason"}),
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chatd", Name: "sink_posts_total",
			Help: "Batches POSTed to the sink, by result: ok (2xx) or failed (retried)."}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "chatd", Name: "sink_post_duration_seconds",
			Help: "Round trips of the sink's POSTs.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
	}
	m.dropped.WithLabelValues(dropBacklog)
	m.dropped.WithLabelValues(dropAge)
	m.posts.WithLabelValues(postOK)
	m.posts.WithLabelValues(postFailed)
	reg.MustRegister(m.delivered, m.dropped, m.posts, m.duration, collector{s})
	return m
}

// collector reads the shards' state at scrape time.
type collector struct{ s *Sink }

var (
	descBacklog = prometheus.NewDesc("chatd_sink_backlog",
		"Messages waiting for the sink in the shards this node holds.", nil, nil)
	descLag = prometheus.NewDesc("chatd_sink_lag_seconds",
		"Age of the oldest message not yet acknowledged in the shards this node holds (0: none waiting).", nil, nil)
	descHeld = prometheus.NewDesc("chatd_sink_shards_held", "Sink shards this node holds the lease of.", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBacklog
	ch <- descLag
	ch <- descHeld
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(st.Backlog))
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, st.Lag.Seconds())
	ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(st.Held))
}

// Stats is the state of the shards a node holds.
type Stats struct {
	Held    int           // shards held
	Backlog int64         // messages waiting in them
	Lag     time.Duration // age of the oldest of them (0: none)
}
