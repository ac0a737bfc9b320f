package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runHistory (issue 24 item 2): (1) 10 connections (alternating nodes), each
// joining 64 rooms of its own, publish 65,000-byte messages round-robin over
// them at 20/s each for 25 s: Redis used_memory before and after. (2) On a
// fresh cluster, 48,762 rooms get one short message each (joins past
// BEFORE's nonexistent creation bound need -addr-room-create-rate -1 on
// later builds): used_memory per room, with the members still in, and after
// they all left (the histories stay).
func runHistory(e *env) error {
	if err := historyBig(e); err != nil {
		return fmt.Errorf("big messages: %w", err)
	}
	return historyMany(e)
}

func historyBig(e *env) error {
	window := 25 * time.Second
	if e.small {
		window = 5 * time.Second
	}
	c, err := e.startCluster(2)
	if err != nil {
		return err
	}
	defer c.stop()
	setup := e.res.Setup
	used0 := redisUsedMemory(c.redis.addr)
	var ok atomic.Int64
	var mu sync.Mutex
	refused := map[string]int64{}
	onPush := func(b []byte) {
		switch {
		case bytes.HasPrefix(b, []byte(`{"type":"ok"`)):
			ok.Add(1)
		case bytes.HasPrefix(b, []byte(`{"type":"error"`)):
			var r reply
			_ = json.Unmarshal(b, &r)
			mu.Lock()
			refused[r.Code]++
			mu.Unlock()
		}
	}
	conns := make([]*conn, 10)
	rooms := make([][]string, 10)
	var joinRefused atomic.Int64
	joinCodes := map[string]int64{}
	if err := parallel(10, 10, func(i int) error {
		cn, err := v2user(c.url(i), fmt.Sprintf("filler%d", i), "", onPush) // joins are awaited; publishes counted by onPush
		if err != nil {
			return err
		}
		conns[i] = cn
		t := time.NewTicker(55 * time.Millisecond)
		defer t.Stop()
		for k := range 64 {
			room := fmt.Sprintf("fill-%d-%d", i, k)
			r, err := cn.call(map[string]any{"type": "join", "roomId": room}, 30*time.Second)
			if err != nil {
				return err
			}
			if r.Type == "ok" {
				rooms[i] = append(rooms[i], room)
			} else {
				joinRefused.Add(1)
				mu.Lock()
				joinCodes[r.Code]++
				mu.Unlock()
			}
			<-t.C
		}
		return nil
	}); err != nil {
		closeAll(conns)
		return err
	}
	defer closeAll(conns)
	time.Sleep(2 * time.Second)
	usedJoined := redisUsedMemory(c.redis.addr)
	content := strings.Repeat("h", 65000)
	var sent atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(window)
	for i, cn := range conns {
		if len(rooms[i]) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for k := 0; time.Now().Before(end); k++ {
				if cn.send(map[string]any{"type": "publish", "id": k, "roomId": rooms[i][k%len(rooms[i])], "content": content}) != nil {
					return
				}
				sent.Add(1)
				<-t.C
			}
		}()
	}
	wg.Wait()
	time.Sleep(3 * time.Second)
	used1 := redisUsedMemory(c.redis.addr)
	joined := 0
	for _, r := range rooms {
		joined += len(r)
	}
	e.fig("big_rooms_joined", joined)
	e.fig("big_joins_refused", joinCodes)
	e.fig("big_window_seconds", window.Seconds())
	e.fig("big_publishes_sent", sent.Load())
	e.fig("big_publishes_ok", ok.Load())
	e.fig("big_publishes_refused", refused)
	e.fig("big_redis_used_memory_start", used0)
	e.fig("big_redis_used_memory_joined", usedJoined)
	e.fig("big_redis_used_memory_end", used1)
	e.res.Summary = fmt.Sprintf("65,000-byte messages: %d rooms joined (%d refused), %d of %d publishes ok; Redis %.0f MB → %.0f MB in %.0f s",
		joined, joinRefused.Load(), ok.Load(), sent.Load(), float64(used0)/1e6, float64(used1)/1e6, window.Seconds())
	e.res.Setup = setup
	return nil
}

func historyMany(e *env) error {
	rooms := 48762
	if e.small {
		rooms = 4876
	}
	summary, setup := e.res.Summary, e.res.Setup
	var flags []string
	if e.hasFlag("addr-room-create-rate") {
		flags = []string{"-addr-room-create-rate", "-1"}
	}
	c, err := e.startCluster(2, flags...)
	if err != nil {
		return err
	}
	defer c.stop()
	used0 := redisUsedMemory(c.redis.addr)
	t0 := time.Now()
	conns, refused, err := holdRooms(c, rooms, "one", "a short chat message")
	if err != nil {
		closeAll(conns)
		return err
	}
	e.fig("many_rooms", rooms)
	e.fig("many_seconds", round(time.Since(t0).Seconds(), 1))
	e.fig("many_refused", refused)
	time.Sleep(2 * time.Second)
	usedIn := redisUsedMemory(c.redis.addr)
	closeAll(conns)
	time.Sleep(5 * time.Second)
	usedLeft := redisUsedMemory(c.redis.addr)
	e.fig("many_redis_used_memory_start", used0)
	e.fig("many_redis_used_memory_members_in", usedIn)
	e.fig("many_redis_used_memory_members_left", usedLeft)
	perIn := float64(usedIn-used0) / float64(rooms)
	perLeft := float64(usedLeft-used0) / float64(rooms)
	e.fig("many_bytes_per_room_members_in", round(perIn, 0))
	e.fig("many_bytes_per_room_after_leaving", round(perLeft, 0))
	e.res.Summary = summary + fmt.Sprintf("; %d one-message rooms: %.0f MB, %.0f B per room (%.0f B with the members still in)",
		rooms, float64(usedLeft-used0)/1e6, perLeft, perIn)
	e.res.Setup = setup + "; then " + e.res.Setup
	return nil
}
