package hooks

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const testSecret = "hook-secret-0123456789"

// backend is a test backend: it records each call and answers with the
// function of the call's hook.
type backend struct {
	*httptest.Server
	mu    sync.Mutex
	calls []recorded
	reply func(hook string, body map[string]any, w http.ResponseWriter, r *http.Request)
}

type recorded struct {
	hook   string
	header http.Header
	body   string
}

func newBackend(t *testing.T, reply func(hook string, body map[string]any, w http.ResponseWriter, r *http.Request)) *backend {
	t.Helper()
	b := &backend{reply: reply}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		hook := strings.TrimPrefix(r.URL.Path, "/")
		b.mu.Lock()
		b.calls = append(b.calls, recorded{hook, r.Header.Clone(), string(raw)})
		b.mu.Unlock()
		b.reply(hook, body, w, r)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) recorded() []recorded {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]recorded(nil), b.calls...)
}

// answerWith is a reply function that writes body with status 200.
func answerWith(body string) func(string, map[string]any, http.ResponseWriter, *http.Request) {
	return func(_ string, _ map[string]any, w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, body)
	}
}

// newClient starts hooks against b (every hook on) with mod applied.
func newClient(t *testing.T, b *backend, mod func(*Config)) (*Client, *prometheus.Registry) {
	t.Helper()
	cfg := Config{Connect: Endpoint{URL: b.URL + "/connect"}, Join: Endpoint{URL: b.URL + "/join"},
		Publish: Endpoint{URL: b.URL + "/publish"}, Secret: testSecret, NodeID: "node-1",
		Limits: Limits{UserIDBytes: 128, NameBytes: 64, RoomIDBytes: 128, Rooms: 256}}
	if mod != nil {
		mod(&cfg)
	}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, reg
}

// connectNow, joinNow, publishNow make a call and wait for its decision.
func connectNow(c *Client, req *ConnectRequest) *ConnectResult {
	ch := make(chan *ConnectResult, 1)
	c.Connect(req, func(r *ConnectResult) { ch <- r })
	return <-ch
}

func joinNow(c *Client, req *JoinRequest) *Result {
	ch := make(chan *Result, 1)
	c.Join(req, func(r *Result) { ch <- r })
	return <-ch
}

func publishNow(c *Client, req *PublishRequest) *PublishResult {
	ch := make(chan *PublishResult, 1)
	c.Publish(req, func(r *PublishResult) { ch <- r })
	return <-ch
}

// Every call is a POST of the documented JSON, with the secret, the hook
// and the node in its headers.
func TestHookRequestsCarrySecretAndExactJSON(t *testing.T) {
	b := newBackend(t, answerWith(`{}`))
	c, _ := newClient(t, b, nil)
	connectNow(c, &ConnectRequest{Protocol: "v2", Addr: "203.0.113.7", Name: "alice", Token: "tok",
		Headers: map[string]string{"Cookie": "sid=1"}})
	connectNow(c, &ConnectRequest{Protocol: "v1", Addr: "203.0.113.8"})
	joinNow(c, &JoinRequest{UserID: "u1", Name: "alice", RoomID: "general", RoomName: "General"})
	publishNow(c, &PublishRequest{UserID: "u1", Name: "alice", RoomID: "general", Content: "hi <b>&"})
	want := []struct{ hook, body string }{
		{"connect", `{"protocol":"v2","addr":"203.0.113.7","name":"alice","token":"tok","headers":{"Cookie":"sid=1"}}`},
		{"connect", `{"protocol":"v1","addr":"203.0.113.8"}`},
		{"join", `{"userId":"u1","name":"alice","roomId":"general","roomName":"General"}`},
		{"publish", `{"userId":"u1","name":"alice","roomId":"general","content":"hi <b>&"}`},
	}
	got := b.recorded()
	if len(got) != len(want) {
		t.Fatalf("%d calls, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.hook != w.hook || g.body != w.body {
			t.Errorf("call %d: %s %s, want %s %s", i, g.hook, g.body, w.hook, w.body)
		}
		for k, v := range map[string]string{"Authorization": "Bearer " + testSecret, "Content-Type": "application/json",
			"X-Chatd-Hook": w.hook, "X-Chatd-Node": "node-1", "User-Agent": "chatd-hooks"} {
			if g.header.Get(k) != v {
				t.Errorf("call %d: %s %q, want %q", i, k, g.header.Get(k), v)
			}
		}
	}
}

// The answers of the connect hook, and what each decides.
func TestHookConnectAnswers(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	for _, tc := range []struct {
		name, body string
		status     int
		want       ConnectResult
		rooms      map[string]bool // rooms to check against the answer's list
	}{
		{"empty object", `{}`, 200, ConnectResult{}, nil},
		{"empty body", ``, 204, ConnectResult{}, nil},
		{"user", `{"userId":"u-42","name":"Alice","rooms":["team-*","general"]}`, 200,
			ConnectResult{UserID: "u-42", Name: "Alice", HasRooms: true}, map[string]bool{"team-a": true, "general": true, "x": false}},
		{"user without name", `{"userId":"u-42"}`, 200, ConnectResult{UserID: "u-42", Name: "u-42"}, nil},
		{"no rooms", `{"userId":"u","rooms":[]}`, 200, ConnectResult{UserID: "u", Name: "u", HasRooms: true},
			map[string]bool{"general": false}},
		{"rooms without user", `{"rooms":["lobby"]}`, 200, ConnectResult{HasRooms: true}, map[string]bool{"lobby": true, "x": false}},
		{"nulls are absent", `{"userId":null,"name":null,"error":null}`, 200, ConnectResult{}, nil},
		{"unknown fields", `{"userId":"u","extra":[1,2]}`, 200, ConnectResult{UserID: "u", Name: "u"}, nil},
		{"refusal", `{"error":{"code":"banned","message":"You are banned"}}`, 200,
			ConnectResult{Result: Result{Outcome: Refused, Code: "banned", Message: "You are banned"}}, nil},
		{"refusal without code or message", `{"error":{}}`, 200,
			ConnectResult{Result: Result{Outcome: Refused, Code: "forbidden", Message: "Connection refused"}}, nil},
		{"refusal with a bad code, a long message", `{"error":{"code":"no way!","message":"` + long + `"}}`, 200,
			ConnectResult{Result: Result{Outcome: Refused, Code: "forbidden", Message: strings.Repeat("é", 128)}}, nil},
		{"refusal wins over a user", `{"userId":"u","error":{"code":"x"}}`, 200,
			ConnectResult{Result: Result{Outcome: Refused, Code: "x", Message: "Connection refused"}}, nil},
		{"name without userId", `{"name":"Alice"}`, 200, unavailable(failInvalid), nil},
		{"system user", `{"userId":"system"}`, 200, unavailable(failInvalid), nil},
		{"blank userId", `{"userId":"  "}`, 200, unavailable(failInvalid), nil},
		{"userId too long", `{"userId":"` + strings.Repeat("u", 129) + `"}`, 200, unavailable(failInvalid), nil},
		{"control character in name", `{"userId":"u","name":"a\u0007"}`, 200, unavailable(failInvalid), nil},
		{"rooms null", `{"userId":"u","rooms":null}`, 200, unavailable(failInvalid), nil},
		{"rooms not a list", `{"userId":"u","rooms":"general"}`, 200, unavailable(failInvalid), nil},
		{"error not an object", `{"error":"no"}`, 200, unavailable(failInvalid), nil},
		{"not an object", `null`, 200, unavailable(failInvalid), nil},
		{"not JSON", `yes`, 200, unavailable(failInvalid), nil},
		{"answer too long", `{"userId":"u","pad":"` + strings.Repeat("x", MaxAnswerBytes) + `"}`, 200, unavailable(failInvalid), nil},
		{"server error", `{}`, 500, unavailable(failStatus), nil},
		{"client error", `{}`, 403, unavailable(failStatus), nil},
		{"redirect", ``, 302, unavailable(failStatus), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, func(_ string, _ map[string]any, w http.ResponseWriter, _ *http.Request) {
				if tc.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			c, _ := newClient(t, b, nil)
			r := connectNow(c, &ConnectRequest{Protocol: "v2"})
			if r.Result != tc.want.Result || r.UserID != tc.want.UserID || r.Name != tc.want.Name || r.HasRooms != tc.want.HasRooms {
				t.Fatalf("got %+v, want %+v", *r, tc.want)
			}
			for room, ok := range tc.rooms {
				if r.Rooms.Allows(room) != ok {
					t.Errorf("rooms allow %q: %v, want %v", room, !ok, ok)
				}
			}
			if n := len(b.recorded()); n != 1 {
				t.Fatalf("%d calls: a redirect must not be followed", n)
			}
		})
	}
}

func unavailable(reason string) ConnectResult {
	return ConnectResult{Result: Result{Outcome: Unavailable, Failure: reason}}
}

// The join and publish hooks: yes, no, and a publish's replacement.
func TestHookJoinAndPublishAnswers(t *testing.T) {
	var answers = map[string]string{}
	b := newBackend(t, func(hook string, body map[string]any, w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, answers[body["roomId"].(string)])
	})
	answers["open"] = `{}`
	answers["closed"] = `{"error":{"code":"private_room","message":"Members only"}}`
	answers["mute"] = `{"error":{"message":"Muted"}}`
	answers["rewrite"] = `{"content":"*** <b>"}`
	answers["blank"] = `{"content":""}`
	answers["plain"] = `{"content":null}`
	c, reg := newClient(t, b, nil)
	for _, tc := range []struct {
		room string
		want Result
	}{
		{"open", Result{}},
		{"closed", Result{Outcome: Refused, Code: "private_room", Message: "Members only"}},
		{"mute", Result{Outcome: Refused, Code: "forbidden", Message: "Muted"}},
		{"rewrite", Result{}}, // a join answer's content means nothing
	} {
		if got := *joinNow(c, &JoinRequest{UserID: "u", Name: "n", RoomID: tc.room}); got != tc.want {
			t.Errorf("join %s: %+v, want %+v", tc.room, got, tc.want)
		}
	}
	if got := *joinNow(c, &JoinRequest{UserID: "u", Name: "n", RoomID: "nomsg"}); got.Outcome != Allowed {
		t.Errorf("join with an empty answer: %+v", got)
	}
	answers["nomsg"] = `{"error":{"code":"nope"}}`
	if got := *joinNow(c, &JoinRequest{UserID: "u", Name: "n", RoomID: "nomsg"}); got.Message != "Not allowed in room nomsg" {
		t.Errorf("default join refusal: %+v", got)
	}
	for _, tc := range []struct {
		room string
		want PublishResult
	}{
		{"open", PublishResult{}},
		{"plain", PublishResult{}},
		{"rewrite", PublishResult{Content: "*** <b>", Replaced: true}},
		{"mute", PublishResult{Result: Result{Outcome: Refused, Code: "forbidden", Message: "Muted"}}},
		{"blank", PublishResult{Result: Result{Outcome: Unavailable, Failure: failInvalid}}},
	} {
		if got := *publishNow(c, &PublishRequest{UserID: "u", Name: "n", RoomID: tc.room, Content: "hi"}); got != tc.want {
			t.Errorf("publish %s: %+v, want %+v", tc.room, got, tc.want)
		}
	}
	for _, tc := range []struct {
		hook, result string
		want         float64
	}{{"join", resultAllowed, 3}, {"join", resultRefused, 3}, {"publish", resultAllowed, 2},
		{"publish", resultRewritten, 1}, {"publish", resultRefused, 1}, {"publish", resultFailed, 1}} {
		if got := counter(t, reg, "chatd_hook_calls_total", map[string]string{"hook": tc.hook, "result": tc.result}); got != tc.want {
			t.Errorf("calls %s %s = %v, want %v", tc.hook, tc.result, got, tc.want)
		}
	}
}

// A backend that does not answer in time and one that is down: the
// failure policy decides, and the metrics count each by reason and
// policy.
func TestHookTimeoutAndBackendDownFollowPolicy(t *testing.T) {
	hang := newBackend(t, func(_ string, _ map[string]any, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // until chatd gives up
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more: connection refused
	for _, policy := range []Policy{Refuse, Allow} {
		t.Run(string(policy), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			c, err := New(Config{Secret: testSecret,
				Join:    Endpoint{URL: hang.URL + "/join", Timeout: 50 * time.Millisecond, OnFailure: policy},
				Publish: Endpoint{URL: down + "/publish", OnFailure: policy}}, reg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			want := Unavailable
			if policy == Allow {
				want = Allowed
			}
			start := time.Now()
			if r := joinNow(c, &JoinRequest{RoomID: "r"}); r.Outcome != want || r.Failure != failTimeout {
				t.Errorf("join to a hanging backend: %+v", *r)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("timeout of 50ms took %v", d)
			}
			if r := publishNow(c, &PublishRequest{RoomID: "r", Content: "x"}); r.Outcome != want || r.Failure != failError || r.Replaced {
				t.Errorf("publish to a backend that is down: %+v", *r)
			}
			for _, f := range []struct{ hook, reason string }{{"join", failTimeout}, {"publish", failError}} {
				lbl := map[string]string{"hook": f.hook, "reason": f.reason, "policy": string(policy)}
				if n := counter(t, reg, "chatd_hook_failures_total", lbl); n != 1 {
					t.Errorf("failures %v = %v, want 1", lbl, n)
				}
			}
		})
	}
}

// counter reads one counter of reg by its labels.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// gate is a backend that holds every call until released, and reports
// each arrival.
type gate struct {
	arrived chan string
	release chan struct{}
}

func newGate() *gate { return &gate{arrived: make(chan string, 100), release: make(chan struct{})} }

func (g *gate) reply(_ string, body map[string]any, w http.ResponseWriter, r *http.Request) {
	room, _ := body["roomId"].(string)
	g.arrived <- room
	select {
	case <-g.release:
	case <-r.Context().Done():
	}
	_, _ = io.WriteString(w, `{}`)
}

// The bounds are exact: MaxInFlight calls at the backend, MaxQueued
// waiting, the rest refused at once (overload), under the policy.
func TestHookQueueBoundsAreExact(t *testing.T) {
	g := newGate()
	b := newBackend(t, g.reply)
	c, reg := newClient(t, b, func(cfg *Config) {
		cfg.MaxInFlight, cfg.MaxQueued, cfg.MaxPerKey = 2, 3, 100
		cfg.Join.Timeout = time.Minute
	})
	results := make(chan *Result, 20)
	join := func(room string) { c.Join(&JoinRequest{RoomID: room}, func(r *Result) { results <- r }) }
	join("a")
	join("b")
	<-g.arrived
	<-g.arrived // both workers are at the backend
	for _, room := range []string{"c", "d", "e", "f", "g", "h", "i", "j"} {
		join(room)
	}
	// 3 wait, 5 are refused at once, before anything is released.
	for range 5 {
		if r := <-results; r.Outcome != Unavailable || r.Failure != failOverload {
			t.Fatalf("over the bound: %+v", *r)
		}
	}
	if q, f := c.Stats(HookJoin); q != 3 || f != 2 {
		t.Fatalf("queued %d in flight %d, want 3 and 2", q, f)
	}
	if n := counter(t, reg, "chatd_hook_queued", map[string]string{"hook": "join"}); n != 3 {
		t.Fatalf("chatd_hook_queued = %v, want 3", n)
	}
	close(g.release)
	for range 5 {
		if r := <-results; r.Outcome != Allowed || r.Failure != "" {
			t.Fatalf("within the bound: %+v", *r)
		}
	}
	if n := counter(t, reg, "chatd_hook_failures_total", map[string]string{"hook": "join", "reason": "overload", "policy": "refuse"}); n != 5 {
		t.Fatalf("overload failures = %v, want 5", n)
	}
	if n := len(b.recorded()); n != 5 {
		t.Fatalf("the backend got %d calls, want 5", n)
	}
}

// One room cannot take more than MaxPerKey of a hook's calls: another
// room's call goes straight to a free worker while the first room's
// extra calls are refused.
func TestHookPerRoomShare(t *testing.T) {
	g := newGate()
	b := newBackend(t, g.reply)
	c, _ := newClient(t, b, func(cfg *Config) {
		cfg.MaxInFlight, cfg.MaxQueued, cfg.MaxPerKey = 4, 10, 2
		cfg.Publish.Timeout = time.Minute
	})
	slow := make(chan *PublishResult, 10)
	for range 5 {
		c.Publish(&PublishRequest{RoomID: "busy", Content: "x"}, func(r *PublishResult) { slow <- r })
	}
	for range 3 {
		if r := <-slow; r.Failure != failOverload {
			t.Fatalf("over the room's share: %+v", *r)
		}
	}
	<-g.arrived
	<-g.arrived
	// Two workers are free: another room is served at once.
	other := make(chan *PublishResult, 1)
	c.Publish(&PublishRequest{RoomID: "quiet", Content: "x"}, func(r *PublishResult) { other <- r })
	if room := <-g.arrived; room != "quiet" {
		t.Fatalf("backend got room %q, want quiet", room)
	}
	close(g.release)
	if r := <-other; r.Outcome != Allowed {
		t.Fatalf("quiet room: %+v", *r)
	}
	for range 2 {
		if r := <-slow; r.Outcome != Allowed {
			t.Fatalf("busy room within its share: %+v", *r)
		}
	}
}

// The bytes of waiting requests are bounded too.
func TestHookQueuedBytesBound(t *testing.T) {
	g := newGate()
	b := newBackend(t, g.reply)
	c, _ := newClient(t, b, func(cfg *Config) {
		cfg.MaxInFlight, cfg.MaxQueued, cfg.MaxPerKey, cfg.MaxQueuedBytes = 1, 100, 100, 3000
		cfg.Publish.Timeout = time.Minute
	})
	res := make(chan *PublishResult, 10)
	pub := func(n int) {
		c.Publish(&PublishRequest{RoomID: "r", Content: strings.Repeat("x", n)}, func(r *PublishResult) { res <- r })
	}
	pub(10)
	<-g.arrived
	pub(1000) // waits: 1065 bytes (64 + room + content)
	pub(1000) // waits: 2130 bytes
	pub(1000) // would be 3195: refused
	if r := <-res; r.Failure != failOverload {
		t.Fatalf("over the bytes: %+v", *r)
	}
	pub(800) // fits: 2995
	if q, _ := c.Stats(HookPublish); q != 3 {
		t.Fatalf("queued %d, want 3", q)
	}
	close(g.release)
	for range 4 {
		if r := <-res; r.Outcome != Allowed {
			t.Fatalf("%+v", *r)
		}
	}
}

// Close ends calls in flight and waiting (failed, under the policy), and
// later calls fail at once.
func TestHookCloseFinishesEveryCall(t *testing.T) {
	g := newGate()
	b := newBackend(t, g.reply)
	c, _ := newClient(t, b, func(cfg *Config) {
		cfg.MaxInFlight = 1
		cfg.Join.Timeout = time.Minute
		cfg.Join.OnFailure = Allow
	})
	res := make(chan *Result, 3)
	c.Join(&JoinRequest{RoomID: "a"}, func(r *Result) { res <- r })
	<-g.arrived
	c.Join(&JoinRequest{RoomID: "b"}, func(r *Result) { res <- r })
	c.Close()
	c.Join(&JoinRequest{RoomID: "c"}, func(r *Result) { res <- r })
	for range 3 {
		if r := <-res; r.Outcome != Allowed || r.Failure != failError {
			t.Fatalf("after close: %+v", *r)
		}
	}
}

func TestHookConfigChecks(t *testing.T) {
	ok := Endpoint{URL: "http://127.0.0.1:1/x"}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Join: ok}, "secret"},
		{Config{Join: ok, Secret: "short"}, "secret"},
		{Config{Join: Endpoint{URL: "ftp://x/"}, Secret: testSecret}, "http"},
		{Config{Join: Endpoint{URL: "http:///x"}, Secret: testSecret}, "no host"},
		{Config{Join: Endpoint{URL: "http://u:p@x/"}, Secret: testSecret}, "user information"},
		{Config{Join: Endpoint{URL: ok.URL, OnFailure: "maybe"}, Secret: testSecret}, "policy"},
		{Config{Join: ok, Secret: testSecret, ConnectHeaders: []string{"Bad Header"}}, "header"},
		{Config{Join: ok, Secret: testSecret, MaxQueued: -1}, "positive"},
	} {
		if _, err := New(tc.cfg, prometheus.NewRegistry()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error about %s", tc.cfg, err, tc.want)
		}
	}
	if c, err := New(Config{}, prometheus.NewRegistry()); c != nil || err != nil || c.JoinOn() {
		t.Fatalf("no hooks: %v %v", c, err)
	}
}
