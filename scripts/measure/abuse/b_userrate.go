package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// runUserRate (issue 24 item 4, per-user limits): one user (one token)
// opens 50 connections, alternating between two nodes, all in one room, and
// each sends requests at 20/s (the per-connection limit) for the window:
// first publish, then (on 50 fresh connections) presence. Accepted per
// second over all of them, beside one connection alone.
func runUserRate(e *env) error {
	window := 5 * time.Second
	if e.small {
		window = 3 * time.Second
	}
	c, err := e.startCluster(2, authFlags...)
	if err != nil {
		return err
	}
	defer c.stop()
	tok := token("mallory", nil)
	one, err := rateRun(c, tok, 1, "publish", window)
	if err != nil {
		return fmt.Errorf("one connection: %w", err)
	}
	e.fig("one_connection_publish", one)
	pub, err := rateRun(c, tok, 50, "publish", window)
	if err != nil {
		return fmt.Errorf("50 connections, publish: %w", err)
	}
	e.fig("fifty_connections_publish", pub)
	pres, err := rateRun(c, tok, 50, "presence", window)
	if err != nil {
		return fmt.Errorf("50 connections, presence: %w", err)
	}
	e.fig("fifty_connections_presence", pres)
	e.fig("window_seconds", window.Seconds())
	e.res.Summary = fmt.Sprintf("publish accepted: one connection %.0f/s; 50 connections %.0f/s (%d of %d sent, %d closed); presence over 50: %.0f/s",
		one.AcceptedPerSec, pub.AcceptedPerSec, pub.Accepted, pub.Sent, pub.Closed, pres.AcceptedPerSec)
	return nil
}

type rateFig struct {
	Sent           int64            `json:"sent"`
	Accepted       int64            `json:"accepted"`
	AcceptedPerSec float64          `json:"acceptedPerSec"`
	Refused        map[string]int64 `json:"refused"`
	Closed         int64            `json:"connectionsClosed"`
	CloseCodes     map[string]int   `json:"closeCodes,omitempty"`
}

// rateRun opens k connections of the token's user (alternating nodes), joins
// them to one room, and sends kind at 20/s on each for window; replies are
// counted as they come (a request is not waited for).
func rateRun(c *cluster, tok string, k int, kind string, window time.Duration) (rateFig, error) {
	var ok, sent atomic.Int64
	var mu sync.Mutex
	refused := map[string]int64{}
	var measuring atomic.Bool
	onPush := func(b []byte) {
		if !measuring.Load() {
			return
		}
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
	conns := make([]*conn, k)
	room := fmt.Sprintf("rate-%s-%d", kind, k)
	err := parallel(k, 16, func(i int) error {
		cn, err := v2user(c.url(i), "", tok, onPush)
		if err != nil {
			return err
		}
		conns[i] = cn
		_, err = cn.ok(map[string]any{"type": "join", "roomId": room}, 10*time.Second)
		return err
	})
	defer func() {
		for _, cn := range conns {
			if cn != nil {
				cn.close()
			}
		}
	}()
	if err != nil {
		return rateFig{}, err
	}
	time.Sleep(2 * time.Second) // refill every bucket the joins used
	measuring.Store(true)
	end := time.Now().Add(window)
	var wg sync.WaitGroup
	for _, cn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for id := 1; time.Now().Before(end); id++ {
				req := map[string]any{"type": kind, "id": id, "roomId": room}
				if kind == "publish" {
					req["content"] = "spam spam spam"
				}
				if cn.send(req) != nil {
					return
				}
				sent.Add(1)
				<-t.C
			}
		}()
	}
	wg.Wait()
	time.Sleep(time.Second) // the last replies
	measuring.Store(false)
	f := rateFig{Sent: sent.Load(), Accepted: ok.Load(), Refused: refused, CloseCodes: map[string]int{}}
	f.AcceptedPerSec = round(float64(f.Accepted)/window.Seconds(), 1)
	for _, cn := range conns {
		if code, done := cn.closed(); done {
			f.Closed++
			f.CloseCodes[fmt.Sprint(code)]++
		}
	}
	return f, nil
}
