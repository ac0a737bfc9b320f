package server_test

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
)

// v1 and v2 clients on two nodes share one room; the Redis traffic between
// them stays in the reference format (checked on a raw subscription).
func TestClusterV1AndV2(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs, 2, nil)
	ctx := context.Background()
	ps := rs.Client().Subscribe(ctx, "room:mixed")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	checkMixedRoom(t, nodes[0].srv, nodes[1].srv)
	// Every payload on the channel is a reference event with our header
	// members, whichever protocol published it.
	var kinds []string
	for {
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		m, err := ps.ReceiveMessage(ctx)
		cancel()
		if err != nil {
			break
		}
		keys := topKeys(t, []byte(m.Payload))
		var want []string
		switch {
		case slices.Equal(keys[:5], []string{"type", "content", "username", "userId", "timestamp"}):
			want = []string{"type", "content", "username", "userId", "timestamp", "excludeUserId", "origin", "originConn",
				"offset", "epoch"}
			kinds = append(kinds, "message")
		case slices.Equal(keys[:4], []string{"type", "username", "userId", "memberCount"}):
			want = keys // joins (with excludeUserId) and leaves (with it after leaveRoom, without after a disconnect)
			if keys[len(keys)-1] != "originConn" && keys[len(keys)-1] != "origin" {
				t.Fatalf("presence payload %s", m.Payload)
			}
			kinds = append(kinds, "presence")
		default:
			t.Fatalf("payload not in the reference shape: %s", m.Payload)
		}
		if !slices.Equal(keys, want) {
			t.Fatalf("payload fields %v in %s", keys, m.Payload)
		}
	}
	if c := count(kinds, "message"); c != 2 {
		t.Fatalf("%d messages on the channel, want 2 (%v)", c, kinds)
	}
}

func count(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// Presence is cluster-wide, and the members of a node killed with -9 leave
// the list (with left pushes) within the heartbeat TTL.
func TestClusterV2PresenceNodeKilled(t *testing.T) {
	longTest(t)
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server: miniredis does not expire keys (heartbeats) by itself")
	}
	const interval, ttl = time.Second, 3 * time.Second
	bin := buildChatd(t, t.TempDir())
	nodes := startCluster(t, rs, 1, func(o *redisbroker.Options) { o.HeartbeatInterval, o.HeartbeatTTL = interval, ttl })
	child := startChildNode(t, bin, rs, "doomed", "-heartbeat-interval", interval.String(), "-heartbeat-ttl", ttl.String())
	a := connectV2(t, nodes[0].srv.Addr(), "alice")
	d := connectV2(t, child.addr, "dora")
	a.join("p")
	if m := d.join("p"); m.num("memberCount") != 2 {
		t.Fatalf("join ok %v", m)
	}
	a.expect("joined")
	names := func() map[string]string {
		m := a.call(map[string]any{"type": "presence", "roomId": "p"})
		out := map[string]string{}
		for _, e := range m["members"].([]any) {
			e := msg(e.(map[string]any))
			out[e.str("userId")] = e.str("name")
		}
		return out
	}
	if got := names(); len(got) != 2 || got[d.userID] != "dora" || got[a.userID] != "alice" {
		t.Fatalf("presence across nodes %v", got)
	}
	// Typing crosses nodes, to the others only.
	a.send(`{"type":"typing","roomId":"p"}`)
	if m := d.expect("typing"); m.str("userId") != a.userID || m.str("roomId") != "p" {
		t.Fatalf("typing push %v", m)
	}
	a.sync()
	if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-child.exited
	_ = a.ws.SetReadDeadline(time.Now().Add(ttl + 2*time.Second))
	m := a.read()
	if m.str("type") != "left" || m.str("userId") != d.userID || m.num("memberCount") != 1 {
		t.Fatalf("got %v, want dora's left", m)
	}
	took := time.Since(killed)
	t.Logf("dead node's member left presence %v after kill -9 (TTL %v)", took.Round(time.Millisecond), ttl)
	if took > ttl+500*time.Millisecond {
		t.Fatalf("took %v, more than the TTL", took)
	}
	if got := names(); len(got) != 1 || got[a.userID] != "alice" {
		t.Fatalf("presence after the kill %v", got)
	}
}
