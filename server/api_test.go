package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker/memory"
	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
	"github.com/golang-jwt/jwt/v5"
)

const testAPIKey = "test-api-key-0123456789"

// apiClient calls a node's server API over HTTP.
type apiClient struct {
	t   *testing.T
	url string
	key string
}

// startAPI serves s's admin handler (with the API) on a loopback port.
func startAPI(t *testing.T, s *server.Server) *apiClient {
	t.Helper()
	hs := httptest.NewServer(s.AdminHandler())
	t.Cleanup(hs.Close)
	return &apiClient{t: t, url: hs.URL, key: testAPIKey}
}

// do sends a request and returns the status and the decoded JSON answer.
func (a *apiClient) do(method, path, body string) (int, msg) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if a.key != "" {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m msg
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(b, &m); err != nil {
			a.t.Fatalf("%s %s: bad JSON %q", method, path, b)
		}
	}
	return resp.StatusCode, m
}

// expectError checks an error answer's status and code.
func (a *apiClient) expectError(method, path, body string, status int, code string) msg {
	a.t.Helper()
	st, m := a.do(method, path, body)
	e, _ := m["error"].(map[string]any)
	if st != status || e == nil || e["code"] != code || e["message"] == "" {
		a.t.Fatalf("%s %s %.60s: %d %v, want %d with error code %s", method, path, body, st, m, status, code)
	}
	return m
}

// ok checks a 200 answer.
func (a *apiClient) ok(method, path, body string) msg {
	a.t.Helper()
	st, m := a.do(method, path, body)
	if st != http.StatusOK {
		a.t.Fatalf("%s %s: %d %v", method, path, st, m)
	}
	return m
}

func withAPIKey(c *server.Config) { c.APIKey = testAPIKey }

// Without -api-key there is no API, on the admin listener or the main port.
func TestAPIAbsentWithoutKey(t *testing.T) {
	s := startServer(t, nil)
	a := startAPI(t, s)
	for _, path := range []string{"/api/publish", "/api/rooms"} {
		if st, _ := a.do("POST", path, `{}`); st != http.StatusNotFound {
			t.Fatalf("admin %s: %d, want 404", path, st)
		}
		resp, err := http.Post("http://"+s.Addr()+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("main port %s: %d", path, resp.StatusCode)
		}
	}
	// A key too short to be safe is refused at start.
	if _, err := server.New(server.Config{APIKey: "short", Broker: memory.New(memory.Options{})}); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Fatalf("short key: %v", err)
	}
}

// A missing or wrong key gets 401 on every path, before anything else.
func TestAPIKey(t *testing.T) {
	s := startServer(t, withAPIKey)
	a := startAPI(t, s)
	for _, key := range []string{"", "wrong", testAPIKey + "x", testAPIKey[:len(testAPIKey)-1]} {
		a.key = key
		for _, path := range []string{"/api/rooms", "/api/nothing"} {
			a.expectError("GET", path, "", 401, "unauthorized")
		}
	}
	req, _ := http.NewRequest("GET", a.url+"/api/rooms", nil)
	req.Header.Set("Authorization", "Basic "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("Basic scheme: %d", resp.StatusCode)
	}
	a.key = testAPIKey
	a.ok("GET", "/api/rooms", "")
	if got := scrape(t, s)[`chatd_api_requests_total{endpoint="unknown",status="401"}`]; got != 9 {
		t.Fatalf("401s counted %v, want 9", got)
	}
}

// Every refusal is a clear JSON error with a fitting status.
func TestAPIErrors(t *testing.T) {
	s := startServer(t, withAPIKey)
	a := startAPI(t, s)
	a.expectError("POST", "/api/publish", `not json`, 400, "invalid_json")
	a.expectError("POST", "/api/publish", ``, 400, "invalid_json")
	a.expectError("POST", "/api/publish", `{"roomId":"r","content":"x"} {}`, 400, "invalid_json")
	a.expectError("POST", "/api/publish", `{"roomId":"r","content":"x","userId":"admin"}`, 400, "invalid_json")
	a.expectError("POST", "/api/publish", `{"roomId":5,"content":"x"}`, 400, "invalid_json")
	a.expectError("POST", "/api/publish", `{"content":"x"}`, 400, "missing_field")
	a.expectError("POST", "/api/publish", `{"roomId":"r"}`, 400, "bad_content")
	a.expectError("POST", "/api/publish", `{"roomId":"r\u0001","content":"x"}`, 400, "control_chars")
	a.expectError("POST", "/api/publish", `{"roomId":"`+strings.Repeat("r", 129)+`","content":"x"}`, 400, "too_long")
	a.expectError("POST", "/api/publish", `{"roomId":"r","content":"x","name":"`+strings.Repeat("n", 65)+`"}`, 400, "too_long")
	a.expectError("POST", "/api/publish", `{"roomId":"r","content":"`+strings.Repeat("x", 70000)+`"}`, 413, "too_large")
	m := a.expectError("GET", "/api/publish", "", 405, "method_not_allowed")
	_ = m
	a.expectError("DELETE", "/api/rooms", "", 405, "method_not_allowed")
	a.expectError("GET", "/api/users/u/disconnect", "", 405, "method_not_allowed")
	a.expectError("GET", "/api/nothing", "", 404, "not_found")
	a.expectError("GET", "/api/rooms?limit=-1", "", 400, "bad_field")
	a.expectError("GET", "/api/rooms/r/members?limit=x", "", 400, "bad_field")
	a.expectError("GET", "/api/rooms/%01/members", "", 400, "control_chars")
	a.expectError("POST", "/api/users/"+strings.Repeat("u", 129)+"/disconnect", "", 400, "too_long")
	a.expectError("GET", "/api/rooms/r/history?limit=-1", "", 400, "bad_field")
	// The Allow header lists the path's methods.
	req, _ := http.NewRequest("PUT", a.url+"/api/rooms/r/history", nil)
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if allow := resp.Header.Get("Allow"); resp.StatusCode != 405 || !strings.Contains(allow, "GET") || !strings.Contains(allow, "DELETE") {
		t.Fatalf("PUT history: %d Allow %q", resp.StatusCode, allow)
	}
}

// startAuthClusterNode starts a cluster node on rs with mod applied to its
// server configuration (startClusterNode's, plus mod).
func startAuthClusterNode(t *testing.T, rs *redistest.Server, name string, mod func(*server.Config)) *clusterNode {
	t.Helper()
	log := testLogger(t, name)
	o := redisbroker.Options{URL: rs.URL(), NodeID: name, Logger: log}
	fastCluster(&o)
	b, err := redisbroker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *server.Config) {
		c.Broker = b
		c.NodeID = name
		c.RateLimit = -1
		freshRoomLists(c)
		c.Logger = log
		mod(c)
	})
	return &clusterNode{srv: s, broker: b}
}

// The API on node A publishes to v1 and v2 members on A and B; lists the
// room and its members cluster-wide; disconnects a user's connections on
// both nodes (and a guest's, by its random id).
func TestAPICluster(t *testing.T) {
	rs := redistest.Start(t)
	mod := withAuth(server.AuthOptional, withAPIKey, func(c *server.Config) {
		c.GuestRooms, _ = parseRooms("*")
	})
	A := startAuthClusterNode(t, rs, "A", mod)
	B := startAuthClusterNode(t, rs, "B", mod)
	a := startAPI(t, A.srv)

	tok := mint(t, "alice", time.Hour, jwt.MapClaims{"name": "Alice"})
	aliceA := dialToken(t, A.srv.Addr(), tok)
	aliceA.join("news", "x")
	aliceB, _ := helloToken(t, B.srv.Addr(), tok)
	aliceB.join("news")
	guestB := dialChat(t, B.srv.Addr())
	guestB.join("news", "guest")
	aliceA.expect("userJoined") // the guest
	obsA := connectV2(t, A.srv.Addr(), "obs")
	obsA.join("news")
	aliceA.expect("userJoined")
	guestB.expect("userJoined")
	aliceB.expect("joined") // the guest
	aliceB.expect("joined") // obs

	pub := a.ok("POST", "/api/publish", `{"roomId":"news","content":"deploy at 5","name":"Ops Bot"}`)
	if pub.str("roomId") != "news" || pub.str("userId") != server.SystemUserID || pub.str("name") != "Ops Bot" || pub.str("timestamp") == "" {
		t.Fatalf("publish answer %v", pub)
	}
	for _, c := range []*client{aliceA, guestB} {
		m := c.expect("message")
		if m.str("content") != "deploy at 5" || m.str("username") != "Ops Bot" || m.str("userId") != server.SystemUserID ||
			m.str("timestamp") != pub.str("timestamp") {
			t.Fatalf("v1 message %v", m)
		}
	}
	for _, c := range []*v2client{aliceB, obsA} {
		m := c.expect("message")
		if m.str("content") != "deploy at 5" || m.str("name") != "Ops Bot" || m.str("userId") != server.SystemUserID || m.str("roomId") != "news" {
			t.Fatalf("v2 message %v", m)
		}
	}
	// Default name.
	if pub := a.ok("POST", "/api/publish", `{"roomId":"news","content":"hi"}`); pub.str("name") != server.SystemName {
		t.Fatalf("publish answer %v", pub)
	}
	aliceA.expect("message")
	guestB.expect("message")
	aliceB.expect("message")
	obsA.expect("message")

	// Rooms and members, cluster-wide.
	rooms := a.ok("GET", "/api/rooms?prefix=ne", "")
	list, _ := rooms["rooms"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["roomId"] != "news" || list[0].(map[string]any)["memberCount"] != 3.0 {
		t.Fatalf("rooms %v", rooms)
	}
	mem := a.ok("GET", "/api/rooms/news/members", "")
	if mem.num("memberCount") != 3 || len(mem["members"].([]any)) != 3 {
		t.Fatalf("members %v", mem)
	}
	if mem := a.ok("GET", "/api/rooms/news/members?limit=1", ""); len(mem["members"].([]any)) != 1 || mem["truncated"] != true {
		t.Fatalf("members limit 1: %v", mem)
	}
	if mem := a.ok("GET", "/api/rooms/"+url.PathEscape("no/such room")+"/members", ""); mem.num("memberCount") != 0 ||
		mem.str("roomId") != "no/such room" {
		t.Fatalf("members of an empty room: %v", mem)
	}

	// Disconnect alice: her connections on A (v1) and B (v2) close 1008.
	if d := a.ok("POST", "/api/users/alice/disconnect", ""); d.str("userId") != "alice" {
		t.Fatalf("disconnect answer %v", d)
	}
	expectClose(t, aliceA.ws, 1008)
	expectClose(t, aliceB.ws, 1008)
	// The others stay, and see her leave once.
	if m := obsA.expect("left"); m.str("userId") != "alice" {
		t.Fatalf("left %v", m)
	}
	// A guest by its random id, on the other node.
	a.ok("POST", "/api/users/"+guestB.userID+"/disconnect", "")
	expectClose(t, guestB.ws, 1008)
	if m := obsA.expect("left"); m.str("userId") != guestB.userID {
		t.Fatalf("left %v", m)
	}
	obsA.sync()
	if got := scrape(t, B.srv)["chatd_api_disconnected_connections_total"]; got != 2 {
		t.Fatalf("B disconnected %v connections, want 2", got)
	}
}

// With APIOnMain the main port serves the API too (answered off the event
// loop); without it the main port has no API even with a key.
func TestAPIOnMainPort(t *testing.T) {
	s := startServer(t, func(c *server.Config) { withAPIKey(c); c.APIOnMain = true; c.RateLimit = -1 })
	a := &apiClient{t: t, url: "http://" + s.Addr(), key: testAPIKey}
	v1 := connect(t, s)
	v1.join("main", "u")
	pub := a.ok("POST", "/api/publish", `{"roomId":"main","content":"via the main port"}`)
	if m := v1.expect("message"); m.str("content") != "via the main port" || m.str("timestamp") != pub.str("timestamp") {
		t.Fatalf("message %v", m)
	}
	if r := a.ok("GET", "/api/rooms", ""); len(r["rooms"].([]any)) != 1 {
		t.Fatalf("rooms %v", r)
	}
	a.expectError("GET", "/api/publish", "", 405, "method_not_allowed")
	a.key = "wrong-key-0123456789"
	a.expectError("POST", "/api/publish", `{"roomId":"main","content":"x"}`, 401, "unauthorized")

	off := startServer(t, withAPIKey)
	resp, err := http.Get("http://" + off.Addr() + "/api/rooms")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("main port without -api-on-main: %d", resp.StatusCode)
	}
}
