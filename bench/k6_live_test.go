package bench

import (
	"fmt"
	"testing"
)

// TestK6ScriptsAgainstChatd runs the v1 k6 scripts under the shim against a live chatd, small:
// a few VUs for a few seconds on loopback. The scripts' own checks and thresholds must pass, and
// by their own accounting every message must reach every other member of its room, in order,
// with its echo, and no error.
func TestK6ScriptsAgainstChatd(t *testing.T) {
	longTest(t)
	node := k6Node(t)
	addr, _ := startChatd(t)
	url := fmt.Sprintf("ws://%s/ws", addr)
	timing := map[string]string{"URL": url, "JOIN_WAIT": "1500ms", "DURATION": "1500ms", "DRAIN": "1s", "P99_MS": k6P99}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range timing {
			env[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}

	t.Run("fanout", func(t *testing.T) {
		t.Parallel()
		const clients, rooms = 6, 2
		r := runK6(t, node, "k6/fanout.js", with("CLIENTS", fmt.Sprint(clients), "ROOMS", fmt.Sprint(rooms), "RATE", "4"))
		r.requirePass(t, "upgraded (101)")
		requireJoined(t, r, clients)
		sent := r.count("chat_sent")
		// Each room has clients/rooms members: every message goes to the other members.
		wantExpected := sent * (clients/rooms - 1)
		requireDelivered(t, r, wantExpected)
		if sent < clients*4 || r.count("chat_echoes") != sent {
			t.Fatalf("sent %v (want at least %d: every member sends for 1.5s at 4/s), echoes %v\n%s", sent, clients*4, r.count("chat_echoes"), r.output)
		}
	})

	t.Run("bigroom", func(t *testing.T) {
		t.Parallel()
		const clients = 5
		r := runK6(t, node, "k6/bigroom.js", with("CLIENTS", fmt.Sprint(clients), "TOTAL_RATE", "10"))
		r.requirePass(t, "upgraded (101)")
		requireJoined(t, r, clients)
		sent := r.count("chat_sent")
		requireDelivered(t, r, sent*(clients-1))
		if sent == 0 || r.count("chat_echoes") != sent {
			t.Fatalf("sent %v, echoes %v\n%s", sent, r.count("chat_echoes"), r.output)
		}
		if seen := r.Metrics["chat_all_joins_seen"].Values["count"]; seen != clients {
			t.Fatalf("%v of %d members saw the room full\n%s", seen, clients, r.output)
		}
	})
}

// requireJoined checks that every VU reported its join (chat_join_latency has one sample each).
func requireJoined(t *testing.T, r *k6Result, clients int) {
	t.Helper()
	if n := r.Metrics["chat_join_latency"].Values["count"]; n != float64(clients) {
		t.Fatalf("%v of %d VUs joined\n%s", n, clients, r.output)
	}
}

// requireDelivered checks a run's accounting: messages arrived (received > 0), exactly as many
// as expected (the script's chat_expected, and the caller's own count of it), none late or
// duplicated, none unparsable or from outside the run, no error from the server.
func requireDelivered(t *testing.T, r *k6Result, wantExpected float64) {
	t.Helper()
	got, exp := r.count("chat_received"), r.count("chat_expected")
	if got == 0 || got != exp || exp != wantExpected || r.count("chat_out_of_order") != 0 ||
		r.count("chat_foreign") != 0 || r.count("chat_server_errors") != 0 {
		t.Fatalf("received %v, expected %v (want %v), out of order %v, foreign %v, server errors %v\n%s",
			got, exp, wantExpected, r.count("chat_out_of_order"), r.count("chat_foreign"), r.count("chat_server_errors"), r.output)
	}
}
