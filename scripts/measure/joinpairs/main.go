// Command joinpairs measures how joined notices line up with joins when two
// users join one room at the same moment (docs/protocol-v1.md §5): for each
// of -pairs rooms, two clients (the first on the first address, the second
// on the last) send their join at once; once both are members each says
// something, and each reads until it has both messages (which the room
// orders after every notice of the two joins). A client whose join reply
// counts 2 and then gets the other's joined notice got a stale one; a client
// whose reply counts 1 and never gets the other's missed one. It prints the
// two counts. It dials only 127.0.0.1 and stops by itself (every read has a
// deadline; at most 1,000 pairs).
//
//	go run ./scripts/measure/joinpairs -ports 8080 -pairs 200 -proto v1
//	go run ./scripts/measure/joinpairs -ports 18651,18652 -pairs 200 -proto v2
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// host is fixed: load only ever targets this machine.
const host = "127.0.0.1"

func main() {
	ports := flag.String("ports", "8080", "the nodes' ports on 127.0.0.1, comma-separated: the first client of a pair dials the first, the second the last")
	pairs := flag.Int("pairs", 200, "rooms, one pair of joiners each (at most 1000)")
	proto := flag.String("proto", "v1", "v1 (the reference app's protocol) or v2")
	flag.Parse()
	if *pairs < 1 || *pairs > 1000 || (*proto != "v1" && *proto != "v2") {
		fmt.Fprintln(os.Stderr, "joinpairs: -pairs in 1..1000, -proto v1 or v2")
		os.Exit(2)
	}
	ps := strings.Split(*ports, ",")
	urls := []string{"ws://" + host + ":" + ps[0] + "/ws", "ws://" + host + ":" + ps[len(ps)-1] + "/ws"}
	room := fmt.Sprintf("joinpairs-%d-", time.Now().UnixNano())
	stale, missed := 0, 0
	for i := range *pairs {
		s, m, err := pair(urls, room+fmt.Sprint(i), *proto)
		if err != nil {
			fmt.Fprintf(os.Stderr, "joinpairs: pair %d: %v\n", i, err)
			os.Exit(1)
		}
		stale += s
		missed += m
	}
	fmt.Printf("proto %s, %d pairs on %s: stale %d (%.1f %%), missed %d (%.1f %%)\n", *proto, *pairs, *ports,
		stale, 100*float64(stale)/float64(*pairs), missed, 100*float64(missed)/float64(*pairs))
}

// conn is one client: its socket and what it read.
type conn struct {
	ws   *websocket.Conn
	id   string
	got  []map[string]any
	errc error
}

func (c *conn) read() (map[string]any, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, p, err := c.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		return nil, fmt.Errorf("bad JSON %q: %w", p, err)
	}
	return m, nil
}

func (c *conn) send(v any) error {
	b, _ := json.Marshal(v)
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// dial connects and, for v2, says hello; it returns the user id.
func dial(url, proto, name string) (*conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if proto == "v2" {
		d.Subprotocols = []string{"chatd.v2"}
	}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	c := &conn{ws: ws}
	if proto == "v2" {
		if err := c.send(map[string]any{"type": "hello", "id": 0, "name": name}); err != nil {
			return nil, err
		}
	}
	m, err := c.read() // v1: connected; v2: hello's ok
	if err != nil {
		return nil, err
	}
	c.id, _ = m["userId"].(string)
	if c.id == "" {
		return nil, fmt.Errorf("greeting %v", m)
	}
	return c, nil
}

// pair runs one room and returns 1 for a stale notice and 1 for a missed
// one (each at most 1: one client of the two counts 2).
func pair(urls []string, room, proto string) (stale, missed int, err error) {
	cs := make([]*conn, 2)
	for k := range cs {
		if cs[k], err = dial(urls[k], proto, fmt.Sprint("u", k)); err != nil {
			return 0, 0, err
		}
		defer cs[k].ws.Close()
	}
	var joined, wg sync.WaitGroup
	joined.Add(2)
	both := make(chan struct{})
	go func() { joined.Wait(); close(both) }()
	for k, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.errc = run(c, k, room, proto, &joined, both)
		}()
	}
	wg.Wait()
	for k, c := range cs {
		if c.errc != nil {
			return 0, 0, c.errc
		}
		count, _ := c.got[0]["memberCount"].(float64)
		notices := 0
		for _, m := range c.got[1:] {
			if t := m["type"]; (t == "userJoined" || t == "joined") && m["userId"] == cs[1-k].id {
				notices++
			}
		}
		switch {
		case count == 2 && notices > 0:
			stale++
		case count == 1 && notices == 0:
			missed++
		}
	}
	return stale, missed, nil
}

// run is one client's part: join, then (once both joined) say something
// and read until it has its own message's answer and the other's message.
func run(c *conn, k int, room, proto string, joined *sync.WaitGroup, both chan struct{}) error {
	once := sync.OnceFunc(joined.Done)
	defer once()
	req := map[string]any{"type": "join", "roomId": room, "username": fmt.Sprint("u", k)}
	reply := "roomJoined"
	if proto == "v2" {
		req = map[string]any{"type": "join", "roomId": room, "id": 1}
		reply = "ok"
	}
	if err := c.send(req); err != nil {
		return err
	}
	m, err := c.read()
	if err != nil {
		return err
	}
	if m["type"] != reply {
		return fmt.Errorf("first frame %v, want the join's reply", m)
	}
	c.got = append(c.got, m)
	once()
	select {
	case <-both:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("the other join never finished")
	}
	say := map[string]any{"type": "message", "content": "x"}
	if proto == "v2" {
		say = map[string]any{"type": "publish", "roomId": room, "content": "x", "id": 2}
	}
	if err := c.send(say); err != nil {
		return err
	}
	// v1: both messages (the sender gets its own); v2: the publish's ok and
	// the other's message.
	for seen := 0; seen < 2; {
		m, err := c.read()
		if err != nil {
			return err
		}
		c.got = append(c.got, m)
		if m["type"] == "message" || m["type"] == "ok" {
			seen++
		}
	}
	return nil
}
