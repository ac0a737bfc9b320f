package bench

import (
	"fmt"
	"testing"
)

// v2 k6 script parameters for the tests: 6 connections, each in 2 of 3 rooms, so every room has
// 4 members and every publish has 3 receivers.
const (
	v2Clients, v2Rooms, v2PerClient = 6, 3, 2
	v2Receivers                     = v2Clients*v2PerClient/v2Rooms - 1
)

func v2Env(url string) map[string]string {
	return map[string]string{"URL": url, "CLIENTS": fmt.Sprint(v2Clients), "ROOMS": fmt.Sprint(v2Rooms),
		"ROOMS_PER_CLIENT": fmt.Sprint(v2PerClient), "RATE": "4", "JOIN_WAIT": "1500ms", "DURATION": "1500ms", "DRAIN": "1s", "P99_MS": k6P99}
}

var v2Checks = []string{"upgraded (101)", "subprotocol chatd.v2", "hello answered first", "joined every room", "every request answered"}

// v2Target is the server TestK6FanoutV2Script runs the v2 script against: a live chatd (the fake
// is kept for TestK6FanoutV2ScriptNoticesABadServer, whose faults chatd does not make).
func v2Target(t *testing.T) (url string, fake *fakeV2Server) {
	addr, _ := startChatd(t)
	return "ws://" + addr + "/ws", nil
}

// TestK6FanoutV2Script runs bench/k6/fanout-v2.js under the shim. Its checks and threshold must
// pass; by its own accounting every publish is answered and every push arrives, in its room, in
// order, never back to its publisher; against the fake, its counts equal what the fake wrote.
func TestK6FanoutV2Script(t *testing.T) {
	longTest(t)
	t.Parallel()
	node := k6Node(t)
	url, fake := v2Target(t)
	r := runK6(t, node, "k6/fanout-v2.js", v2Env(url))
	r.requirePass(t, v2Checks...)
	requireJoined(t, r, v2Clients)
	sent := r.count("chat_sent")
	requireDelivered(t, r, sent*v2Receivers)
	if sent < v2Clients*4 || r.count("chat_acks") != sent {
		t.Fatalf("sent %v (want at least %d), acks %v\n%s", sent, v2Clients*4, r.count("chat_acks"), r.output)
	}
	if r.count("chat_echoes") != 0 || r.count("chat_stray") != 0 || r.count("chat_bad_replies") != 0 || r.count("chat_unanswered") != 0 {
		t.Fatalf("echoes %v, stray %v, bad replies %v, unanswered %v\n%s", r.count("chat_echoes"), r.count("chat_stray"),
			r.count("chat_bad_replies"), r.count("chat_unanswered"), r.output)
	}
	if fake != nil {
		if publishes, pushes, _, _ := fake.counts(); float64(publishes) != sent || float64(pushes) != r.count("chat_received") {
			t.Fatalf("script: sent %v, received %v; fake server: %d publishes, %d pushes\n%s",
				sent, r.count("chat_received"), publishes, pushes, r.output)
		}
	}
}

// TestK6FanoutV2ScriptNoticesABadServer runs the v2 script against a fake that pushes messages
// back to their publisher, drops some pushes and leaves a publish per connection unanswered: the
// script must count each of these exactly and fail its check, and the shim must fail the run.
func TestK6FanoutV2ScriptNoticesABadServer(t *testing.T) {
	longTest(t)
	t.Parallel()
	node := k6Node(t)
	fs := newFakeV2Server(t, true)
	r := runK6(t, node, "k6/fanout-v2.js", v2Env(fs.url()))
	_, pushes, echoes, dropped := fs.counts()
	sent := r.count("chat_sent")
	if r.exit != 1 || dropped == 0 || echoes == 0 {
		t.Fatalf("shim exit %d (want 1: a check failed), server dropped %d, echoed %d\n%s", r.exit, dropped, echoes, r.output)
	}
	if r.count("chat_echoes") != float64(echoes) || r.count("chat_received") != float64(pushes) ||
		r.count("chat_expected") != sent*v2Receivers || r.count("chat_unanswered") != v2Clients ||
		r.count("chat_acks") != sent-v2Clients {
		t.Fatalf("script counted echoes %v (server %d), received %v (server %d), expected %v of %v sent, unanswered %v (want %d), acks %v\n%s",
			r.count("chat_echoes"), echoes, r.count("chat_received"), pushes, r.count("chat_expected"), sent,
			r.count("chat_unanswered"), v2Clients, r.count("chat_acks"), r.output)
	}
	for _, c := range r.RootGroup.Checks {
		if c.Name == "every request answered" && c.Fails != v2Clients {
			t.Fatalf("check %q failed %d times, want %d", c.Name, c.Fails, v2Clients)
		}
	}
}
