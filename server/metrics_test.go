package server_test

import (
	"bytes"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/chatd/chatd/server"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics, parses it with the Prometheus text parser and
// returns every sample as "name{label="v",...}" -> value.
func scrape(t testing.TB, s *server.Server) map[string]float64 {
	t.Helper()
	return scrapeURL(t, "http://"+s.Addr()+"/metrics")
}

// scrapeURL is scrape from any URL serving the metrics (e.g. the admin
// handler's, which still answers while a node drains).
func scrapeURL(t testing.TB, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	out := map[string]float64{}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			sort.Strings(labels)
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
				out[key+"_sum"] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// After a small scripted session, the counters moved exactly as expected.
func TestMetricsAfterSession(t *testing.T) {
	s := startServer(t, nil)
	a, b := connect(t, s), connect(t, s)
	a.join("m", "alice")
	b.join("m", "bob")
	a.expect("userJoined")
	for i := 0; i < 3; i++ {
		a.send(`{"type":"message","content":"hi"}`)
		a.expect("message")
		b.expect("message")
	}
	a.send(`{"type":"dance"}`)
	a.expectError("Unknown message type", "unknown_type")
	b.send(`{"type":"leaveRoom"}`)
	a.expect("userLeft")

	m := scrape(t, s)
	for k, want := range map[string]float64{
		"chatd_websocket_connections_total":                2,
		"chatd_websocket_connections":                      2,
		"chatd_handshakes_total":                           2,
		"chatd_tcp_accepted_total":                         3, // the two WebSockets and this scrape
		"chatd_joins_total":                                2,
		"chatd_leaves_total":                               1,
		"chatd_chat_messages_total":                        3,
		"chatd_messages_in_total":                          7, // 2 joins, 3 messages, 1 bad, 1 leave
		"chatd_error_replies_total{code=\"unknown_type\"}": 1,
		"chatd_rooms":                                      1,
		// userJoined(bob)->alice, 3 messages->bob, userLeft(bob)->alice; alice's own join reaches no one.
		"chatd_deliveries_total": 5,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if m["chatd_bytes_in_total"] == 0 || m["chatd_bytes_out_total"] == 0 || m["chatd_frames_out_total"] == 0 {
		t.Errorf("byte/frame counters did not move: %v", m)
	}
	// TCP connections per loop: the two WebSockets and the scrape itself, on
	// whichever loops they landed.
	perLoop, loops := 0.0, 0
	for k, v := range m {
		if strings.HasPrefix(k, "chatd_loop_connections{") {
			perLoop += v
			loops++
		}
	}
	if perLoop != 3 || loops != 2 {
		t.Errorf("per-loop connections: %v over %d loops, want 3 over 2", perLoop, loops)
	}
}
