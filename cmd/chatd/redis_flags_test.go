package main

import (
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/brokertest"
)

func TestRedisFlagsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, ""},
		{[]string{"-redis", "redis://h:1"}, map[string]string{"REDIS_URL": "redis://other:2"}, "redis://h:1"},
		{nil, map[string]string{"CHATD_REDIS": "redis://c:3", "REDIS_URL": "redis://other:2"}, "redis://c:3"},
		{nil, map[string]string{"REDIS_URL": "redis://u:4"}, "redis://u:4"},
		{nil, map[string]string{"REDIS_HOST": "redis", "REDIS_PORT": "6380"}, "redis://redis:6380"},
		{nil, map[string]string{"REDIS_PASSWORD": "p@ss"}, "redis://:p%40ss@localhost:6379"},
	} {
		o, err := parseFlags(tc.args, func(k string) string { return tc.env[k] })
		if err != nil {
			t.Fatalf("%v %v: %v", tc.args, tc.env, err)
		}
		if o.redis.url != tc.want {
			t.Errorf("%v %v: url %q, want %q", tc.args, tc.env, o.redis.url, tc.want)
		}
	}
	for _, args := range [][]string{
		{"-redis", "http://x"},
		{"-redis", "redis://x:1", "-heartbeat-ttl", "1s", "-heartbeat-interval", "2s"},
	} {
		if _, err := parseFlags(args, func(string) string { return "" }); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if _, err := parseFlags(nil, func(k string) string {
		return map[string]string{"REDIS_PORT": "x"}[k]
	}); err == nil {
		t.Errorf("bad REDIS_PORT accepted")
	}
}

// -history-room-bytes reaches both brokers' options: the default, a value,
// -1 (no byte bound); values below 1024 are refused.
func TestHistoryRoomBytesFlag(t *testing.T) {
	env := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 128 << 10},
		{[]string{"-history-room-bytes", "4096"}, 4096},
		{[]string{"-history-room-bytes", "-1"}, -1},
	} {
		o, err := parseFlags(tc.args, env)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if o.redis.historyRoomBytes != tc.want {
			t.Errorf("%v: %d, want %d", tc.args, o.redis.historyRoomBytes, tc.want)
		}
	}
	for _, v := range []string{"0", "1023", "-2"} {
		if _, err := parseFlags([]string{"-history-room-bytes", v}, env); err == nil {
			t.Errorf("-history-room-bytes %s accepted", v)
		}
	}
}

// -history-room-bytes reaches the broker: with 1024 bytes a room keeps the
// newest message of two 600-byte ones (without Redis: the memory broker).
func TestHistoryRoomBytesReachesTheBroker(t *testing.T) {
	o, err := parseFlags([]string{"-history-room-bytes", "1024"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	b, err := o.redis.broker(&o.cfg, o.sink, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(brokertest.NewReceiver()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		body := `{"n":` + strconv.Itoa(i) + `,"pad":"` + strings.Repeat("x", 600) + `"}`
		b.Publish(&broker.Event{Room: "r", Body: []byte(body), Store: true}, nil)
	}
	var got broker.HistoryResult
	b.History("r", broker.HistoryQuery{Limit: 10}, func(h broker.HistoryResult, _ error) { got = h })
	if got.Offset != 2 || len(got.Messages) != 1 || !strings.HasPrefix(got.Messages[0], `{"n":1,`) {
		t.Fatalf("history %d messages at offset %d, want the newest of 2", len(got.Messages), got.Offset)
	}
}
