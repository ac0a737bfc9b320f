package main

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// holdRooms opens connections (alternating nodes), each joining up to 64
// rooms named prefix-<n>, paced at 20 requests/s per connection (the rate
// limit); publish, if set, is sent once in each room after its join. It
// returns the connections (the rooms stay while they are open) and the
// joins and publishes refused.
func holdRooms(c *cluster, rooms int, prefix, publish string) ([]*conn, map[string]int64, error) {
	per := 64
	n := (rooms + per - 1) / per
	conns := make([]*conn, n)
	var refusedJoin, refusedPub, failed atomic.Int64
	err := parallel(n, 256, func(i int) error {
		cn, err := v2user(c.url(i), fmt.Sprintf("h%d", i), "", nil)
		if err != nil {
			return fmt.Errorf("holder %d: %w", i, err)
		}
		conns[i] = cn
		t := time.NewTicker(55 * time.Millisecond)
		defer t.Stop()
		var joined []string
		for k := i * per; k < min(rooms, (i+1)*per); k++ {
			room := fmt.Sprintf("%s-%d", prefix, k)
			r, err := cn.call(map[string]any{"type": "join", "roomId": room}, 30*time.Second)
			switch {
			case err != nil:
				failed.Add(1)
			case r.Type != "ok":
				refusedJoin.Add(1)
			default:
				joined = append(joined, room)
			}
			<-t.C
		}
		if publish == "" {
			return nil
		}
		for _, room := range joined {
			r, err := cn.call(map[string]any{"type": "publish", "roomId": room, "content": publish}, 30*time.Second)
			if err != nil || r.Type != "ok" {
				refusedPub.Add(1)
			}
			<-t.C
		}
		return nil
	})
	return conns, map[string]int64{"joins_refused": refusedJoin.Load(), "requests_unanswered": failed.Load(), "publishes_refused_or_unanswered": refusedPub.Load()}, err
}

func closeAll(conns []*conn) {
	for _, cn := range conns {
		if cn != nil {
			cn.close()
		}
	}
}

// runListCost (issue 24 item 6): 50,400 rooms with a member each (788
// connections of 64 rooms, alternating nodes); node CPU over a quiet window,
// then over a window in which one client on node 1 asks for the v2 room
// list (its first page) every 2 s.
func runListCost(e *env) error {
	rooms, idle, ask := 50400, 10*time.Second, 20*time.Second
	if e.small {
		rooms, idle, ask = 5040, 4*time.Second, 8*time.Second
	}
	var flags []string
	if e.hasFlag("addr-room-create-rate") {
		flags = []string{"-addr-room-create-rate", "-1"}
	}
	c, err := e.startCluster(2, flags...)
	if err != nil {
		return err
	}
	defer c.stop()
	t0 := time.Now()
	conns, refused, err := holdRooms(c, rooms, "lc", "")
	defer closeAll(conns)
	if err != nil {
		return err
	}
	e.fig("rooms", rooms)
	e.fig("rooms_created_seconds", round(time.Since(t0).Seconds(), 1))
	e.fig("creation", refused)
	time.Sleep(3 * time.Second)
	n1, n2 := c.nodes[0].pid, c.nodes[1].pid
	a1, a2 := cpuSeconds(n1), cpuSeconds(n2)
	time.Sleep(idle)
	b1, b2 := cpuSeconds(n1), cpuSeconds(n2)
	asker, err := v2user(c.url(0), "asker", "", nil)
	if err != nil {
		return err
	}
	defer asker.close()
	builds0 := metrics(c.nodes[0].addr)["chatd_room_list_builds_total"]
	var rtts []time.Duration
	var sizes []int
	end := time.Now().Add(ask)
	for time.Now().Before(end) {
		s := time.Now()
		r, err := asker.ok(map[string]any{"type": "rooms"}, 30*time.Second)
		if err != nil {
			return fmt.Errorf("rooms: %w", err)
		}
		rtts = append(rtts, time.Since(s))
		sizes = append(sizes, len(r.raw))
		time.Sleep(time.Until(s.Add(2 * time.Second)))
	}
	d1, d2 := cpuSeconds(n1), cpuSeconds(n2)
	askSecs := ask.Seconds()
	idlePct := func(a, b float64) float64 { return round(100*(b-a)/idle.Seconds(), 1) }
	askPct := func(a, b float64) float64 { return round(100*(b-a)/askSecs, 1) }
	slices.Sort(rtts)
	e.fig("node1_cpu_pct_idle", idlePct(a1, b1))
	e.fig("node2_cpu_pct_idle", idlePct(a2, b2))
	e.fig("node1_cpu_pct_one_asker", askPct(b1, d1))
	e.fig("node2_cpu_pct_one_asker", askPct(b2, d2))
	e.fig("asks", len(rtts))
	e.fig("reply_ms_min_median_max", []float64{round(float64(rtts[0])/1e6, 1), round(float64(rtts[len(rtts)/2])/1e6, 1), round(float64(rtts[len(rtts)-1])/1e6, 1)})
	e.fig("reply_bytes", sizes[0])
	e.fig("node1_room_list_builds", metrics(c.nodes[0].addr)["chatd_room_list_builds_total"]-builds0)
	extra := askPct(b1, d1) - idlePct(a1, b1)
	e.res.Summary = fmt.Sprintf("%d rooms: node 1 CPU %.1f%% of a core with one client asking every 2 s (%.1f%% idle: +%.1f points); reply %.0f–%.0f ms",
		rooms, askPct(b1, d1), idlePct(a1, b1), extra, float64(rtts[0])/1e6, float64(rtts[len(rtts)-1])/1e6)
	return nil
}
