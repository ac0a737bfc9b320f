package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// runSlots (issue 24 item 1): with -auth required, one address opens v2
// upgrades that never say hello (their pings answered by the client
// library), as many as the node takes; the first 100 of them also send a
// request every second (refused: hello first). How many slots are held, for
// how long, and whether a real user with a token gets in meanwhile.
func runSlots(e *env) error {
	n, hold := 19900, 40*time.Second
	if e.small {
		n, hold = 2000, 12*time.Second
	}
	c, err := e.startCluster(1, authFlags...)
	if err != nil {
		return err
	}
	defer c.stop()
	url := c.url(0)
	var (
		mu      sync.Mutex
		held    []*conn
		refused atomic.Int64
		other   atomic.Int64
		streak  atomic.Int64
	)
	start := time.Now()
	// While dialling: the most attacker connections open at once.
	var peakOpen int
	stopPeak := make(chan struct{})
	peakDone := make(chan struct{})
	go func() {
		defer close(peakDone)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopPeak:
				return
			case <-t.C:
			}
			mu.Lock()
			cs := held
			mu.Unlock()
			k := 0
			for _, cn := range cs {
				if _, done := cn.closed(); !done {
					k++
				}
			}
			peakOpen = max(peakOpen, k)
		}
	}()
	_ = parallel(n, 48, func(int) error {
		if streak.Load() >= 200 { // the node refuses every upgrade now: it is full
			return nil
		}
		cn, err := dial(url, true, nil, nil)
		if err != nil {
			if httpStatus(err) != 0 {
				refused.Add(1)
			} else {
				other.Add(1)
			}
			streak.Add(1)
			return nil
		}
		streak.Store(0)
		mu.Lock()
		held = append(held, cn)
		mu.Unlock()
		return nil
	})
	dialSecs := time.Since(start).Seconds()
	close(stopPeak)
	<-peakDone
	e.fig("attacker_most_open_at_once_while_dialling", peakOpen)
	e.fig("attacker_connections_opened", len(held))
	e.fig("attacker_upgrades_refused", refused.Load())
	e.fig("attacker_dial_errors", other.Load())
	e.fig("dial_seconds", round(dialSecs, 2))
	e.fig("node_tcp_connections_after_dial", c.metricSum("chatd_tcp_connections"))

	// The first 100 keep sending a request the node refuses before hello.
	stopTalk := make(chan struct{})
	var talkWG sync.WaitGroup
	talkers := held[:min(100, len(held))]
	for _, cn := range talkers {
		talkWG.Add(1)
		go func() {
			defer talkWG.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stopTalk:
					return
				case <-cn.done:
					return
				case <-t.C:
					_ = cn.send(map[string]any{"type": "join", "roomId": "x"})
				}
			}
		}()
	}
	realUser := func() string {
		cn, err := v2user(url, "", token("real-user", nil), nil)
		if err != nil {
			if s := httpStatus(err); s != 0 {
				return fmt.Sprintf("HTTP %d", s)
			}
			return "refused: " + err.Error()
		}
		cn.close()
		return "in (hello ok)"
	}
	e.fig("real_user_right_after_dial", realUser())
	openCount := func(cs []*conn) int {
		k := 0
		for _, cn := range cs {
			if _, done := cn.closed(); !done {
				k++
			}
		}
		return k
	}
	samples := map[string]int{}
	var lastOpen int
	for s := 1; s <= int(hold/time.Second); s++ {
		time.Sleep(time.Until(start.Add(time.Duration(dialSecs*float64(time.Second)) + time.Duration(s)*time.Second)))
		lastOpen = openCount(held)
		if s == 3 || s == 6 || s == 10 || s == 20 || s == 30 || s == 40 || s == int(hold/time.Second) {
			samples[fmt.Sprintf("%ds", s)] = lastOpen
		}
		if s == 7 {
			e.fig("real_user_7s_after_dial", realUser())
		}
	}
	close(stopTalk)
	talkWG.Wait()
	e.fig("attacker_open_after_dial", samples)
	e.fig("talkers_open_at_end", openCount(talkers))
	e.fig("real_user_at_end", realUser())
	codes := map[string]int{}
	for _, cn := range held {
		if code, done := cn.closed(); done {
			codes[fmt.Sprint(code)]++
		}
	}
	e.fig("attacker_close_codes", codes)
	e.fig("hold_window_seconds", hold.Seconds())
	e.res.Summary = fmt.Sprintf("one address opened %d hello-less connections in %.1f s (%d more refused), at most %d open at once; still open %d s later: %d (of the 100 sending refused requests: %d); a real user: %s / 7 s later: %s / at the end: %s",
		len(held), dialSecs, refused.Load(), max(peakOpen, lastOpen), int(hold/time.Second), lastOpen, openCount(talkers),
		e.res.Figures["real_user_right_after_dial"], e.res.Figures["real_user_7s_after_dial"], e.res.Figures["real_user_at_end"])
	for _, cn := range held {
		_ = cn.ws.Close()
	}
	return nil
}

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
