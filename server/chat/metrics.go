package chat

import (
	"github.com/chatd/chatd/server/auth"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the core's Prometheus counters, registered in the node's
// registry. Hot-path counters are plain atomic Prometheus counters.
type Metrics struct {
	connections    prometheus.Counter
	messagesIn     prometheus.Counter
	chatMessages   prometheus.Counter
	fanoutSize     prometheus.Histogram
	joins, leaves  prometheus.Counter
	rateLimited    prometheus.Counter
	rateAbuse      prometheus.Counter
	errorReplies   *prometheus.CounterVec
	unknownEvents  prometheus.Counter
	typingDrops    prometheus.Counter
	resyncs        prometheus.Counter
	historyReads   prometheus.Counter
	recoveries     *prometheus.CounterVec
	noticesDropped prometheus.Counter
	// presenceRereads counts member reads done again for their waiters: a
	// join or leave of the room overtook the read under way.
	presenceRereads prometheus.Counter

	// Tokens.
	refusals       *prometheus.CounterVec
	tokensAccepted prometheus.Counter
	refreshes      prometheus.Counter
	expiryCloses   prometheus.Counter
	disconnects    prometheus.Counter
}

func newMetrics(n *Node, reg prometheus.Registerer) *Metrics {
	m := &Metrics{}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "chatd", Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	vec := func(name, help string, label string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chatd", Name: name, Help: help}, []string{label})
		reg.MustRegister(c)
		return c
	}
	m.connections = counter("websocket_connections_total", "WebSocket connections opened.")
	m.messagesIn = counter("messages_in_total", "Client requests received (all types).")
	m.chatMessages = counter("chat_messages_total", "Chat messages sent by this node's clients.")
	m.joins = counter("joins_total", "Room joins completed.")
	m.leaves = counter("leaves_total", "Room leaves (explicit, re-join and disconnect).")
	m.rateLimited = counter("rate_limit_refusals_total", "Requests refused by the per-connection rate limit.")
	m.rateAbuse = counter("rate_limit_closes_total", "Connections closed (1008) for sustained rate-limit abuse.")
	m.errorReplies = vec("error_replies_total", "Error replies sent to clients, by code.", "code")
	m.fanoutSize = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "chatd", Name: "fanout_size",
		Help:    "Local members of the room (the excluded sender included) per room event this node delivers.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 9)})
	reg.MustRegister(m.fanoutSize)
	m.unknownEvents = counter("cluster_unknown_events_total",
		"Room events of a type chatd does not know (from other nodes), forwarded as published minus excludeUserId.")
	m.typingDrops = counter("typing_dropped_total", "Typing notices not forwarded: over one per -typing-interval per connection and room.")
	m.resyncs = counter("resyncs_total", "Rooms whose local members were told to recover (resync): a hole the history could not fill, or a new epoch.")
	m.historyReads = counter("history_requests_total", "v2 history requests (paging back).")
	m.recoveries = vec("recoveries_total",
		"v2 joins with since, by outcome: asked, recovered (every missed message returned) or not_recovered.", "outcome")

	m.noticesDropped = counter("presence_notices_dropped_total",
		"Joined/left notices not published: over -notice-rate in a room of more than -notice-room-size members.")
	m.presenceRereads = counter("presence_rereads_total",
		"Presence member reads done again because a join or leave of the room came while the read was under way (its requests wait for the newer read).")
	m.refusals = vec("auth_refusals_total", "Tokens refused (upgrade 401, hello, refresh), by reason.", "reason")
	m.tokensAccepted = counter("auth_tokens_accepted_total", "Tokens verified and accepted (upgrade URL, hello, refresh).")
	m.refreshes = counter("auth_refreshes_total", "v2 refresh requests that replaced a connection's token.")
	m.expiryCloses = counter("token_expiry_closes_total", "Connections closed (4001) because their token expired.")
	m.disconnects = counter("api_disconnected_connections_total",
		"Connections on this node closed by a server API disconnect (from any node).")
	reg.MustRegister(authCollector{n})
	return m
}

// Refused counts a refused token.
func (m *Metrics) Refused(r auth.Reason) { m.refusals.WithLabelValues(string(r)).Inc() }

func (m *Metrics) recoveryAsked() { m.recoveries.WithLabelValues("asked").Inc() }

func (m *Metrics) recoveryOutcome(ok bool) {
	if ok {
		m.recoveries.WithLabelValues("recovered").Inc()
	} else {
		m.recoveries.WithLabelValues("not_recovered").Inc()
	}
}

// authCollector reads the token registry and the key reloads at scrape time.
type authCollector struct{ n *Node }

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
	id := c.n.ident
	ch <- prometheus.MustNewConstMetric(descTokenConns, prometheus.GaugeValue, float64(id.tokens.len()))
	var ok, failed int64
	if id.verifier != nil {
		ok, failed = id.verifier.Reloads()
	}
	ch <- prometheus.MustNewConstMetric(descKeyReloads, prometheus.CounterValue, float64(ok), "ok")
	ch <- prometheus.MustNewConstMetric(descKeyReloads, prometheus.CounterValue, float64(failed), "failed")
}
