package redis

import (
	"context"
	"errors"
	"testing"

	"github.com/chatd/chatd/server/internal/redistest"
	goredis "github.com/redis/go-redis/v9"
)

// Single mode names keys and channels exactly as the reference app does.
func TestSingleKeysAreTheReferenceNames(t *testing.T) {
	k := keyspace{}
	for got, want := range map[string]string{
		k.channel("lobby"):              "room:lobby",
		k.roomInfo("lobby"):             "room_info:lobby",
		k.roomMembers("lobby"):          "room_members:lobby",
		k.userData("lobby", "u1"):       "user_data:lobby:u1",
		k.roomUsers("lobby"):            "chatd:room_users:lobby",
		k.meta("lobby"):                 "chatd:{lobby}:meta",
		k.history("lobby"):              "chatd:{lobby}:history",
		k.nodeAlive("n1"):               "chatd:node:n1:alive",
		k.nodeReaped("n1"):              "chatd:node:n1:reaped",
		k.nodeRegsOf("n1", "lobby"):     "chatd:node:n1:members",
		k.channel("a{b}c"):              "room:a{b}c",
		k.userData("a}b", "u"):          "user_data:a}b:u",
		k.nodeRegsOf("n{1}", "a{b}c"):   "chatd:node:n{1}:members",
		k.nodeAlive("n{1}"):             "chatd:node:n{1}:alive",
		k.roomMembers("room with %7D"):  "room_members:room with %7D",
		k.roomInfo("{}"):                "room_info:{}",
		k.history("x"):                  "chatd:{x}:history",
		k.nodeRegs("n", "ignored here"): "chatd:node:n:members",
	} {
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
	if k.roomSlot("lobby") != -1 {
		t.Error("single mode has no slots")
	}
}

// In cluster mode every key of a room, and its channel, fall into one slot,
// whatever braces or percent signs the room id holds, and the room id comes
// back from the channel; the node's registrations of a room share the
// room's slot. The slots agree with Redis (CLUSTER KEYSLOT).
func TestClusterKeysShareTheRoomSlot(t *testing.T) {
	k := keyspace{cluster: true}
	rooms := []string{"lobby", "a{b}c", "}x", "{}", "{", "}", "%7D", "%", "a%7Db", "room with spaces", "ünïcode"}
	for _, room := range rooms {
		slot := k.roomSlot(room)
		keys := []string{k.channel(room), k.roomInfo(room), k.roomMembers(room), k.userData(room, "u}{1"),
			k.roomUsers(room), k.meta(room), k.history(room), k.nodeRegsOf("node{x}", room)}
		for _, key := range keys {
			if s := keySlot(key); s != slot {
				t.Errorf("room %q: %s in slot %d, the room in %d", room, key, s, slot)
			}
		}
		if got, ok := k.roomOfChannel(k.channel(room)); !ok || got != room {
			t.Errorf("room %q: channel %s gives back %q %v", room, k.channel(room), got, ok)
		}
	}
	seen := map[string]string{}
	for _, room := range rooms {
		tag := k.room(room)
		if other, dup := seen[tag]; dup {
			t.Errorf("rooms %q and %q share the tag %s", room, other, tag)
		}
		seen[tag] = room
	}
	node := "n{1}%"
	if keySlot(k.nodeAlive(node)) != keySlot(k.nodeSlots(node)) || keySlot(k.nodeAlive(node)) != keySlot(k.nodeReaped(node)) {
		t.Error("a node's own keys are in several slots")
	}
	for s := 0; s < numSlots; s += 97 {
		if got := keySlot("x{" + slotTag(s) + "}"); got != s {
			t.Fatalf("slot tag of %d lands in %d", s, got)
		}
	}

	rc := redistest.StartCluster(t, 1, 0)
	ctx := context.Background()
	for _, room := range rooms {
		for _, key := range []string{k.channel(room), k.nodeRegsOf("n", room), "plain", "{}x", "a{}b{c}"} {
			want, err := rc.Node(0).ClusterKeySlot(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if got := keySlot(key); got != int(want) {
				t.Errorf("%s: slot %d, Redis says %d", key, got, want)
			}
		}
	}
}

// Only the replies that say a command did not run are followed.
func TestRedirectOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want redirect
	}{
		{redisErr("MOVED 3999 127.0.0.1:6381"), redirect{kind: redirectMoved, slot: 3999, addr: "127.0.0.1:6381"}},
		{redisErr("ASK 3999 127.0.0.1:6381"), redirect{kind: redirectAsk, slot: 3999, addr: "127.0.0.1:6381"}},
		{redisErr("TRYAGAIN Multiple keys request during rehashing of slot"), redirect{kind: redirectRetry}},
		{redisErr("CLUSTERDOWN The cluster is down"), redirect{kind: redirectRetry}},
		{redisErr("LOADING Redis is loading the dataset in memory"), redirect{kind: redirectRetry}},
		{redisErr("ERR unknown command"), redirect{}},
		{redisErr("MOVED x 127.0.0.1:1"), redirect{}},
		{errors.New("MOVED 1 127.0.0.1:1"), redirect{}}, // not a reply: a timeout's text cannot redirect
		{nil, redirect{}},
	} {
		if got := redirectOf(tc.err); got != tc.want {
			t.Errorf("%v: %+v, want %+v", tc.err, got, tc.want)
		}
	}
}

// redisErr makes an error reply: go-redis's replies are errors with a
// RedisError method and Redis' text.
func redisErr(s string) error { return replyErr(s) }

type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

var _ goredis.Error = replyErr("")

// The history log (history.go) is named like the meta hash and, in cluster
// mode, shares the room's slot, so the store script touches one slot.
func TestLogKeyInTheRoomSlot(t *testing.T) {
	if got := (keyspace{}).log("lobby"); got != "chatd:{lobby}:log" {
		t.Fatalf("single mode: %q", got)
	}
	k := keyspace{cluster: true}
	for _, room := range []string{"lobby", "a{b}c", "}x", "{}", "%7D", "ünïcode"} {
		if s := keySlot(k.log(room)); s != k.roomSlot(room) || s != keySlot(k.meta(room)) {
			t.Errorf("room %q: log in slot %d, the room in %d", room, s, k.roomSlot(room))
		}
	}
}
