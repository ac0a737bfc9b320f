package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/chatd/chatd/server/internal/redistest"
)

var isoTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// topKeys returns the keys of a JSON object in order.
func topKeys(t *testing.T, p []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(p))
	var keys []string
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", p)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	return keys
}

// Our nodes and the reference app's share one Redis: same channels, same
// payloads, same keys.
func TestClusterReferenceCompat(t *testing.T) {
	rs := redistest.Start(t)
	node := startClusterNode(t, rs, "A", nil)
	rc := rs.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const wait = 5 * time.Second

	// w is in the room first: once it heard of alice, the node has fanned
	// out her notice, which bob, joining after, then cannot get (a notice
	// still on its way when a member joins can reach it: docs/protocol-v1.md
	// §5). So alice may have heard of w: before her room list, if at all
	// (w's notice went out before hers). Then w goes, and alice hears it
	// before bob joins.
	w := dialChat(t, node.srv.Addr())
	w.send(`{"type":"join","roomId":"compat","username":"w","roomName":"Compat Room"}`)
	w.expect("roomJoined")
	a := dialChat(t, node.srv.Addr())
	a.send(`{"type":"join","roomId":"compat","username":"alice","roomName":"Compat Room"}`)
	a.expect("roomJoined")
	if m := w.expect("userJoined"); m.str("userId") != a.userID {
		t.Fatalf("w got %v, want alice's userJoined", m)
	}
	a.send(`{"type":"getRoomList"}`)
	for m := a.read(); m.str("type") != "roomList"; m = a.read() {
		if m.str("type") != "userJoined" || m.str("userId") != w.userID {
			t.Fatalf("alice got %v before her room list", m)
		}
	}
	w.ws.Close()
	a.expect("userLeft")
	b := dialChat(t, node.srv.Addr())
	b.join("compat", "bob")
	a.expect("userJoined")

	// Our payload, read with a raw SUBSCRIBE, is the reference format.
	ps := rc.Subscribe(ctx, "room:compat")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil { // the subscribe confirmation
		t.Fatal(err)
	}
	a.send(`{"type":"message","content":"hello \"you\" <b>&</b> 👋"}`)
	echo := readRaw(a, wait)
	got := readRaw(b, wait)
	if !bytes.Equal(echo, got) {
		t.Fatalf("echo %s != delivered %s", echo, got)
	}
	if k := topKeys(t, got); !slices.Equal(k, []string{"type", "content", "username", "userId", "timestamp"}) {
		t.Fatalf("client fields %v", k)
	}
	pm, err := ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k := topKeys(t, []byte(pm.Payload)); !slices.Equal(k, []string{"type", "content", "username", "userId", "timestamp", "excludeUserId", "origin", "originConn",
		"offset", "epoch"}) {
		t.Fatalf("published fields %v in %s", k, pm.Payload)
	}
	var env map[string]any
	if err := json.Unmarshal([]byte(pm.Payload), &env); err != nil {
		t.Fatal(err)
	}
	if env["type"] != "message" || env["content"] != "hello \"you\" <b>&</b> 👋" || env["username"] != "alice" ||
		env["userId"] != a.userID || env["excludeUserId"] != a.userID || env["origin"] != "A" ||
		!isoTime.MatchString(env["timestamp"].(string)) {
		t.Fatalf("published %s", pm.Payload)
	}
	// The client frame is the payload minus excludeUserId and ours: origin,
	// originConn (the publishing connection on its node), and the stored
	// message's offset and epoch in the room's history.
	if env["offset"] != 1.0 || env["epoch"] == "" {
		t.Fatalf("stored message: offset %v epoch %v", env["offset"], env["epoch"])
	}
	var gotObj map[string]any
	_ = json.Unmarshal(got, &gotObj)
	for _, k := range []string{"excludeUserId", "origin", "originConn", "offset", "epoch"} {
		delete(env, k)
	}
	if !jsonEqual(env, gotObj) {
		t.Fatalf("delivered %s, published %s", got, pm.Payload)
	}
	// A presence event too.
	c := dialChat(t, node.srv.Addr())
	c.join("compat", "carl")
	a.expect("userJoined")
	b.expect("userJoined")
	pm, err = ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k := topKeys(t, []byte(pm.Payload)); !slices.Equal(k, []string{"type", "username", "userId", "memberCount", "excludeUserId", "origin", "originConn"}) {
		t.Fatalf("userJoined fields %v in %s", k, pm.Payload)
	}
	c.ws.Close()
	a.expect("userLeft")
	b.expect("userLeft")
	pm, err = ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k := topKeys(t, []byte(pm.Payload)); !slices.Equal(k, []string{"type", "username", "userId", "memberCount", "origin"}) {
		t.Fatalf("userLeft after a disconnect: fields %v in %s", k, pm.Payload)
	}

	// Events published by a reference node reach our clients, as the
	// reference node would forward them, honouring excludeUserId.
	publish := func(payload string) {
		t.Helper()
		if err := rc.Publish(ctx, "room:compat", payload).Err(); err != nil {
			t.Fatal(err)
		}
	}
	expectRaw := func(c *client, want string) {
		t.Helper()
		if p := readRaw(c, wait); string(p) != want {
			t.Fatalf("got %s\nwant %s", p, want)
		}
	}
	publish(`{"type":"message","content":"from ref","username":"carol","userId":"refcarol01","timestamp":"2026-11-26T19:41:09.039Z","excludeUserId":"` + a.userID + `"}`)
	expectRaw(b, `{"type":"message","content":"from ref","username":"carol","userId":"refcarol01","timestamp":"2026-11-26T19:41:09.039Z"}`)
	publish(`{"type":"userJoined","username":"carol","userId":"refcarol01","memberCount":3,"excludeUserId":"refcarol01"}`)
	want := `{"type":"userJoined","username":"carol","userId":"refcarol01","memberCount":3}`
	expectRaw(a, want) // a skipped the message it was excluded from
	expectRaw(b, want)
	publish(`{"type":"userLeft","username":"carol","userId":"refcarol01","memberCount":2}`)
	want = `{"type":"userLeft","username":"carol","userId":"refcarol01","memberCount":2}`
	expectRaw(a, want)
	expectRaw(b, want)
	// Unknown types are forwarded minus excludeUserId; so is typing (v2's,
	// which v1 does not know either); junk is dropped.
	publish(`{"type":"typing","userId":"refcarol01","excludeUserId":"` + a.userID + `","extra":{"x":[1,2]}}`)
	publish(`{"type":"reaction","userId":"refcarol01","excludeUserId":"` + a.userID + `","emoji":"👍"}`)
	publish(`not json`)
	publish(`[1,2]`)
	publish(`{"type":"userLeft","username":"dave","userId":"refdave001","memberCount":"two"}`)
	publish(`{"type":"message","content":"last","username":"carol","userId":"refcarol01","timestamp":"2026-11-26T19:41:10.000Z"}`)
	expectRaw(b, `{"type":"typing","userId":"refcarol01","extra":{"x":[1,2]}}`)
	expectRaw(b, `{"type":"reaction","userId":"refcarol01","emoji":"👍"}`)
	want = `{"type":"message","content":"last","username":"carol","userId":"refcarol01","timestamp":"2026-11-26T19:41:10.000Z"}`
	expectRaw(b, want)
	expectRaw(a, want)
	if st, unknown := node.broker.Stats(), scrape(t, node.srv)["chatd_cluster_unknown_events_total"]; st.Dropped != 3 || unknown != 1 {
		t.Fatalf("stats %+v, unknown events forwarded %v", st, unknown)
	}

	// State written by our joins, read with the reference keys.
	info := rc.HGetAll(ctx, "room_info:compat").Val()
	if info["id"] != "compat" || info["name"] != "Compat Room" || !isoTime.MatchString(info["createdAt"]) || len(info) != 3 {
		t.Fatalf("room_info %v", info)
	}
	mem := rc.SMembers(ctx, "room_members:compat").Val()
	slices.Sort(mem)
	wantMem := []string{a.userID, b.userID}
	slices.Sort(wantMem)
	if !slices.Equal(mem, wantMem) {
		t.Fatalf("room_members %v, want %v", mem, wantMem)
	}
	ud := rc.HGetAll(ctx, "user_data:compat:"+a.userID).Val()
	if ud["username"] != "alice" || !isoTime.MatchString(ud["joinedAt"]) || len(ud) != 2 {
		t.Fatalf("user_data %v", ud)
	}

	// A room created by a reference node (its keys only) is listed; one
	// without members is not.
	rc.HSet(ctx, "room_info:refroom", "id", "refroom", "name", "Ref Room", "createdAt", "2020-01-01T00:00:00.000Z")
	rc.SAdd(ctx, "room_members:refroom", "refuser001", "refuser002")
	rc.HSet(ctx, "user_data:refroom:refuser001", "username", "r1", "joinedAt", "2020-01-01T00:00:00.000Z")
	rc.HSet(ctx, "room_info:emptyref", "id", "emptyref", "name", "Empty", "createdAt", "2020-01-01T00:00:00.000Z")
	rooms := roomList(a)
	if len(rooms) != 2 || rooms[0].str("roomId") != "refroom" || rooms[0].str("name") != "Ref Room" ||
		rooms[0].num("memberCount") != 2 || rooms[0].str("createdAt") != "2020-01-01T00:00:00.000Z" ||
		rooms[1].str("roomId") != "compat" || rooms[1].num("memberCount") != 2 {
		t.Fatalf("room list %v", rooms)
	}
	// A member added by a reference node counts in our joins.
	rc.SAdd(ctx, "room_members:compat", "refuser003")
	d := dialChat(t, node.srv.Addr())
	if m := d.join("compat", "dora"); m.num("memberCount") != 4 {
		t.Fatalf("count %v", m)
	}
	a.expect("userJoined")
	b.expect("userJoined")
	// When the last member leaves, the room's keys go, as with the reference.
	rc.SRem(ctx, "room_members:compat", "refuser003")
	for _, cl := range []*client{a, b, d} {
		cl.send(`{"type":"leaveRoom"}`)
	}
	waitFor(t, wait, "room keys deleted", func() bool {
		return rc.Exists(ctx, "room_info:compat", "room_members:compat", "user_data:compat:"+a.userID).Val() == 0
	})
	if rooms := roomList(a); len(rooms) != 1 || rooms[0].str("roomId") != "refroom" {
		t.Fatalf("room list %v", rooms)
	}
	// The index does not keep rooms the reference app deleted.
	rc.Del(ctx, "room_info:refroom", "room_members:refroom")
	if rooms := roomList(a); len(rooms) != 0 {
		t.Fatalf("room list %v", rooms)
	}
	waitFor(t, wait, "index pruned", func() bool {
		return rc.SCard(ctx, "chatd:rooms").Val() == 0
	})
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
