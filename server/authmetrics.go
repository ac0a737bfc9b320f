package server

import (
	"github.com/chatd/chatd/server/auth"
	"github.com/prometheus/client_golang/prometheus"
)

// authMetrics count token checks, expiries and the server API's requests.
type authMetrics struct {
	refusals     *prometheus.CounterVec
	accepted     prometheus.Counter
	refreshes    prometheus.Counter
	expiryCloses prometheus.Counter
	disconnects  prometheus.Counter
	api          *prometheus.CounterVec
}

func newAuthMetrics(s *Server) *authMetrics {
	m := &authMetrics{
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chatd", Name: "auth_refusals_total",
			Help: "Tokens refused (upgrade 401, hello, refresh), by reason."}, []string{"reason"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "chatd", Name: "auth_tokens_accepted_total",
			Help: "Tokens verified and accepted (upgrade URL, hello, refresh)."}),
		refreshes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "chatd", Name: "auth_refreshes_total",
			Help: "v2 refresh requests that replaced a connection's token."}),
		expiryCloses: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "chatd", Name: "token_expiry_closes_total",
			Help: "Connections closed (4001) because their token expired."}),
		disconnects: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "chatd", Name: "api_disconnected_connections_total",
			Help: "Connections on this node closed by a server API disconnect (from any node)."}),
		api: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chatd", Name: "api_requests_total",
			Help: "Server API requests answered by this node, by endpoint and HTTP status."}, []string{"endpoint", "status"}),
	}
	s.metrics.reg.MustRegister(m.refusals, m.accepted, m.refreshes, m.expiryCloses, m.disconnects, m.api,
		authCollector{s})
	return m
}

func (m *authMetrics) refused(r auth.Reason) { m.refusals.WithLabelValues(string(r)).Inc() }

// authCollector reads the token registry and the key reloads at scrape time.
type authCollector struct{ s *Server }

var (
	descTokenConns = prometheus.NewDesc("chatd_token_connections", "Open connections with a token (in the expiry heap).", nil, nil)
	descKeyReloads = prometheus.NewDesc("chatd_auth_key_reloads_total", "Token key file reloads (on change or SIGHUP), by result.",
		[]string{"result"}, nil)
)

func (c authCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descTokenConns
	ch <- descKeyReloads
}

func (c authCollector) Collect(ch chan<- prometheus.Metric) {
	id := c.s.ident
	ch <- prometheus.MustNewConstMetric(descTokenConns, prometheus.GaugeValue, float64(id.tokens.len()))
	var ok, failed int64
	if id.verifier != nil {
		ok, failed = id.verifier.Reloads()
	}
	ch <- prometheus.MustNewConstMetric(descKeyReloads, prometheus.CounterValue, float64(ok), "ok")
	ch <- prometheus.MustNewConstMetric(descKeyReloads, prometheus.CounterValue, float64(failed), "failed")
}
