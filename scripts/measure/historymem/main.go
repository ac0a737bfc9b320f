// Command historymem measures what rooms' histories cost in Redis: it
// stores -messages messages (of -content-bytes of text) in each of -rooms
// new rooms through the Redis broker (as a chat node would: the store
// script, no member needed) and reports the growth of Redis' used_memory
// (INFO memory) per room and per message. Run it against a private, empty
// redis-server on loopback; bounded by -rooms and -messages.
//
//	redis-server --port 16400 --save '' --appendonly no --daemonize yes
//	go run ./scripts/measure/historymem -redis redis://127.0.0.1:16400 -rooms 10000
//	go run ./scripts/measure/historymem -redis redis://127.0.0.1:16400 -rooms 1000 -messages 100 -content-bytes 60
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatd/chatd/server/broker"
	redisbroker "github.com/chatd/chatd/server/broker/redis"
	goredis "github.com/redis/go-redis/v9"
)

type nopReceiver struct{}

func (nopReceiver) Receive(string, string) error                 { return nil }
func (nopReceiver) Deliver(*broker.Event)                        {}
func (nopReceiver) Resync(string, string)                        {}
func (nopReceiver) PresenceBody(bool, broker.Member, int) []byte { return nil }

func (nopReceiver) Announce(bool, broker.Member, int) *broker.Event { return nil }

func main() {
	url := flag.String("redis", "redis://127.0.0.1:16400", "a private, empty Redis")
	rooms := flag.Int("rooms", 10000, "new rooms (at most 1,000,000)")
	messages := flag.Int("messages", 1, "messages stored per room (at most 1,000)")
	content := flag.Int("content-bytes", 11, "bytes of each message's text")
	flag.Parse()
	if *rooms < 1 || *rooms > 1_000_000 || *messages < 1 || *messages > 1000 || *content < 1 || *content > 60000 {
		log.Fatal("-rooms must be 1..1000000, -messages 1..1000, -content-bytes 1..60000")
	}
	text := strings.Repeat("x", *content)
	if *content == 11 {
		text = "hello there"
	}
	ctx := context.Background()
	opt, err := goredis.ParseURL(*url)
	if err != nil {
		log.Fatal(err)
	}
	c := goredis.NewClient(opt)
	b, err := redisbroker.New(redisbroker.Options{URL: *url, NodeID: "measure",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Start(nopReceiver{}); err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	time.Sleep(200 * time.Millisecond) // (the first heartbeat, so that it is not counted)
	before := used(ctx, c)
	keysBefore := c.DBSize(ctx).Val()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := 0; i < *rooms**messages; i++ {
		room := fmt.Sprintf("room-%06d", i%*rooms)
		body := `{"type":"message","roomId":"` + room + `","userId":"u1","username":"alice","content":"` + text + `","timestamp":"2026-12-06T18:00:00.000Z"}`
		wg.Add(1)
		b.Publish(&broker.Event{Room: room, Body: []byte(body), Exclude: "u1", Store: true}, func(_ uint64, err error) {
			if err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
			wg.Done()
		})
		if i%1000 == 999 {
			wg.Wait() // (bounded queue)
		}
	}
	wg.Wait()
	after := used(ctx, c)
	keys := c.DBSize(ctx).Val() - keysBefore
	fmt.Printf("rooms %d x %d messages of %d bytes (failed %d), keys +%d, used_memory %d -> %d: %.0f B per room, %.0f B per message\n",
		*rooms, *messages, *content, failed, keys, before, after, float64(after-before)/float64(*rooms),
		float64(after-before)/float64(*rooms**messages))
}

func used(ctx context.Context, c *goredis.Client) int64 {
	for _, line := range strings.Split(c.Info(ctx, "memory").Val(), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	log.Fatal("no used_memory")
	return 0
}
