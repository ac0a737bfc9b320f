package server

import (
	"bytes"
	"strconv"

	"github.com/chatd/chatd/eventloop"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// metrics are the node's Prometheus metrics, in a registry of its own (so
// several nodes can live in one test process). Hot-path counters are plain
// atomic Prometheus counters; the transport's counters are read from
// eventloop.Stats at scrape time and cost nothing in between.
type metrics struct {
	reg *prometheus.Registry

	connections    prometheus.Counter
	messagesIn     prometheus.Counter
	chatMessages   prometheus.Counter
	fanoutSize     prometheus.Histogram
	joins, leaves  prometheus.Counter
	rateLimited    prometheus.Counter
	rateAbuse      prometheus.Counter
	originRefusals prometheus.Counter
	ipRefusals     prometheus.Counter
	errorReplies   *prometheus.CounterVec
	unknownEvents  prometheus.Counter
	typingDrops    prometheus.Counter
	resyncs        prometheus.Counter
	historyReads   prometheus.Counter
	recoveries     *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "chatd", Name: name, Help: help})
		m.reg.MustRegister(c)
		return c
	}
	m.connections = counter("websocket_connections_total", "WebSocket connections opened.")
	m.messagesIn = counter("messages_in_total", "Client requests received (all types).")
	m.chatMessages = counter("chat_messages_total", "Chat messages sent by this node's clients.")
	m.joins = counter("joins_total", "Room joins completed.")
	m.leaves = counter("leaves_total", "Room leaves (explicit, re-join and disconnect).")
	m.rateLimited = counter("rate_limit_refusals_total", "Requests refused by the per-connection rate limit.")
	m.rateAbuse = counter("rate_limit_closes_total", "Connections closed (1008) for sustained rate-limit abuse.")
	m.originRefusals = counter("origin_refusals_total", "Upgrades refused (403) by the origin policy.")
	m.ipRefusals = counter("conns_per_ip_refusals_total", "Upgrades refused (429) by the per-address connection limit.")
	m.errorReplies = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chatd", Name: "error_replies_total",
		Help: "Error replies sent to clients, by code."}, []string{"code"})
	m.fanoutSize = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "chatd", Name: "fanout_size",
		Help:    "Local members of the room (the excluded sender included) per room event this node delivers.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 9)})
	m.unknownEvents = counter("cluster_unknown_events_total",
		"Room events of a type chatd does not know (from other nodes), forwarded as published minus excludeUserId.")
	m.typingDrops = counter("typing_dropped_total", "Typing notices not forwarded: over one per -typing-interval per connection and room.")
	m.resyncs = counter("resyncs_total", "Rooms whose local members were told to recover (resync): a hole the history could not fill, or a new epoch.")
	m.historyReads = counter("history_requests_total", "v2 history requests (paging back).")
	m.recoveries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chatd", Name: "recoveries_total",
		Help: "v2 joins with since, by outcome: asked, recovered (every missed message returned) or not_recovered."},
		[]string{"outcome"})
	m.reg.MustRegister(m.errorReplies, m.fanoutSize, m.recoveries)
	return m
}

func (m *metrics) connected()                { m.connections.Inc() }
func (m *metrics) disconnected()             {}
func (m *metrics) messageIn()                { m.messagesIn.Inc() }
func (m *metrics) chatMessage()              { m.chatMessages.Inc() }
func (m *metrics) joined()                   { m.joins.Inc() }
func (m *metrics) left()                     { m.leaves.Inc() }
func (m *metrics) rateLimitedRefusal()       { m.rateLimited.Inc() }
func (m *metrics) rateLimitClose()           { m.rateAbuse.Inc() }
func (m *metrics) originRefused()            { m.originRefusals.Inc() }
func (m *metrics) ipRefused()                { m.ipRefusals.Inc() }
func (m *metrics) requestErrors(c ErrorCode) { m.errorReplies.WithLabelValues(string(c)).Inc() }
func (m *metrics) fanout(localMembers int)   { m.fanoutSize.Observe(float64(localMembers)) }
func (m *metrics) forwardedUnknown()         { m.unknownEvents.Inc() }
func (m *metrics) typingDropped()            { m.typingDrops.Inc() }
func (m *metrics) resyncPushed()             { m.resyncs.Inc() }
func (m *metrics) historyRead()              { m.historyReads.Inc() }
func (m *metrics) recoveryAsked()            { m.recoveries.WithLabelValues("asked").Inc() }

func (m *metrics) recoveryOutcome(ok bool) {
	if ok {
		m.recoveries.WithLabelValues("recovered").Inc()
	} else {
		m.recoveries.WithLabelValues("not_recovered").Inc()
	}
}

// transportCollector exports the transport's and the registry's state.
type transportCollector struct{ s *Server }

var (
	descConns      = desc("tcp_connections", "TCP connections open now (WebSocket or handshaking).", "")
	descWebSockets = desc("websocket_connections", "WebSocket connections open now.", "")
	descLoopConns  = desc("loop_connections", "TCP connections per event loop.", "loop")
	descAccepted   = desc("tcp_accepted_total", "TCP connections accepted.", "")
	descUpgraded   = desc("handshakes_total", "WebSocket handshakes completed.", "")
	descHSFailed   = desc("handshakes_failed_total", "Connections that never became WebSockets, by reason.", "reason")
	descHTTP       = desc("http_requests_total", "Plain HTTP requests answered on the main port.", "")
	descBytesIn    = desc("bytes_in_total", "Bytes received from clients.", "")
	descBytesOut   = desc("bytes_out_total", "Bytes written to clients.", "")
	descFramesIn   = desc("frames_in_total", "WebSocket messages received.", "")
	descFramesOut  = desc("frames_out_total", "Frames written to clients.", "")
	descDelivered  = desc("deliveries_total", "Room events queued to local members (one per member).", "")
	descWrites     = desc("write_calls_total", "write/writev system calls (frames_out/write_calls = coalescing).", "")
	descSlow       = desc("slow_consumer_closes_total", "Connections closed (4008) because their outbound queue hit its limit.", "")
	descIdle       = desc("idle_closes_total", "Connections closed for inactivity.", "")
	descProto      = desc("protocol_error_closes_total", "Connections closed for a WebSocket protocol violation.", "")
	descRooms      = desc("rooms", "Rooms with members on this node.", "")
	descListBuilds = desc("room_list_builds_total", "Room lists read from the cluster (each shared by every request within -room-list-refresh).", "")
	descPingAbuse  = desc("ping_abuse_closes_total", "Connections closed (1008) for sending pings over -ping-rate/-ping-burst.", "")
)

func desc(name, help, label string) *prometheus.Desc {
	var labels []string
	if label != "" {
		labels = []string{label}
	}
	return prometheus.NewDesc("chatd_"+name, help, labels, nil)
}

func (tc transportCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConns, descWebSockets, descLoopConns, descAccepted, descUpgraded,
		descHSFailed, descHTTP, descBytesIn, descBytesOut, descFramesIn, descFramesOut, descDelivered, descWrites, descSlow,
		descIdle, descProto, descRooms, descListBuilds, descPingAbuse} {
		ch <- d
	}
}

func (tc transportCollector) Collect(ch chan<- prometheus.Metric) {
	if tc.s.eng == nil {
		return
	}
	st := tc.s.eng.Stats()
	gauge := func(d *prometheus.Desc, v int64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), l...)
	}
	count := func(d *prometheus.Desc, v int64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge(descConns, st.Conns)
	gauge(descWebSockets, st.WebSockets)
	for i, n := range st.LoopConns {
		gauge(descLoopConns, n, strconv.Itoa(i))
	}
	count(descAccepted, st.Accepted)
	count(descUpgraded, st.Upgraded)
	for i, n := range st.HandshakeFailures {
		count(descHSFailed, n, eventloop.HandshakeFailure(i).String())
	}
	count(descHTTP, st.HTTPRequests)
	count(descBytesIn, st.BytesIn)
	count(descBytesOut, st.BytesOut)
	count(descFramesIn, st.MessagesIn)
	count(descFramesOut, st.FramesOut)
	count(descDelivered, st.Deliveries)
	count(descWrites, st.WriteCalls)
	count(descSlow, st.SlowConsumers)
	count(descIdle, st.IdleCloses)
	count(descProto, st.ProtocolErrors)
	count(descPingAbuse, st.PingAbuseCloses)
	gauge(descRooms, int64(tc.s.rooms.Len()))
	count(descListBuilds, tc.s.roomList.builds.Load())
}

// metricsText renders the registry in the Prometheus text format.
func (s *Server) metricsText() []byte {
	mfs, err := s.metrics.reg.Gather()
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		_ = enc.Encode(mf)
	}
	if err != nil {
		s.cfg.Logger.Warn("metrics gather", "err", err)
	}
	return b.Bytes()
}
