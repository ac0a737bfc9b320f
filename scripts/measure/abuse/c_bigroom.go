package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runChurn (issue 24 item 4): 10 connections join and leave a 2,000-member
// room as fast as the per-connection rate limit lets them; an unrelated
// probe (another room, sender on node 1, receiver on node 2) measures its
// message latency before and during the churn.
func runChurn(e *env) error {
	return bigRoomAttack(e, "join/leave churn", func(cn *conn, room string, count func(reply, error)) {
		r, err := cn.call(map[string]any{"type": "join", "roomId": room}, 5*time.Second)
		count(r, err)
		r, err = cn.call(map[string]any{"type": "leave", "roomId": room}, 5*time.Second)
		count(r, err)
	}, false)
}

// runPresence (issue 24 item 4): 10 members of the 2,000-member room ask
// for its presence at the per-connection rate limit; the same probe.
func runPresence(e *env) error {
	return bigRoomAttack(e, "presence", func(cn *conn, room string, count func(reply, error)) {
		r, err := cn.call(map[string]any{"type": "presence", "roomId": room}, 5*time.Second)
		count(r, err)
	}, true)
}

type probeStats struct {
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	P50ms    float64 `json:"p50ms"`
	P99ms    float64 `json:"p99ms"`
	MaxMs    float64 `json:"maxMs"`
}

func bigRoomAttack(e *env, what string, step func(cn *conn, room string, count func(reply, error)), attackersJoin bool) error {
	members, base, attack := 2000, 10*time.Second, 20*time.Second
	if e.small {
		members, base, attack = 400, 4*time.Second, 5*time.Second
	}
	c, err := e.startCluster(2)
	if err != nil {
		return err
	}
	defer c.stop()
	const room = "big"
	var pushes atomic.Int64
	count := func([]byte) { pushes.Add(1) }
	conns := make([]*conn, members)
	defer func() {
		for _, cn := range conns {
			if cn != nil {
				_ = cn.ws.Close()
			}
		}
	}()
	t0 := time.Now()
	if err := parallel(members, 32, func(i int) error {
		cn, err := v2user(c.url(i), fmt.Sprintf("m%d", i), "", count)
		if err != nil {
			return fmt.Errorf("member %d: %w", i, err)
		}
		conns[i] = cn
		_, err = cn.ok(map[string]any{"type": "join", "roomId": room}, 30*time.Second)
		return err
	}); err != nil {
		return err
	}
	e.fig("members", members)
	e.fig("members_joined_seconds", round(time.Since(t0).Seconds(), 2))
	quiet(&pushes, 60*time.Second)
	e.fig("join_notices_seen_by_members", pushes.Load())

	// The probe: sender on node 1, receiver on node 2, 10 messages a second.
	var mu sync.Mutex
	var lat []time.Duration
	var measuring atomic.Bool
	recv, err := v2user(c.url(1), "probe-r", "", func(b []byte) {
		var m struct {
			Type    string `json:"type"`
			Content string `json:"content"`
		}
		if json.Unmarshal(b, &m) != nil || m.Type != "message" || !measuring.Load() {
			return
		}
		ns, err := strconv.ParseInt(m.Content, 10, 64)
		if err == nil {
			mu.Lock()
			lat = append(lat, time.Since(time.Unix(0, ns)))
			mu.Unlock()
		}
	})
	if err != nil {
		return fmt.Errorf("probe receiver: %w", err)
	}
	defer recv.close()
	send, err := v2user(c.url(0), "probe-s", "", nil)
	if err != nil {
		return fmt.Errorf("probe sender: %w", err)
	}
	defer send.close()
	for _, cn := range []*conn{recv, send} {
		if _, err := cn.ok(map[string]any{"type": "join", "roomId": "probe"}, 10*time.Second); err != nil {
			return fmt.Errorf("probe join: %w", err)
		}
	}
	probe := func(d time.Duration) probeStats {
		mu.Lock()
		lat = lat[:0]
		mu.Unlock()
		measuring.Store(true)
		sent := 0
		t := time.NewTicker(100 * time.Millisecond)
		for end := time.Now().Add(d); time.Now().Before(end); sent++ {
			_ = send.send(map[string]any{"type": "publish", "roomId": "probe", "content": strconv.FormatInt(time.Now().UnixNano(), 10)})
			<-t.C
		}
		t.Stop()
		time.Sleep(time.Second)
		measuring.Store(false)
		mu.Lock()
		defer mu.Unlock()
		return stats(sent, lat)
	}
	// The attackers: 10 connections, alternating nodes.
	attackers := make([]*conn, 10)
	for i := range attackers {
		cn, err := v2user(c.url(i), fmt.Sprintf("attacker%d", i), "", nil)
		if err != nil {
			return fmt.Errorf("attacker: %w", err)
		}
		defer cn.close()
		if attackersJoin {
			if _, err := cn.ok(map[string]any{"type": "join", "roomId": room}, 30*time.Second); err != nil {
				return fmt.Errorf("attacker join: %w", err)
			}
		}
		attackers[i] = cn
	}
	quiet(&pushes, 30*time.Second)
	baseline := probe(base)
	e.fig("probe_baseline", baseline)

	var ok, errs, noReply atomic.Int64
	var cmu sync.Mutex
	codes := map[string]int64{}
	tally := func(r reply, err error) {
		switch {
		case err != nil:
			noReply.Add(1)
		case r.Type == "ok":
			ok.Add(1)
		default:
			errs.Add(1)
			cmu.Lock()
			codes[r.Code]++
			cmu.Unlock()
		}
	}
	pushes0 := pushes.Load()
	cpu0 := cpuAll(c.pids())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, cn := range attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(105 * time.Millisecond) // one step = 2 requests (churn) or 1; ~19 requests/s for churn
			if attackersJoin {
				t.Reset(52 * time.Millisecond)
			}
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					if _, done := cn.closed(); done {
						return
					}
					step(cn, room, tally)
				}
			}
		}()
	}
	during := probe(attack)
	close(stop)
	wg.Wait()
	cpu1 := cpuAll(c.pids())
	e.fig("probe_during_attack", during)
	e.fig("attack_seconds", attack.Seconds())
	e.fig("attacker_requests_ok", ok.Load())
	e.fig("attacker_requests_refused", codes)
	e.fig("attacker_requests_unanswered", noReply.Load())
	e.fig("pushes_to_members_during_attack", pushes.Load()-pushes0)
	e.fig("nodes_and_redis_cpu_seconds_during_attack", round(cpu1-cpu0, 2))
	closed := 0
	for _, cn := range attackers {
		if _, done := cn.closed(); done {
			closed++
		}
	}
	e.fig("attackers_closed", closed)
	e.res.Summary = fmt.Sprintf("%s: probe p99 %.1f ms before → %.1f ms during (p50 %.1f → %.1f, max %.0f ms); attackers' requests ok %d, refused %d; %d pushes to members in %.0f s",
		what, baseline.P99ms, during.P99ms, baseline.P50ms, during.P50ms, during.MaxMs, ok.Load(), errs.Load(), pushes.Load()-pushes0, attack.Seconds())
	return nil
}

// quiet waits until the counter has not moved for a second (at most max).
func quiet(n *atomic.Int64, max time.Duration) {
	last := n.Load()
	for end := time.Now().Add(max); time.Now().Before(end); {
		time.Sleep(time.Second)
		v := n.Load()
		if v == last {
			return
		}
		last = v
	}
}

func stats(sent int, lat []time.Duration) probeStats {
	s := probeStats{Sent: sent, Received: len(lat)}
	if len(lat) == 0 {
		return s
	}
	l := slices.Clone(lat)
	slices.Sort(l)
	ms := func(d time.Duration) float64 { return round(float64(d)/1e6, 2) }
	s.P50ms, s.P99ms, s.MaxMs = ms(l[len(l)/2]), ms(l[len(l)*99/100]), ms(l[len(l)-1])
	return s
}

func cpuAll(pids []int) float64 {
	var s float64
	for _, p := range pids {
		s += cpuSeconds(p)
	}
	return s
}
