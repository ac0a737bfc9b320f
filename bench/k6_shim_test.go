package bench

import (
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The shim's own semantics, on fixture scripts (testdata/k6shim): what the k6 scripts rely on
// must behave as k6 documents it, and a failure must fail the run.

func TestK6ShimChecksAndVUs(t *testing.T) {
	node := k6Node(t)
	r := runK6(t, node, "testdata/k6shim/checks.js", map[string]string{})
	if r.exit != 1 {
		t.Fatalf("exit %d, want 1 (a check failed)\n%s", r.exit, r.output)
	}
	want := map[string][2]int{"vu is 1": {2, 2}, "init saw its own __VU": {4, 0}, "truthy value": {4, 0}}
	for _, c := range r.RootGroup.Checks {
		if w, ok := want[c.Name]; !ok || w != [2]int{c.Passes, c.Fails} {
			t.Errorf("check %q: %d passed, %d failed; want %v", c.Name, c.Passes, c.Fails, w)
		}
		delete(want, c.Name)
	}
	if len(want) > 0 {
		t.Errorf("checks never ran: %v", want)
	}
	checks := r.Metrics["checks"].Values
	vus := r.Metrics["vu_seen"].Values
	// 2 VUs x 2 iterations: __ITER is 0 then 1 in each VU; every iteration got setup()'s 5.
	if r.count("iters_seen") != 2 || r.count("setup_n") != 20 || r.count("iterations") != 4 ||
		vus["min"] != 1 || vus["max"] != 2 || vus["count"] != 4 ||
		checks["passes"] != 10 || checks["fails"] != 2 {
		t.Fatalf("iters_seen %v, setup_n %v, iterations %v, vu_seen %v, checks %v\n%s",
			r.count("iters_seen"), r.count("setup_n"), r.count("iterations"), vus, checks, r.output)
	}
}

func TestK6ShimThresholdsAndPercentiles(t *testing.T) {
	node := k6Node(t)
	r := runK6(t, node, "testdata/k6shim/threshold.js", map[string]string{})
	m := r.Metrics["t"]
	// 1..100: k6 interpolates between ranks, so the median is 50.5 and p(90) is 90.1.
	if r.exit != 99 || m.Values["med"] != 50.5 || math.Abs(m.Values["p(90)"]-90.1) > 1e-9 || m.Values["count"] != 100 {
		t.Fatalf("exit %d (want 99: a threshold failed), values %v\n%s", r.exit, m.Values, r.output)
	}
	for expr, want := range map[string]bool{"p(90)>90.09": true, "p(90)<90.11": true, "med<50": false} {
		if got, ok := m.Thresholds[expr]; !ok || got.OK != want {
			t.Errorf("threshold %s: %+v, want ok=%v", expr, got, want)
		}
	}
}

func TestK6ShimRefusesWhatItDoesNotEmulate(t *testing.T) {
	node := k6Node(t)
	exit, out := runShim(t, node, "testdata/k6shim/unsupported.js", map[string]string{})
	if exit != 104 || !strings.Contains(out, "executor constant-vus") {
		t.Fatalf("exit %d, want 104 naming the executor\n%s", exit, out)
	}
}

// wsFixtureServer serves testdata/k6shim/ws.js and hang.js: /echo echoes (offering chatd.v2),
// /close4008 closes at once with 4008, anything else is a 404. The close codes clients send to
// /echo come out of closes.
func wsFixtureServer(t *testing.T) (url string, closes chan int) {
	closes = make(chan int, 16)
	up := websocket.Upgrader{Subprotocols: []string{"chatd.v2"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/echo" && r.URL.Path != "/close4008" {
			http.NotFound(w, r)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if r.URL.Path == "/close4008" {
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4008, "slow consumer"), time.Now().Add(time.Second))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}
		for {
			mt, b, err := c.ReadMessage()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				closes <- ce.Code
			}
			if err != nil {
				return
			}
			c.WriteMessage(mt, b)
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), closes
}

// requireOneClose waits (bounded) for the close code a client sent to /echo: it must be want,
// and the only one.
func requireOneClose(t *testing.T, closes chan int, want int) {
	t.Helper()
	select {
	case code := <-closes:
		if code != want || len(closes) != 0 {
			t.Fatalf("close code %d (and %d more) at the server, want one %d", code, len(closes), want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no close frame reached the server")
	}
}

func TestK6ShimWebSocket(t *testing.T) {
	node := k6Node(t)
	url, closes := wsFixtureServer(t)
	r := runK6(t, node, "testdata/k6shim/ws.js", map[string]string{"URL": url})
	r.requirePass(t, "echo: status 101", "echo: subprotocol in the Go-canonical header", "echo: open after the callback",
		"echo: messages in order", "echo: close() fires close with 1001", "echo: interval ticked",
		"server close 4008: error, then close", "no upgrade: status 404 and an error, no callback")
	if r.count("ws_sessions") != 2 || r.count("ws_msgs_sent") != 3 || r.count("ws_msgs_received") != 3 {
		t.Fatalf("ws_sessions %v (want 2: the 404 is none), ws_msgs_sent %v, ws_msgs_received %v (want 3)",
			r.count("ws_sessions"), r.count("ws_msgs_sent"), r.count("ws_msgs_received"))
	}
	requireOneClose(t, closes, 1001)
}

func TestK6ShimInterruptsAtMaxDuration(t *testing.T) {
	longTest(t)
	node := k6Node(t)
	url, closes := wsFixtureServer(t)
	start := time.Now()
	r := runK6(t, node, "testdata/k6shim/hang.js", map[string]string{"URL": url})
	if r.exit != 1 || !strings.Contains(r.output, "1 iterations interrupted") || r.count("ws_sessions") != 1 {
		t.Fatalf("exit %d, want 1 with an interrupted iteration\n%s", r.exit, r.output)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("a 1s maxDuration run took %v", d)
	}
	requireOneClose(t, closes, 1001) // the interrupt closes the socket as k6 does
}
