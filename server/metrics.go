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

	publishLatency prometheus.Histogram
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
	m.publishLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "chatd",
		Name: "redis_publish_seconds", Help: "Round trip of one pipelined batch of PUBLISH commands.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9)})
	m.reg.MustRegister(m.errorReplies, m.fanoutSize, m.publishLatency)
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
		descIdle, descProto, descRooms} {
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
	gauge(descRooms, int64(tc.s.rooms.Len()))
}

// redisCollector exports a RedisBroker's counters.
type redisCollector struct{ b *RedisBroker }

var (
	descRedisPublished  = desc("redis_published_total", "Room events published to Redis.", "")
	descRedisPubErrors  = desc("redis_publish_errors_total", "Room events that could not be published (the sender was told).", "")
	descRedisTrips      = desc("redis_publish_round_trips_total", "Pipelined PUBLISH batches sent.", "")
	descRedisReceived   = desc("redis_received_total", "Room events received from Redis.", "")
	descRedisDropped    = desc("redis_dropped_total", "Received payloads that were not a JSON object with a type.", "")
	descRedisSubscribed = desc("redis_subscribed_rooms", "Rooms this node is subscribed to now.", "")
	descRedisOutages    = desc("redis_outages_total", "Times Redis became unreachable.", "")
	descRedisReconnects = desc("redis_reconnects_total", "Times Redis became reachable again after an outage.", "")
	descRedisReaped     = desc("redis_reaped_members_total", "Members of dead nodes this node removed.", "")
	descRedisHealthy    = desc("redis_up", "1 when Redis is reachable (publish and subscribe sides).", "")
)

func (rc redisCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRedisPublished, descRedisPubErrors, descRedisTrips, descRedisReceived,
		descRedisDropped, descRedisSubscribed, descRedisOutages, descRedisReconnects, descRedisReaped, descRedisHealthy} {
		ch <- d
	}
}

func (rc redisCollector) Collect(ch chan<- prometheus.Metric) {
	st := rc.b.Stats()
	count := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	count(descRedisPublished, st.Published)
	count(descRedisPubErrors, st.PublishFailed)
	count(descRedisTrips, st.PublishTrips)
	count(descRedisReceived, st.Received)
	count(descRedisDropped, st.Dropped)
	count(descRedisOutages, st.Outages)
	count(descRedisReconnects, st.Reconnects)
	count(descRedisReaped, st.Reaped)
	ch <- prometheus.MustNewConstMetric(descRedisSubscribed, prometheus.GaugeValue, float64(st.Subscribed))
	up := 0.0
	if rc.b.Healthy() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descRedisHealthy, prometheus.GaugeValue, up)
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
