package server_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
)

// 1000 clients in 50 rooms each send messages; every member receives every
// message of its room exactly once (others' messages plus its own echoes),
// and nothing from another room.
func TestThousandClientsFiftyRooms(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	s := startServer(t, func(c *server.Config) { c.RateLimit = -1 })
	const clients, rooms, perClient = 1000, 50, 5
	const perRoom = clients / rooms
	cs := make([]*client, clients)
	for i := range cs {
		cs[i] = connect(t, s)
	}
	// Join room by room, so each member knows how many join notices to expect.
	for i, c := range cs {
		c.send(fmt.Sprintf(`{"type":"join","roomId":"room-%d","username":"u%d"}`, i%rooms, i))
	}
	type key struct{ from, seq int }
	// One bound for the whole run, not one per read: a member whose room is
	// full reads nothing until every room is, and under the race detector on
	// a busy machine the joins alone took over 20 s.
	deadline := time.Now().Add(2 * time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 2*clients) // a reader's error and its writer's
	var writers sync.WaitGroup          // the senders: errs closes after them
	start := make(chan struct{})
	var full sync.WaitGroup // a client is done when it saw memberCount == perRoom
	full.Add(clients)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			room := i % rooms
			seen := map[key]bool{}
			msgs, isFull := 0, false
			sent := false
			defer func() {
				if !isFull {
					full.Done() // failed early: do not hold the others back
				}
			}()
			// Expected: perRoom*perClient messages (own echoes included).
			for msgs < perRoom*perClient {
				_ = c.ws.SetReadDeadline(deadline)
				var m msg
				if err := c.ws.ReadJSON(&m); err != nil {
					errs <- fmt.Errorf("client %d after %d messages: %v", i, msgs, err)
					return
				}
				switch m.str("type") {
				case "roomJoined", "userJoined":
					if m.num("memberCount") == perRoom && !isFull {
						isFull = true
						full.Done()
					}
				case "message":
					from, seq, ok := parseContent(m.str("content"))
					if !ok || from%rooms != room {
						errs <- fmt.Errorf("client %d (room %d) got foreign %v", i, room, m)
						return
					}
					if seen[key{from, seq}] {
						errs <- fmt.Errorf("client %d: duplicate %v", i, m)
						return
					}
					seen[key{from, seq}] = true
					msgs++
				}
				if isFull && !sent {
					sent = true
					writers.Add(1)
					go func() {
						defer writers.Done()
						<-start
						for k := 0; k < perClient; k++ {
							if err := c.ws.WriteMessage(1, []byte(fmt.Sprintf(`{"type":"message","content":"%d:%d"}`, i, k))); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
			}
		}()
	}
	// Start sending once every client has seen its room complete.
	full.Wait()
	close(start)
	wg.Wait()
	writers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func parseContent(s string) (from, seq int, ok bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, false
	}
	from, err1 := strconv.Atoi(a)
	seq, err2 := strconv.Atoi(b)
	return from, seq, err1 == nil && err2 == nil
}
