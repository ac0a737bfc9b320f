// Command historymem measures the Redis memory a stored chat message costs:
// it stores -messages messages in each of -rooms rooms through the Redis
// broker (the store script chatd runs: stream entry, meta hash, PUBLISH)
// into a Redis at -redis (use a private, empty one: the figure is the
// difference of INFO memory's used_memory before and after), and prints
// bytes per stored message. A message is the v1 JSON body chatd stores,
// with a -content-bytes content and the header members chatd adds.
//
//	redis-server --port 16400 --save "" --appendonly no &
//	go run ./scripts/measure/historymem -redis redis://127.0.0.1:16400
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
func (nopReceiver) PresenceBody(bool, broker.Member, int) []byte { return []byte(`{}`) }

func usedMemory(ctx context.Context, c *goredis.Client) int64 {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	log.Fatal("no used_memory in INFO")
	return 0
}

func main() {
	url := flag.String("redis", "redis://127.0.0.1:16400", "a private, empty Redis")
	rooms := flag.Int("rooms", 1000, "rooms")
	per := flag.Int("messages", 100, "messages stored per room (the history size)")
	content := flag.Int("content-bytes", 60, "bytes of content per message")
	flag.Parse()
	ctx := context.Background()
	opt, err := goredis.ParseURL(*url)
	if err != nil {
		log.Fatal(err)
	}
	raw := goredis.NewClient(opt)
	before := usedMemory(ctx, raw)
	b, err := redisbroker.New(redisbroker.Options{URL: *url, NodeID: "historymem", HistorySize: *per,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Start(nopReceiver{}); err != nil {
		log.Fatal(err)
	}
	text := strings.Repeat("x", *content)
	var wg sync.WaitGroup
	start := time.Now()
	for r := 0; r < *rooms; r++ {
		room := fmt.Sprintf("room-%04d", r)
		for i := 0; i < *per; i++ {
			body := fmt.Sprintf(`{"type":"message","content":%q,"username":"alice","userId":"ypk0gg3ew5","timestamp":"2026-11-29T07:00:00.000Z"}`, text)
			wg.Add(1)
			b.Publish(&broker.Event{Room: room, Body: []byte(body), Exclude: "ypk0gg3ew5", Conn: 123456789, Store: true},
				func(_ uint64, err error) {
					if err != nil {
						log.Fatal(err)
					}
					wg.Done()
				})
		}
		if r%100 == 99 {
			wg.Wait() // stay under the broker's publish queue
		}
	}
	wg.Wait()
	took := time.Since(start)
	_ = b.Close()
	// The node's own bookkeeping keys (heartbeat, node set) are small; the
	// rest is the histories.
	after := usedMemory(ctx, raw)
	n := int64(*rooms * *per)
	fmt.Printf("%d messages in %d rooms (%d bytes of content each) stored in %v: used_memory %d -> %d: %d bytes per stored message\n",
		n, *rooms, *content, took.Round(time.Millisecond), before, after, (after-before)/n)
}
