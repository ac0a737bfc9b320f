package server_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
)

// Chat nodes on a Redis Cluster (-redis-cluster): the helpers of these
// tests, and the tests that need no fault. The fault tests are in
// cluster_shards_faults_test.go.

// startShardNode starts a node on the Redis Cluster rc. mod adjusts the
// broker's options (after fastCluster).
func startShardNode(t *testing.T, rc *redistest.Cluster, name string, mod func(*redisbroker.Options)) *clusterNode {
	t.Helper()
	return startRedisNode(t, redisbroker.Options{Cluster: rc.Seeds()}, name, mod)
}

// roomsOnMasters picks one room id per master of rc (room-0, room-1, ...
// until every master has one), checking with CLUSTER KEYSLOT where each
// room's channel lands. It returns the rooms and their masters' indexes.
func roomsOnMasters(t *testing.T, rc *redistest.Cluster, prefix string) ([]string, []int) {
	t.Helper()
	masters := rc.Masters()
	var rooms []string
	var owners []int
	for i := 0; len(rooms) < len(masters); i++ {
		room := fmt.Sprintf("%s-%d", prefix, i)
		m := rc.MasterOf(rc.Slot("room:{" + room + "}"))
		if m < 0 {
			t.Fatalf("no master for %s", room)
		}
		if !slices.Contains(owners, m) {
			rooms = append(rooms, room)
			owners = append(owners, m)
		}
	}
	return rooms, owners
}

// Two nodes on a 3-master cluster, rooms on every master: messages,
// membership counts, presence, the room list and the history work across
// the nodes; each room's keys and its sharded subscriptions are on its own
// master.
func TestShardedClusterTwoNodes(t *testing.T) {
	longTest(t)
	rc := redistest.StartCluster(t, 3, 0)
	A := startShardNode(t, rc, "A", nil)
	B := startShardNode(t, rc, "B", nil)
	rooms, owners := roomsOnMasters(t, rc, "room")
	t.Logf("rooms %v on masters %v", rooms, owners)
	ctx := context.Background()

	for _, room := range rooms {
		a := dialChat(t, A.srv.Addr())
		b := dialChat(t, B.srv.Addr())
		if m := a.join(room, "alice"); m.num("memberCount") != 1 {
			t.Fatalf("%s: %v", room, m)
		}
		if m := b.join(room, "bob"); m.num("memberCount") != 2 {
			t.Fatalf("%s: %v", room, m)
		}
		if m := a.expect("userJoined"); m.str("userId") != b.userID || m.num("memberCount") != 2 {
			t.Fatalf("%s: %v", room, m)
		}
		sendChat(a, "hello from A in "+room)
		// alice's own join notice goes out after her roomJoined, through A's
		// publisher: it may reach B after B subscribed for bob, so bob may
		// hear of alice joining, just before her message.
		if m := expectPast(b, "message", &lateNotice{typ: "userJoined", userID: a.userID}); m.str("content") != "hello from A in "+room || m.str("userId") != a.userID {
			t.Fatalf("%s: %v", room, m)
		}
		sendChat(b, "hello from B in "+room)
		if m := a.expect("message"); m.str("content") != "hello from B in "+room {
			t.Fatalf("%s: %v", room, m)
		}
	}

	// History and presence, v2, across the nodes.
	for _, room := range rooms {
		p := connectV2(t, A.srv.Addr(), "pub")
		p.join(room)
		for i := 1; i <= 3; i++ {
			if ok := p.publish(room, fmt.Sprint(room, i)); ok.num("offset") != i+2 { // after the two v1 messages
				t.Fatalf("%s: publish %v", room, ok)
			}
		}
		r := connectV2(t, B.srv.Addr(), "reader")
		m := r.call(map[string]any{"type": "join", "roomId": room, "history": 3})
		if got := offsetsOf(t, m); !equalInts(got, seq(3, 5)) || m.num("memberCount") != 4 {
			t.Fatalf("%s: join with history: %v", room, m)
		}
		pr := r.call(map[string]any{"type": "presence", "roomId": room})
		var names []string
		for _, x := range pr["members"].([]any) {
			names = append(names, x.(map[string]any)["name"].(string))
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"alice", "bob", "pub", "reader"}) {
			t.Fatalf("%s: presence %v", room, pr)
		}
	}

	// The room list, from either node.
	c := dialChat(t, B.srv.Addr())
	list := roomList(c)
	if len(list) != len(rooms) {
		t.Fatalf("room list %s", roomsString(list))
	}
	for _, r := range list {
		if !slices.Contains(rooms, r.str("roomId")) || r.num("memberCount") != 4 {
			t.Fatalf("room list %s", roomsString(list))
		}
	}

	// Redis: each room's keys and shard channel on its master, subscribed
	// by both nodes with SSUBSCRIBE (nothing with SUBSCRIBE).
	for i, room := range rooms {
		n := rc.Node(owners[i])
		if got := n.Exists(ctx, "room_info:{"+room+"}", "room_members:{"+room+"}", "chatd:{"+room+"}:meta").Val(); got != 3 {
			t.Fatalf("%s: %d of its keys on its master", room, got)
		}
		if got := n.SCard(ctx, "room_members:{"+room+"}").Val(); got != 4 {
			t.Fatalf("%s: %d members in Redis", room, got)
		}
		if got := n.PubSubShardNumSub(ctx, "room:{"+room+"}").Val()["room:{"+room+"}"]; got != 2 {
			t.Fatalf("%s: %d sharded subscribers on its master, want 2", room, got)
		}
		if got := n.PubSubNumSub(ctx, "room:{"+room+"}").Val()["room:{"+room+"}"]; got != 0 {
			t.Fatalf("%s: %d plain subscribers", room, got)
		}
	}
	for _, node := range []*clusterNode{A, B} {
		if st := node.broker.Stats(); st.Masters != 3 || st.Redirects != 0 {
			t.Fatalf("stats %+v: want subscriber connections to 3 masters, no redirect", st)
		}
	}
}
