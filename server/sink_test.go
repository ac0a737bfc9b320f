package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker/memory"
	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
	"github.com/chatd/chatd/server/sink"
	"github.com/gorilla/websocket"
)

// On the memory broker, every stored message (v1, v2, the server API's)
// reaches the sink's backend, with its place and the stored fields, the
// header members removed.
func TestSinkMemoryBroker(t *testing.T) {
	be := newSinkBackend(t)
	s := startServer(t, func(c *server.Config) {
		c.Broker = memory.New(memory.Options{Sink: sink.NewMemory(0, 0)})
		c.Sink = sinkConfig(be)
		withAPIKey(c)
	})
	acked := sinkTraffic(t, s, "m")
	be.waitAll(acked, 10*time.Second)
	be.check(acked)
}

// sinkTraffic publishes through v1, v2 and the server API on s (rooms
// prefix-v1, prefix-v2, prefix-api, each with one member at most) and
// returns the acknowledged messages.
func sinkTraffic(t *testing.T, s *server.Server, prefix string) []ackedMsg {
	t.Helper()
	var acked []ackedMsg
	v1 := dialChat(t, s.Addr())
	v1.join(prefix+"-v1", "alice")
	for i := range 3 {
		content := fmt.Sprintf("v1 says %d <&>", i)
		sendChat(v1, content)
		acked = append(acked, ackedMsg{room: prefix + "-v1", offset: uint64(i + 1), content: content, user: v1.userID})
	}
	v2 := connectV2(t, s.Addr(), "bob")
	v2.join(prefix + "-v2")
	for i := range 3 {
		content := fmt.Sprintf("v2 says %d \"quoted\"", i)
		ok := v2.publish(prefix+"-v2", content)
		acked = append(acked, ackedMsg{room: prefix + "-v2", offset: uint64(ok.num("offset")), content: content, user: v2.userID})
	}
	api := startAPI(t, s)
	for i := range 2 {
		content := fmt.Sprintf("api says %d", i)
		st, m := api.do("POST", "/api/publish", `{"roomId":"`+prefix+`-api","content":"`+content+`"}`)
		if st != 200 || m.num("offset") != i+1 {
			t.Fatalf("api publish: %d %v", st, m)
		}
		acked = append(acked, ackedMsg{room: prefix + "-api", offset: uint64(i + 1), content: content, user: "system"})
	}
	// (A v1 sender's echo does not wait for the store; the backend is
	// waited for anyway, and the offsets of a room with one sender are
	// 1, 2, 3.)
	return acked
}

// sinkNode starts an in-process node on a Redis broker with the sink on.
func sinkNode(t *testing.T, o redisbroker.Options, name string, be *sinkBackend, mods ...func(*sink.Config)) *clusterNode {
	t.Helper()
	log := testLogger(t, name)
	o.NodeID, o.Logger = name, log
	fastCluster(&o)
	o.Sink = redisbroker.SinkOptions{Shards: 4}
	b, err := redisbroker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *server.Config) {
		c.Broker, c.NodeID, c.Logger, c.RateLimit = b, name, log, -1
		c.Sink = sinkConfig(be)
		for _, m := range mods {
			m(&c.Sink)
		}
		withAPIKey(c)
	})
	return &clusterNode{srv: s, broker: b}
}

// Two nodes on one Redis: every stored message of either reaches the
// backend once (after de-duplication), in order per room; the nodes share
// the shards.
func TestSinkRedisTwoNodes(t *testing.T) {
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server")
	}
	be := newSinkBackend(t)
	A := sinkNode(t, redisbroker.Options{URL: rs.URL()}, "A", be)
	B := sinkNode(t, redisbroker.Options{URL: rs.URL()}, "B", be)
	acked := append(sinkTraffic(t, A.srv, "a"), sinkTraffic(t, B.srv, "b")...)
	be.waitAll(acked, 10*time.Second)
	be.check(acked)
}

// The same on a Redis Cluster (three masters): a room's queue is in its
// slot.
func TestSinkRedisCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	be := newSinkBackend(t)
	A := sinkNode(t, redisbroker.Options{Cluster: rc.Seeds()}, "A", be)
	B := sinkNode(t, redisbroker.Options{Cluster: rc.Seeds()}, "B", be)
	acked := append(sinkTraffic(t, A.srv, "a"), sinkTraffic(t, B.srv, "b")...)
	be.waitAll(acked, 15*time.Second)
	be.check(acked)
}

// publisher publishes v2 messages to its own room without failing the
// test on errors (nodes die, Redis restarts): what it records was
// acknowledged (ok with an offset).
type publisher struct {
	ws   *websocket.Conn
	room string
	user string
	id   int

	mu    sync.Mutex
	acked []ackedMsg
}

func newPublisher(t *testing.T, addr, room string) *publisher {
	c := connectV2(t, addr, "pub")
	c.join(room)
	return &publisher{ws: c.ws, room: room, user: c.userID, id: c.nextID}
}

// publish sends one message and waits for its answer: false when the
// connection is gone.
func (p *publisher) publish(content string) (ok, alive bool) {
	p.id++
	req, _ := json.Marshal(map[string]any{"type": "publish", "id": p.id, "roomId": p.room, "content": content})
	if p.ws.WriteMessage(websocket.TextMessage, req) != nil {
		return false, false
	}
	for {
		_ = p.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := p.ws.ReadMessage()
		if err != nil {
			return false, false
		}
		var m msg
		if json.Unmarshal(b, &m) != nil || m.num("id") != p.id {
			continue
		}
		if m.str("type") != "ok" || m.num("offset") == 0 {
			return false, true
		}
		p.mu.Lock()
		p.acked = append(p.acked, ackedMsg{room: p.room, offset: uint64(m.num("offset")), content: content, user: p.user})
		p.mu.Unlock()
		return true, true
	}
}

// run publishes until stop closes or the connection goes, pausing a little
// between messages.
func (p *publisher) run(stop chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if _, alive := p.publish(fmt.Sprintf("%s #%d", p.room, i)); !alive {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *publisher) all() []ackedMsg {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ackedMsg(nil), p.acked...)
}

// The test: two nodes (one in-process, one a chatd process) on a
// real redis-server with AOF, under traffic; the backend fails for a
// while; the chatd process is killed with -9 while its shards hold
// messages the backend refused; Redis is killed and restarted with its
// data; the backend recovers. It ends up holding every acknowledged
// publish exactly once after de-duplication, in order per room.
func TestSinkSurvivesKillAndRedisRestart(t *testing.T) {
	longTest(t)
	rs := redistest.StartPersistent(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server (AOF, kill, lease expiry)")
	}
	be := newSinkBackend(t)
	bin := buildChatd(t, t.TempDir())
	// The child starts first and takes every shard: node A gets them only
	// when the child's leases lapse after its kill.
	child := startChildNode(t, bin, rs, "doomed", "-sink-url", be.url(), "-hook-secret", sinkSecret,
		"-sink-shards", "4", "-sink-lease-ttl", "1500ms", "-sink-timeout", "1s", "-sink-poll", "20ms",
		"-sink-max-backoff", "200ms", "-heartbeat-interval", "500ms", "-heartbeat-ttl", "2s", "-rate-limit", "-1")
	rc := rs.Client()
	holders := func() map[string]int {
		out := map[string]int{}
		for i := range 4 {
			out[rc.Get(context.Background(), fmt.Sprintf("chatd:sink:lease:%d", i)).Val()]++
		}
		return out
	}
	waitFor(t, 10*time.Second, "the child holding every shard", func() bool { return holders()["doomed"] == 4 })
	A := sinkNode(t, redisbroker.Options{URL: rs.URL()}, "A", be)

	var pubs []*publisher
	for i := range 3 {
		pubs = append(pubs, newPublisher(t, A.srv.Addr(), fmt.Sprintf("ka%d", i)))
		pubs = append(pubs, newPublisher(t, child.addr, fmt.Sprintf("kc%d", i)))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range pubs {
		wg.Add(1)
		go p.run(stop, &wg)
	}
	count := func() int {
		n := 0
		for _, p := range pubs {
			n += len(p.all())
		}
		return n
	}
	waitFor(t, 10*time.Second, "traffic", func() bool { return count() >= 60 })

	// The backend fails: messages pile up in the queues, those of the
	// child's shards included.
	be.setFailing(true)
	n := count()
	waitFor(t, 10*time.Second, "traffic while the backend fails", func() bool { return count() >= n+120 })
	if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-child.exited
	if h := holders(); h["doomed"] != 4 {
		t.Fatalf("shard holders at the kill: %v, want the child's 4", h)
	}
	n = count()
	waitFor(t, 10*time.Second, "traffic after the kill", func() bool { return count() >= n+30 })
	waitFor(t, 10*time.Second, "node A taking the dead node's shards", func() bool { return holders()["A"] == 4 })

	// Redis dies and comes back with its data.
	rs.Kill()
	time.Sleep(300 * time.Millisecond) // an outage that publishes and the sink's reads run into
	rs.Restart()
	waitFor(t, 20*time.Second, "node A ready again", func() bool { return readyz(A.srv.Addr()) == 200 })
	n = count()
	waitFor(t, 20*time.Second, "traffic after the Redis restart", func() bool { return count() >= n+30 })
	close(stop)
	wg.Wait()

	be.setFailing(false)
	var acked []ackedMsg
	for _, p := range pubs {
		acked = append(acked, p.all()...)
	}
	be.waitAll(acked, 60*time.Second)
	be.check(acked)
	be.mu.Lock()
	t.Logf("%d acknowledged publishes; backend: %d POSTs, %d refused while failing, %d duplicates dropped, %d messages",
		len(acked), be.posts, be.refused, be.dups, len(be.msgs))
	be.mu.Unlock()
	if be.refused == 0 {
		t.Fatal("the backend never refused a POST: the failure phase tested nothing")
	}
}

// A node that stops gracefully releases its shards: another node takes
// them over at once (not after -sink-lease-ttl) and delivers what the
// stopped node's shards still held.
func TestSinkGracefulHandover(t *testing.T) {
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server")
	}
	be := newSinkBackend(t)
	rc := rs.Client()
	holders := func() map[string]int {
		out := map[string]int{}
		for i := range 4 {
			out[rc.Get(context.Background(), fmt.Sprintf("chatd:sink:lease:%d", i)).Val()]++
		}
		return out
	}
	// A lease of 6 s, renewed every 2 s, which B tries to take every 2 s:
	// taken within 2.5 s of A's stop, it was released, not lapsed.
	lease := func(c *sink.Config) { c.LeaseTTL = 6 * time.Second }
	A := sinkNode(t, redisbroker.Options{URL: rs.URL()}, "A", be, lease)
	waitFor(t, 5*time.Second, "A holding every shard", func() bool { return holders()["A"] == 4 })
	B := sinkNode(t, redisbroker.Options{URL: rs.URL()}, "B", be, lease)
	be.setFailing(true)
	acked := append(sinkTraffic(t, A.srv, "a"), sinkTraffic(t, B.srv, "b")...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := A.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if h := holders(); h["A"] != 0 {
		t.Fatalf("A still holds %d shards after its shutdown", h["A"])
	}
	waitFor(t, 2500*time.Millisecond, "B taking the released shards", func() bool { return holders()["B"] == 4 })
	t.Logf("B held every shard %v after A stopped", time.Since(stopped).Round(time.Millisecond))
	be.setFailing(false)
	be.waitAll(acked, 10*time.Second)
	be.check(acked)
}

// A sink without a broker queue to read, or with a short secret, is
// refused at start; the sink's secret defaults to the hooks'.
func TestSinkConfigRefused(t *testing.T) {
	be := newSinkBackend(t)
	cfg := server.Config{Addr: "127.0.0.1:0", Broker: memory.New(memory.Options{}), Sink: sinkConfig(be)}
	if _, err := server.New(cfg); err == nil || !strings.Contains(err.Error(), "queues stored messages") {
		t.Fatalf("memory broker without a sink queue: %v", err)
	}
	cfg.Broker = memory.New(memory.Options{Sink: sink.NewMemory(0, 0)})
	cfg.Sink.Secret = "short"
	if _, err := server.New(cfg); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("short secret: %v", err)
	}
	cfg.Sink.Secret, cfg.Hooks.Secret = "", sinkSecret
	s := startServer(t, func(c *server.Config) { *c = cfg; c.Broker = memory.New(memory.Options{Sink: sink.NewMemory(0, 0)}) })
	v2 := connectV2(t, s.Addr(), "x")
	v2.join("r")
	ok := v2.publish("r", "with the hooks' secret")
	be.waitAll([]ackedMsg{{room: "r", offset: uint64(ok.num("offset")), content: "with the hooks' secret"}}, 5*time.Second)
	be.check(nil) // no POST without the secret
}
