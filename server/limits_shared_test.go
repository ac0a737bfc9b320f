package server_test

import (
	"net"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/gorilla/websocket"
)

// publishes sends n publishes to room on c (ids from c's counter) and
// returns how many were accepted, checking each refusal's text.
func publishes(t *testing.T, c *v2client, room string, n int, refusal string) (accepted int) {
	t.Helper()
	for i := 0; i < n; i++ {
		c.nextID++
		c.send(map[string]any{"type": "publish", "roomId": room, "content": "x", "id": c.nextID})
		m := replyTo(c, c.nextID)
		switch {
		case m.str("type") == "ok":
			accepted++
		case m.str("code") == "rate_limited" && m.str("message") == refusal:
		default:
			t.Fatalf("publish: %v", m)
		}
	}
	return accepted
}

// One user's connections share one allowance (-user-rate-limit): five
// connections of a token user get the user's burst of 10 together, not 10
// each; another user is not affected.
func TestUserRateLimitAcrossConnections(t *testing.T) {
	s := startServer(t, withAuth(server.AuthRequired, func(c *server.Config) {
		c.RateLimit = 0.001 // per connection: a burst of 40, never refilled within the test
		c.UserRateLimit = 0.001
		c.UserRateBurst = 10
	}))
	hello := func(sub string) *v2client {
		c := dialV2(t, s.Addr())
		c.call(map[string]any{"type": "hello", "token": mint(t, sub, time.Hour, nil)})
		c.join("r")
		return c
	}
	// Each join takes one of the user's 10 (a hello comes before the user
	// is known): 5 are left for 15 publishes.
	var alice []*v2client
	for i := 0; i < 5; i++ {
		alice = append(alice, hello("alice"))
	}
	accepted := 0
	for _, c := range alice {
		accepted += publishes(t, c, "r", 3, "Too many messages from this user, slow down")
	}
	if accepted != 5 {
		t.Fatalf("%d publishes of alice accepted, want the 5 left of her user allowance", accepted)
	}
	bob := hello("bob")
	if n := publishes(t, bob, "r", 5, ""); n != 5 {
		t.Fatalf("bob got %d of 5 publishes through", n)
	}
}

// One address's connections share one allowance (-addr-rate-limit, off by
// default): anonymous connections from 127.0.0.1 get 12 requests together;
// a connection from 127.0.0.2 is not affected.
func TestAddrRateLimitAcrossConnections(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.AddrRateLimit = 0.001
		c.AddrRateBurst = 12
	})
	var cs []*v2client
	for i := 0; i < 4; i++ { // hello + join: 8 of the 12
		c := connectV2(t, s.Addr(), "anon")
		c.join("r")
		cs = append(cs, c)
	}
	accepted := 0
	for _, c := range cs {
		accepted += publishes(t, c, "r", 3, "Too many messages from this address, slow down")
	}
	if accepted != 4 {
		t.Fatalf("%d publishes from 127.0.0.1 accepted, want the 4 left of its allowance", accepted)
	}
	other := dialV2From(t, s.Addr(), "127.0.0.2")
	other.call(map[string]any{"type": "hello", "name": "other"})
	other.join("r")
	if n := publishes(t, other, "r", 5, ""); n != 5 {
		t.Fatalf("127.0.0.2 got %d of 5 publishes through", n)
	}
}

// Off by default: a load generator's 60 connections from one address are
// limited per connection only.
func TestAddrRateLimitOffByDefault(t *testing.T) {
	s := startServer(t, nil)
	total := 0
	for i := 0; i < 60; i++ {
		c := connectV2(t, s.Addr(), "load")
		c.join("r")
		total += publishes(t, c, "r", 5, "")
	}
	if total != 300 {
		t.Fatalf("%d of 300 publishes accepted", total)
	}
}

// dialV2From connects with chatd.v2 from a local source address.
func dialV2From(t *testing.T, addr, src string) *v2client {
	t.Helper()
	nd := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	d := websocket.Dialer{Subprotocols: []string{"chatd.v2"}, NetDial: nd.Dial}
	ws, _, err := d.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &v2client{t: t, ws: ws}
}

// In a room of more than -notice-room-size members, joined/left notices
// are sampled: -notice-burst of them, then -notice-rate per second; the
// rest are dropped and counted. Smaller rooms get every notice.
func TestNoticesSampledInBigRooms(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.NoticeRoomSize = 4
		c.NoticeRate = 0.001
		c.NoticeBurst = 2
		c.RateLimit = -1
	})
	obs := connectV2(t, s.Addr(), "observer")
	obs.join("big")
	for i := 0; i < 3; i++ { // up to 4 members: every notice
		connectV2(t, s.Addr(), "member").join("big")
	}
	churn := connectV2(t, s.Addr(), "churn")
	for i := 0; i < 5; i++ { // 5 members while in: 10 notices, 2 published
		churn.join("big")
		churn.call(map[string]any{"type": "leave", "roomId": "big"})
	}
	obs.nextID++
	obs.send(map[string]any{"type": "leave", "roomId": "nowhere", "id": obs.nextID})
	notices := map[string]int{}
	for {
		m := obs.read()
		if m["id"] != nil {
			break
		}
		notices[m.str("type")+":"+m.str("name")]++
	}
	if notices["joined:member"] != 3 || notices["joined:churn"]+notices["left:churn"] != 2 {
		t.Fatalf("notices %v: want the 3 members' joins and 2 of churn's 10", notices)
	}
	if got := scrape(t, s)["chatd_presence_notices_dropped_total"]; got != 8 {
		t.Fatalf("%v notices counted dropped, want 8", got)
	}
}
