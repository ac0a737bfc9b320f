package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/auth"
	"github.com/chatd/chatd/server/broker/memory"
	"github.com/chatd/chatd/server/hooks"
)

// A v1 connection waits for the connect hook before its greeting: the
// backend names the user (from a cookie), bounds its rooms, or refuses it
// (an error, then close 1008).
func TestHookConnectV1(t *testing.T) {
	b := newHookBackend(t)
	b.connect = func(req map[string]any, _ *http.Request) string {
		hdr, _ := req["headers"].(map[string]any)
		switch hdr["Cookie"] {
		case "sid=alice; theme=dark":
			return `{"userId":"u-alice","name":"Alice","rooms":["team-*"]}`
		case "sid=banned":
			return `{"error":{"code":"banned","message":"You are banned"}}`
		}
		return `{}`
	}
	s := startServer(t, b.configure(func(c *server.Config) { c.Hooks.ConnectHeaders = []string{"cookie", "X-Tenant"} }))

	alice := dialV1(t, s.Addr(), "token=opaque-session",
		header("Cookie", "sid=alice", "Cookie", "theme=dark", "X-Tenant", "acme", "X-Other", "not forwarded"))
	if m := alice.expect("connected"); m.str("userId") != "u-alice" {
		t.Fatalf("connected %v, want the backend's user", m)
	}
	want := map[string]any{"protocol": "v1", "addr": "127.0.0.1", "token": "opaque-session",
		"headers": map[string]any{"Cookie": "sid=alice; theme=dark", "X-Tenant": "acme"}}
	if got := b.requests("connect"); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("connect call %v, want %v", got, want)
	}
	// The backend's name wins over the join's username; its rooms bound
	// the joins.
	alice.join("team-a", "mallory")
	bob := dialV1(t, s.Addr(), "", nil) // the backend names nobody: as without the hook
	if m := bob.expect("connected"); len(m.str("userId")) != 10 {
		t.Fatalf("connected %v, want a random id", m)
	}
	bob.join("team-a", "bob")
	if m := alice.expect("userJoined"); m.str("username") != "bob" {
		t.Fatalf("userJoined %v", m)
	}
	alice.send(map[string]string{"type": "join", "roomId": "general", "username": "x"})
	alice.expectError("Not allowed in room general", "forbidden")
	sendChat(alice, "still in team-a")
	if m := bob.expect("message"); m.str("username") != "Alice" || m.str("userId") != "u-alice" || m.str("content") != "still in team-a" {
		t.Fatalf("bob got %v", m)
	}

	banned := dialV1(t, s.Addr(), "", header("Cookie", "sid=banned"))
	banned.expectError("You are banned", "banned")
	expectCloseWith(t, banned.ws, 1008, "connect refused")
	if n := hookMetric(t, s, `chatd_hook_calls_total{hook="connect",result="refused"}`); n != 1 {
		t.Fatalf("refused connects %v, want 1", n)
	}
	if n := hookMetric(t, s, `chatd_error_replies_total{code="hook_refused"}`); n != 1 {
		t.Fatalf("error replies for the refusal %v, want 1 under hook_refused", n)
	}
}

// A v2 connection meets the connect hook at hello: the backend names the
// user (no name needed), or admits it with a self-declared name, or
// refuses it (the error to hello, then close 1008). Requests sent behind
// hello wait for it, in order.
func TestHookConnectV2(t *testing.T) {
	b := newHookBackend(t)
	b.connect = func(req map[string]any, _ *http.Request) string {
		switch {
		case req["token"] == "good":
			return `{"userId":"u-1","name":"Uno"}`
		case req["token"] == "stale":
			return `{"error":{"code":"invalid_session","message":"Session expired"}}`
		case req["name"] == "guest":
			return `{"rooms":["lobby"]}`
		}
		return `{}`
	}
	s := startServer(t, b.configure(func(c *server.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}))

	c := dialV2With(t, s.Addr(), header("X-Forwarded-For", "203.0.113.9"))
	c.send(map[string]any{"type": "hello", "id": 1, "token": "good"})
	c.send(map[string]any{"type": "join", "id": 2, "roomId": "general"})
	if m := c.read(); m.str("type") != "ok" || m.num("id") != 1 || m.str("userId") != "u-1" || m.str("name") != "Uno" {
		t.Fatalf("hello: %v", m)
	}
	if m := c.read(); m.str("type") != "ok" || m.num("id") != 2 || m.str("roomId") != "general" {
		t.Fatalf("join behind hello: %v", m)
	}
	want := map[string]any{"protocol": "v2", "addr": "203.0.113.9", "token": "good"}
	if got := b.requests("connect"); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("connect call %v, want %v", got, want)
	}

	// Nobody named, no name: hello is refused, and may be said again.
	e := dialV2(t, s.Addr())
	e.callError(map[string]any{"type": "hello"}, "missing_field")
	if ok := e.call(map[string]any{"type": "hello", "name": "eve"}); ok.str("name") != "eve" || len(ok.str("userId")) != 10 {
		t.Fatalf("hello %v", ok)
	}
	// A bad name is refused before the backend is asked.
	calls := len(b.requests("connect"))
	e2 := dialV2(t, s.Addr())
	e2.callError(map[string]any{"type": "hello", "name": "a\u0007"}, "control_chars")
	if n := len(b.requests("connect")); n != calls {
		t.Fatalf("the backend was asked about a bad name")
	}

	// Admitted with a rooms list: only those rooms.
	g := dialV2(t, s.Addr())
	g.call(map[string]any{"type": "hello", "name": "guest"})
	g.join("lobby")
	g.callError(map[string]any{"type": "join", "roomId": "general"}, "forbidden")

	// Refused: the backend's code and message, then 1008.
	r := dialV2(t, s.Addr())
	m := r.callError(map[string]any{"type": "hello", "token": "stale"}, "invalid_session")
	if m.str("message") != "Session expired" {
		t.Fatalf("refusal %v", m)
	}
	expectCloseWith(t, r.ws, 1008, "connect refused")
}

// Requests that a connection sent while its connect call was out are
// handled after the answer, in order, or, when it refused the connection,
// not at all. The upgrade's details are kept only until the connection is
// identified (or gone).
func TestHookConnectQueuedRequestsAndPending(t *testing.T) {
	held := newHold(`{"error":{"code":"banned","message":"Banned"}}`)
	b := newHookBackend(t)
	b.connect = func(req map[string]any, r *http.Request) string {
		if req["protocol"] == "v1" {
			return held.fn(req, r)
		}
		return `{}`
	}
	b.join = always(`{}`)
	// One worker per hook: the join calls reach the backend in the order
	// they are made.
	s := startServer(t, b.configure(func(c *server.Config) { c.Hooks.MaxInFlight = 1 }))
	const pending = `chatd_hook_connect_pending`
	v1 := dialV1(t, s.Addr(), "", nil)
	<-held.arrived
	in := hookMetric(t, s, `chatd_messages_in_total`)
	v1.send(map[string]string{"type": "join", "roomId": "r", "username": "x"})
	waitFor(t, 5*time.Second, "the join to be received", func() bool {
		return hookMetric(t, s, `chatd_messages_in_total`) == in+1
	})
	if n := hookMetric(t, s, pending); n != 1 {
		t.Fatalf("%s = %v with one v1 connection waiting, want 1", pending, n)
	}
	close(held.release)
	v1.expectError("Banned", "banned")
	expectCloseWith(t, v1.ws, 1008, "connect refused") // no roomJoined before it
	// A join made after the refusal is the backend's first.
	later := connectV2(t, s.Addr(), "later")
	later.join("r")
	if got := b.requests("join"); len(got) != 1 || got[0]["name"] != "later" {
		t.Fatalf("join calls %v: a refused connection's join was handled", got)
	}

	a, c := dialV2(t, s.Addr()), dialV2(t, s.Addr()) // ("later" said hello: it is not pending)
	waitFor(t, 5*time.Second, "two v2 connections pending", func() bool { return hookMetric(t, s, pending) == 2 })
	a.call(map[string]any{"type": "hello", "name": "a"})
	if n := hookMetric(t, s, pending); n != 1 {
		t.Fatalf("%s = %v after a hello, want 1", pending, n)
	}
	c.ws.Close()
	waitFor(t, 5*time.Second, "a closed connection forgotten", func() bool { return hookMetric(t, s, pending) == 0 })
}

// With -auth optional, a verified token names its user and the connect
// hook is not asked; connections without a token are the hook's. With
// -auth required every connection has a token: a connect hook is refused
// at start.
func TestHookConnectWithAuth(t *testing.T) {
	b := newHookBackend(t)
	b.connect = func(req map[string]any, _ *http.Request) string {
		if hdr, _ := req["headers"].(map[string]any); hdr["Cookie"] == "sid=1" {
			return `{"userId":"cookie-user"}`
		}
		return `{}`
	}
	s := startServer(t, withAuth(server.AuthOptional, b.configure(func(c *server.Config) {
		c.Hooks.ConnectHeaders = []string{"Cookie"}
		c.GuestRooms, _ = parseRooms("lobby")
	})))
	tok := dialToken(t, s.Addr(), mint(t, "alice", time.Hour, nil))
	if tok.userID != "alice" {
		t.Fatalf("token user %q", tok.userID)
	}
	_, ok := helloToken(t, s.Addr(), mint(t, "bob", time.Hour, nil))
	if ok.str("userId") != "bob" {
		t.Fatalf("hello %v", ok)
	}
	if n := len(b.requests("connect")); n != 0 {
		t.Fatalf("the connect hook was asked %d times about token connections", n)
	}
	cookie := dialV1(t, s.Addr(), "", header("Cookie", "sid=1"))
	if m := cookie.expect("connected"); m.str("userId") != "cookie-user" {
		t.Fatalf("connected %v", m)
	}
	cookie.join("general", "x") // a user the backend named is no guest
	guest := dialV1(t, s.Addr(), "", nil)
	guest.expect("connected")
	guest.send(map[string]string{"type": "join", "roomId": "general", "username": "g"})
	guest.expectError("Not allowed in room general", "forbidden")
	guest.join("lobby", "g")
	if n := hookMetric(t, s, `chatd_hook_connect_pending`); n != 0 {
		t.Fatalf("%v connections pending: a token's hello must drop the upgrade's details", n)
	}

	_, err := server.New(server.Config{Addr: "127.0.0.1:0", Broker: memory.New(memory.Options{}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Auth: server.AuthRequired,
		AuthKeys: auth.Options{Secret: testSecret}, Hooks: hooks.Config{Secret: hookSecret, Connect: hooks.Endpoint{URL: b.URL}}})
	if err == nil || !strings.Contains(err.Error(), "-auth required") {
		t.Fatalf("connect hook with -auth required: %v", err)
	}
}

// The join hook refuses one room: v2 gets the backend's error; a v1
// connection refused stays in the room it was in.
func TestHookJoinRefusedForOneRoom(t *testing.T) {
	b := newHookBackend(t)
	b.join = func(req map[string]any, _ *http.Request) string {
		if req["roomId"] == "secret" {
			return `{"error":{"code":"private_room","message":"Members only"}}`
		}
		return `{}`
	}
	s := startServer(t, b.configure())
	alice := connectV2(t, s.Addr(), "alice")
	alice.join("general")
	m := alice.callError(map[string]any{"type": "join", "roomId": "secret"}, "private_room")
	if m.str("message") != "Members only" {
		t.Fatalf("refusal %v", m)
	}
	bob := connect(t, s)
	bob.join("general", "bob")
	alice.expect("joined")
	bob.send(map[string]string{"type": "join", "roomId": "secret", "username": "bobby"})
	bob.expectError("Members only", "private_room")
	sendChat(bob, "still here")
	// No left came before the message: bob never left general.
	if m := alice.read(); m.str("type") != "message" || m.str("content") != "still here" || m.str("name") != "bob" {
		t.Fatalf("alice got %v", m)
	}
	got := b.requests("join")
	want := []map[string]any{
		{"userId": alice.userID, "name": "alice", "roomId": "general"},
		{"userId": alice.userID, "name": "alice", "roomId": "secret"},
		{"userId": bob.userID, "name": "bob", "roomId": "general"},
		{"userId": bob.userID, "name": "bobby", "roomId": "secret"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("join calls\n%v\nwant\n%v", got, want)
	}
}

// The publish hook refuses a message (the publisher gets the code; nothing
// is stored or delivered) or replaces its content: the other members
// receive the replacement, the v1 sender's echo and the v2 sender's ok
// carry it, and the history holds it.
func TestHookPublishRefusedAndRewritten(t *testing.T) {
	b := newHookBackend(t)
	b.publish = func(req map[string]any, _ *http.Request) string {
		content := req["content"].(string)
		switch {
		case strings.Contains(content, "spam"):
			return `{"error":{"code":"spam","message":"No spam"}}`
		case strings.Contains(content, "darn"):
			out, _ := json.Marshal(map[string]string{"content": strings.ReplaceAll(content, "darn", "****")})
			return string(out)
		}
		return `{}`
	}
	s := startServer(t, b.configure())
	alice := connectV2(t, s.Addr(), "alice")
	bob := connectV2(t, s.Addr(), "bob")
	carol := connect(t, s)
	alice.join("r")
	bob.join("r")
	carol.join("r", "carol")
	alice.expect("joined") // bob
	alice.expect("joined") // carol
	bob.expect("joined")   // carol

	m := alice.callError(map[string]any{"type": "publish", "roomId": "r", "content": "buy spam"}, "spam")
	if m.str("message") != "No spam" {
		t.Fatalf("refusal %v", m)
	}
	ok := alice.publish("r", "oh darn")
	if ok.str("content") != "oh ****" || ok.num("offset") != 1 {
		t.Fatalf("publish ok %v: want the replacement, and offset 1 (the refused one was not stored)", ok)
	}
	if p := alice.publish("r", "plain"); p.str("content") != "" || p.num("offset") != 2 {
		t.Fatalf("publish ok %v: no content when not replaced", p)
	}
	for _, want := range []string{"oh ****", "plain"} {
		if m := bob.expect("message"); m.str("content") != want {
			t.Fatalf("bob got %v, want %q", m, want)
		}
		if m := carol.expect("message"); m.str("content") != want {
			t.Fatalf("carol got %v, want %q", m, want)
		}
	}
	carol.send(map[string]string{"type": "message", "content": "darn it"})
	if m := carol.expect("message"); m.str("content") != "**** it" {
		t.Fatalf("carol's echo %v, want the replacement", m)
	}
	carol.send(map[string]string{"type": "message", "content": "more spam"})
	carol.expectError("No spam", "spam")
	carol.send(map[string]string{"type": "message", "content": "fine"})
	if m := carol.expect("message"); m.str("content") != "fine" {
		t.Fatalf("carol's echo %v: a refused message has no echo", m)
	}
	for _, want := range []string{"**** it", "fine"} {
		if m := bob.expect("message"); m.str("content") != want {
			t.Fatalf("bob got %v, want %q", m, want)
		}
	}
	h := bob.call(map[string]any{"type": "history", "roomId": "r"})
	var contents []string
	for _, e := range h["messages"].([]any) {
		contents = append(contents, e.(map[string]any)["content"].(string))
	}
	if want := []string{"oh ****", "plain", "**** it", "fine"}; !reflect.DeepEqual(contents, want) {
		t.Fatalf("history %q, want %q", contents, want)
	}
	first := b.requests("publish")[0]
	if want := map[string]any{"userId": alice.userID, "name": "alice", "roomId": "r", "content": "buy spam"}; !reflect.DeepEqual(first, want) {
		t.Fatalf("publish call %v, want %v", first, want)
	}
}

// A backend that does not answer in time, and one that is down: each hook
// follows its policy (refuse: service_unavailable, and for connect the
// close 1013; allow: as if the backend had said yes), counted by reason
// and policy.
func TestHookFailuresFollowPolicy(t *testing.T) {
	hang := newHold(`{}`) // never released: every call times out
	b := newHookBackend(t)
	b.connect, b.join, b.publish = hang.fn, hang.fn, hang.fn
	// A backend that drops every connection unanswered. (Not a closed port:
	// another test's listener may take it meanwhile.)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	down := "http://" + ln.Addr().String()

	// The timeout case waits out 100 ms; the failing one gets 10 s, so that a
	// busy machine (CI's race pass) cannot turn its error into a timeout.
	for _, fc := range []struct {
		failure, url string
		timeout      time.Duration
	}{{"timeout", b.URL, 100 * time.Millisecond}, {"error", down, 10 * time.Second}} {
		for _, policy := range []hooks.Policy{hooks.Refuse, hooks.Allow} {
			t.Run(fc.failure+"/"+string(policy), func(t *testing.T) {
				set := func(hook string) func(*server.Config) {
					return func(c *server.Config) {
						ep := hooks.Endpoint{URL: fc.url + "/" + hook, Timeout: fc.timeout, OnFailure: policy}
						c.Hooks.Secret = hookSecret
						switch hook {
						case "connect":
							c.Hooks.Connect = ep
						case "join":
							c.Hooks.Join = ep
						case "publish":
							c.Hooks.Publish = ep
						}
					}
				}
				// Connect, on a node with that hook only.
				cs := startServer(t, set("connect"))
				v2c := dialV2(t, cs.Addr())
				v1c := dialV1(t, cs.Addr(), "", nil)
				if policy == hooks.Refuse {
					m := v2c.callError(map[string]any{"type": "hello", "name": "a"}, "service_unavailable")
					if m.str("message") != "Connect failed: service unavailable" {
						t.Fatalf("hello refused %v", m)
					}
					expectCloseWith(t, v2c.ws, 1013, "try again later")
					v1c.expectError("Connect failed: service unavailable", "service_unavailable")
					expectCloseWith(t, v1c.ws, 1013, "try again later")
				} else {
					if ok := v2c.call(map[string]any{"type": "hello", "name": "a"}); ok.str("name") != "a" {
						t.Fatalf("hello %v", ok)
					}
					v1c.expect("connected")
				}
				key := fmt.Sprintf(`chatd_hook_failures_total{hook="connect",policy="%s",reason="%s"}`, policy, fc.failure)
				if n := hookMetric(t, cs, key); n != 2 {
					t.Fatalf("%s = %v, want 2", key, n)
				}

				// Join and publish, on a node with those hooks.
				s := startServer(t, func(c *server.Config) { set("join")(c); set("publish")(c) })
				alice := connectV2(t, s.Addr(), "alice")
				if policy == hooks.Refuse {
					m := alice.callError(map[string]any{"type": "join", "roomId": "r"}, "service_unavailable")
					if m.str("message") != "Join failed: service unavailable" {
						t.Fatalf("join refused %v", m)
					}
					return // no room to publish in
				}
				alice.join("r")
				bob := connect(t, s)
				bob.join("r", "bob")
				alice.expect("joined")
				sendChat(bob, "hi")
				if m := alice.expect("message"); m.str("content") != "hi" {
					t.Fatalf("alice got %v", m)
				}
				for hook, want := range map[string]float64{"join": 2, "publish": 1} {
					key := fmt.Sprintf(`chatd_hook_failures_total{hook="%s",policy="allow",reason="%s"}`, hook, fc.failure)
					if n := hookMetric(t, s, key); n != want {
						t.Fatalf("%s = %v, want %v", key, n, want)
					}
				}
			})
		}
	}
	t.Run("publish refused", func(t *testing.T) {
		b := newHookBackend(t)
		b.join = always(`{}`)
		b.publish = func(map[string]any, *http.Request) string { return "not json" } // an answer chatd cannot use
		s := startServer(t, b.configure())
		alice := connectV2(t, s.Addr(), "alice")
		alice.join("r")
		m := alice.callError(map[string]any{"type": "publish", "roomId": "r", "content": "x"}, "service_unavailable")
		if m.str("message") != "Message not delivered: service unavailable" {
			t.Fatalf("publish refused %v", m)
		}
		v1 := connect(t, s)
		v1.join("r", "v")
		v1.send(map[string]string{"type": "message", "content": "x"})
		v1.expectError("Message not delivered: service unavailable", "service_unavailable")
		key := `chatd_hook_failures_total{hook="publish",policy="refuse",reason="invalid"}`
		if n := hookMetric(t, s, key); n != 2 {
			t.Fatalf("%s = %v, want 2", key, n)
		}
	})
}

// A backend that stalls under many connections: chatd holds exactly the
// configured calls (in flight and queued), refuses the rest at once, and
// every connection that does not wait for it goes on: established members
// chat, and another room's publishes pass while one room's are held.
func TestHookSlowBackendManyConnections(t *testing.T) {
	t.Run("connect storm", func(t *testing.T) {
		held := newHold(`{}`)
		b := newHookBackend(t)
		b.connect = func(req map[string]any, r *http.Request) string {
			if hdr, _ := req["headers"].(map[string]any); hdr["Cookie"] == "early" {
				return `{}`
			}
			return held.fn(req, r)
		}
		s := startServer(t, b.configure(func(c *server.Config) {
			c.Hooks.ConnectHeaders = []string{"Cookie"}
			c.Hooks.MaxInFlight, c.Hooks.MaxQueued, c.Hooks.MaxPerKey = 2, 3, 1000
			c.Hooks.Connect.Timeout = time.Minute
		}))
		p := dialV1(t, s.Addr(), "", header("Cookie", "early"))
		q := dialV1(t, s.Addr(), "", header("Cookie", "early"))
		p.expect("connected")
		q.expect("connected")
		p.join("other", "p")
		q.join("other", "q")
		p.expect("userJoined")

		var storm []*v2client
		hello := func() {
			c := dialV2(t, s.Addr())
			c.send(map[string]any{"type": "hello", "id": 1, "name": "n"})
			storm = append(storm, c)
		}
		hello()
		hello()
		<-held.arrived
		<-held.arrived // both slots are at the backend
		for range 28 {
			hello()
		}
		waitFor(t, 10*time.Second, "25 overload refusals", func() bool {
			return hookMetric(t, s, `chatd_hook_failures_total{hook="connect",policy="refuse",reason="overload"}`) == 25
		})
		m := scrape(t, s)
		if m[`chatd_hook_in_flight{hook="connect"}`] != 2 || m[`chatd_hook_queued{hook="connect"}`] != 3 {
			t.Fatalf("in flight %v, queued %v: want 2 and 3", m[`chatd_hook_in_flight{hook="connect"}`],
				m[`chatd_hook_queued{hook="connect"}`])
		}
		// Established members are not held up.
		for i := range 5 {
			sendChat(p, fmt.Sprint("m", i))
			if m := q.expect("message"); m.str("content") != fmt.Sprint("m", i) {
				t.Fatalf("q got %v", m)
			}
		}
		close(held.release)
		oks, refused := 0, 0
		for _, c := range storm {
			switch m := c.read(); {
			case m.str("type") == "ok":
				oks++
			case m.str("code") == "service_unavailable":
				refused++
				expectCloseWith(t, c.ws, 1013, "try again later")
			default:
				t.Fatalf("hello answered %v", m)
			}
		}
		if oks != 5 || refused != 25 {
			t.Fatalf("%d admitted and %d refused, want 5 and 25", oks, refused)
		}
		if n := len(b.requests("connect")); n != 2+5 {
			t.Fatalf("the backend got %d calls, want 7 (2 early, 5 of the storm)", n)
		}
	})

	t.Run("one room's publishes held", func(t *testing.T) {
		held := newHold(`{}`)
		b := newHookBackend(t)
		b.publish = func(req map[string]any, r *http.Request) string {
			if req["roomId"] == "slow" {
				return held.fn(req, r)
			}
			return `{}`
		}
		s := startServer(t, b.configure(func(c *server.Config) {
			c.Hooks.MaxInFlight, c.Hooks.MaxPerKey = 4, 2
			c.Hooks.Publish.Timeout = time.Minute
		}))
		var slow []*v2client
		for i := range 6 {
			c := connectV2(t, s.Addr(), fmt.Sprint("s", i))
			c.join("slow")
			slow = append(slow, c)
		}
		f1, f2 := connectV2(t, s.Addr(), "f1"), connectV2(t, s.Addr(), "f2")
		f1.join("fast")
		f2.join("fast")
		f1.expect("joined")
		for _, c := range slow {
			c.send(map[string]any{"type": "publish", "id": 100, "roomId": "slow", "content": "x"})
		}
		<-held.arrived
		<-held.arrived
		waitFor(t, 10*time.Second, "4 overload refusals", func() bool {
			return hookMetric(t, s, `chatd_hook_failures_total{hook="publish",policy="refuse",reason="overload"}`) == 4
		})
		for i := range 5 {
			if ok := f1.publish("fast", fmt.Sprint("f", i)); ok.num("offset") != i+1 {
				t.Fatalf("fast publish %v", ok)
			}
			if m := f2.expect("message"); m.str("content") != fmt.Sprint("f", i) {
				t.Fatalf("f2 got %v", m)
			}
		}
		close(held.release)
		oks, refused := 0, 0
		for _, c := range slow {
			var reply msg
			for reply == nil {
				if m := c.read(); m.num("id") == 100 {
					reply = m
				}
			}
			switch {
			case reply.str("type") == "ok":
				oks++
			case reply.str("code") == "service_unavailable":
				refused++
			default:
				t.Fatalf("publish answered %v", reply)
			}
		}
		if oks != 2 || refused != 4 {
			t.Fatalf("%d published and %d refused, want 2 and 4", oks, refused)
		}
	})
}

// The server API's disconnect closes every connection of a user the
// connect hook named (as it does a token's), and only those.
func TestHookNamedUserDisconnectedByAPI(t *testing.T) {
	b := newHookBackend(t)
	b.connect = func(req map[string]any, _ *http.Request) string {
		hdr, _ := req["headers"].(map[string]any)
		return `{"userId":"` + hdr["Cookie"].(string) + `"}`
	}
	s := startServer(t, b.configure(withAPIKey, func(c *server.Config) { c.Hooks.ConnectHeaders = []string{"Cookie"} }))
	a := startAPI(t, s)
	v1 := dialV1(t, s.Addr(), "", header("Cookie", "u-42"))
	v1.expect("connected")
	v2 := dialV2With(t, s.Addr(), header("Cookie", "u-42"))
	v2.call(map[string]any{"type": "hello"})
	other := dialV2With(t, s.Addr(), header("Cookie", "u-7"))
	if ok := other.call(map[string]any{"type": "hello"}); ok.str("userId") != "u-7" {
		t.Fatalf("hello %v", ok)
	}
	a.ok("POST", "/api/users/u-42/disconnect", "")
	expectCloseWith(t, v1.ws, 1008, "disconnected by the server")
	expectCloseWith(t, v2.ws, 1008, "disconnected by the server")
	other.join("still-here")
}

// A session the connect hook identified is past its hello deadline: it
// stays open (a session whose hello went through the hook was closed 4002
// at -hello-timeout). The deadline is awaited as an event: a connection
// opened after the hello, which never says hello, is closed at its own
// later deadline; the identified one is still served after that.
func TestHookConnectClearsHelloDeadline(t *testing.T) {
	b := newHookBackend(t)
	b.connect = func(req map[string]any, _ *http.Request) string {
		if req["token"] == "good" {
			return `{"userId":"u-1","name":"Uno"}`
		}
		return `{}`
	}
	s := startServer(t, b.configure(func(c *server.Config) { c.HelloTimeout = 300 * time.Millisecond }))
	named := dialV2(t, s.Addr())
	if ok := named.call(map[string]any{"type": "hello", "token": "good"}); ok.str("userId") != "u-1" {
		t.Fatalf("hello through the hook: %v", ok)
	}
	guest := dialV2(t, s.Addr())
	if ok := guest.call(map[string]any{"type": "hello", "name": "gus"}); ok.str("name") != "gus" {
		t.Fatalf("hello of a guest through the hook: %v", ok)
	}
	silent := dialV2(t, s.Addr())
	expectClose(t, silent.ws, 4002)
	named.join("still-here")
	guest.join("still-here")
	if got := scrape(t, s)["chatd_session_deadline_closes_total"]; got != 1 {
		t.Fatalf("%v deadline closes counted, want 1 (the silent connection)", got)
	}
}
