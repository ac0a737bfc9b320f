package memory

import (
	"strconv"
	"testing"

	"github.com/chatd/chatd/server/broker"
	"github.com/prometheus/client_golang/prometheus"
)

// gauges gathers the broker's metrics by name.
func gauges(t *testing.T, b *Broker) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(b)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
	}
	return out
}

// chatd_history_bytes, _messages and _rooms are exact: they follow stores,
// trims by count and by bytes, and a deleted history.
func TestHistoryGauges(t *testing.T) {
	b, _, _ := clocked(t, Options{HistorySize: 3, HistoryRoomBytes: 1 << 20})
	check := func(bytes, msgs, rooms int) {
		t.Helper()
		g := gauges(t, b)
		if g["chatd_history_bytes"] != float64(bytes) || g["chatd_history_messages"] != float64(msgs) ||
			g["chatd_history_rooms"] != float64(rooms) {
			t.Fatalf("gauges %v, want bytes %d, messages %d, rooms %d", g, bytes, msgs, rooms)
		}
	}
	check(0, 0, 0)
	var sizes []int
	for i := 0; i < 5; i++ {
		ev := &broker.Event{Room: "r", Body: []byte(`{"n":` + strconv.Itoa(i) + `}`), Store: true}
		b.Publish(ev, nil)
		sizes = append(sizes, len(storedPayload(ev.Body, ev.Delivered)))
	}
	check(histOverhead+len("r")+sizes[2]+sizes[3]+sizes[4], 3, 1) // HistorySize 3
	// A byte cap of two such entries: the store trims down to them.
	b.opt.HistoryRoomBytes = 2 * (sizes[4] + entryCost)
	ev := &broker.Event{Room: "r", Body: []byte(`{"n":5}`), Store: true}
	b.Publish(ev, nil)
	check(histOverhead+len("r")+sizes[4]+len(storedPayload(ev.Body, ev.Delivered)), 2, 1)
	b.DeleteHistory("r", func(error) {})
	check(0, 0, 0)
}
