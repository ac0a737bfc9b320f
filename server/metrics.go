package server

import (
	"bytes"
	"strconv"

	"github.com/chatd/chatd/eventloop"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// metrics are the node's Prometheus metrics, in a registry of its own (so
// several nodes can live in one test process): the carrier's and the server
// API's counters here, the core's (chat.Metrics) and the broker's registered
// beside them. The transport's counters are read from eventloop.Stats at
// scrape time and cost nothing in between.
type metrics struct {
	reg *prometheus.Registry

	originRefusals prometheus.Counter
	ipRefusals     prometheus.Counter
	reclaims       prometheus.Counter // memory_reclaims_total (reclaim.go)
	api            *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "chatd", Name: name, Help: help})
		m.reg.MustRegister(c)
		return c
	}
	m.originRefusals = counter("origin_refusals_total", "Upgrades refused (403) by the origin policy.")
	m.ipRefusals = counter("conns_per_ip_refusals_total", "Upgrades refused (429) by the per-address connection limit.")
	m.reclaims = counter("memory_reclaims_total", "Full GCs that returned free memory to the OS once a burst of connections and joins was over (-reclaim-after).")
	m.api = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chatd", Name: "api_requests_total",
		Help: "Server API requests answered by this node, by endpoint and HTTP status."}, []string{"endpoint", "status"})
	m.reg.MustRegister(m.api)
	return m
}

// transportCollector exports the transport's and the registry's state.
type transportCollector struct{ s *Server }

var (
	descConns      = desc("tcp_connections", "TCP connections open now (WebSocket, HTTP stream or handshaking; a detached stream counts until it ends).", "")
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
	descDeadlines  = desc("session_deadlines", "Connections that must still establish their session (a v2 connection before hello).", "")
	descDeadlineX  = desc("session_deadline_closes_total", "Connections closed (4002) because they did not establish their session in time (v2: no hello within -hello-timeout).", "")
	descBudget     = desc("outbound_budget_closes_total", "Connections closed (4008), largest queues first, to bring the node under -max-node-outbound-bytes.", "")
	descQueued     = desc("outbound_queued_bytes", "Outbound bytes queued on the node, as last measured.", "")
	descPending    = desc("pending_handshakes", "Handshakes in progress (compared with -pending-pressure).", "")

	// HTTP streams (server/httpstream), counted like WebSockets; the close
	// counters above count both.
	descStreams     = desc("stream_connections", "HTTP event streams open now, detached ones included (with websocket_connections, what -max-conns bounds).", "")
	descDetached    = desc("stream_detached", "HTTP streams whose TCP connection went away, waiting for a resume (-stream-resume).", "")
	descStreamsOpen = desc("streams_opened_total", "HTTP event streams opened.", "")
	descResumes     = desc("stream_resumes_total", "HTTP streams resumed on a new connection.", "")
	descExpired     = desc("stream_expired_total", "Detached HTTP streams closed unresumed: past -stream-resume, or their events no longer kept.", "")
	descStreamSlow  = desc("stream_slow_consumer_closes_total", "HTTP streams among slow_consumer_closes_total and outbound_budget_closes_total.", "")
	descReplayBytes = desc("stream_replay_bytes", "Bytes of stream events retained for resumes (-stream-replay-bytes), as of the last sweep.", "")
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
		descIdle, descProto, descRooms, descListBuilds, descPingAbuse, descDeadlines, descDeadlineX, descBudget, descQueued,
		descPending, descStreams, descDetached, descStreamsOpen, descResumes, descExpired, descStreamSlow, descReplayBytes} {
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
	gauge(descDeadlines, st.Deadlines)
	count(descDeadlineX, st.DeadlineCloses)
	count(descBudget, st.BudgetCloses)
	gauge(descQueued, st.QueuedBytes)
	gauge(descPending, st.PendingHandshakes)
	gauge(descStreams, st.Streams)
	gauge(descDetached, st.DetachedStreams)
	count(descStreamsOpen, st.StreamsOpened)
	count(descResumes, st.StreamResumes)
	count(descExpired, st.StreamsExpired)
	count(descStreamSlow, st.StreamSlow)
	gauge(descReplayBytes, st.StreamReplayBytes)
	gauge(descRooms, int64(tc.s.node.Rooms()))
	count(descListBuilds, tc.s.node.RoomListBuilds())
}

// metricsText renders the registry in the Prometheus text format. An
// encoding error can only come from a broken metric family (a bug): it is
// logged, and the families encoded before it are served.
func (s *Server) metricsText() []byte {
	mfs, err := s.metrics.reg.Gather()
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if eerr := enc.Encode(mf); eerr != nil && err == nil {
			err = eerr
		}
	}
	if err != nil {
		s.cfg.Logger.Warn("metrics gather", "err", err)
	}
	return b.Bytes()
}
