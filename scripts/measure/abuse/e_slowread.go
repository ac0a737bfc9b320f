package main

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runSlowRead (issue 24 item 5): 400 members of one room stop reading
// (4 KiB receive buffers) while two publishers send 60,000-byte messages at
// 20/s each (the rate limit); the node's RSS is sampled every 100 ms. Then
// the readers read again (5 s bound each) to learn how each was closed.
func runSlowRead(e *env) error {
	readers, window := 400, 10*time.Second
	if e.small {
		readers, window = 100, 4*time.Second
	}
	c, err := e.startCluster(1)
	if err != nil {
		return err
	}
	defer c.stop()
	node := c.nodes[0]
	const room = "flood"
	conns := make([]*conn, readers)
	defer func() {
		for _, cn := range conns {
			if cn != nil {
				_ = cn.ws.Close()
			}
		}
	}()
	if err := parallel(readers, 32, func(i int) error {
		cn, err := v2user(c.url(0), fmt.Sprintf("r%d", i), "", nil)
		if err != nil {
			return err
		}
		if tc, ok := cn.ws.NetConn().(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		conns[i] = cn
		if _, err := cn.ok(map[string]any{"type": "join", "roomId": room}, 30*time.Second); err != nil {
			return err
		}
		cn.pause()
		return nil
	}); err != nil {
		return err
	}
	pubs := make([]*conn, 2)
	for i := range pubs {
		cn, err := v2user(c.url(0), fmt.Sprintf("pub%d", i), "", nil)
		if err != nil {
			return err
		}
		defer cn.close()
		if _, err := cn.ok(map[string]any{"type": "join", "roomId": room}, 30*time.Second); err != nil {
			return err
		}
		pubs[i] = cn
	}
	time.Sleep(2 * time.Second)
	rss0 := procStatus(node.pid, "VmRSS")
	content := strings.Repeat("x", 60000)
	var sent atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(window)
	for _, cn := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for time.Now().Before(end) {
				if cn.send(map[string]any{"type": "publish", "roomId": room, "content": content}) != nil {
					return
				}
				sent.Add(1)
				<-t.C
			}
		}()
	}
	var peakSampled int64
	var peakQueued float64
	for time.Now().Before(end.Add(2 * time.Second)) {
		if v := procStatus(node.pid, "VmRSS"); v > peakSampled {
			peakSampled = v
		}
		peakQueued = max(peakQueued, metrics(node.addr)["chatd_outbound_queued_bytes"])
		time.Sleep(100 * time.Millisecond)
	}
	e.fig("metric_outbound_queued_bytes_max_sampled", peakQueued)
	wg.Wait()
	rssEnd, hwm := procStatus(node.pid, "VmRSS"), procStatus(node.pid, "VmHWM")
	m := metrics(node.addr)
	// What the node's sockets look like now (ss): a socket the node closed
	// with bytes still in its kernel send buffer waits in FIN-WAIT-1 (its
	// reader never drains it); its 4008 close frame is behind those bytes.
	_, port, _ := net.SplitHostPort(node.addr)
	socks := map[string]int64{}
	out, err := exec.Command("ss", "-tnH", "sport = :"+port).Output()
	if err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 3 {
				continue
			}
			q, _ := strconv.ParseInt(f[2], 10, 64)
			socks[f[0]]++
			socks[f[0]+" send-q bytes"] += q
		}
	}
	e.fig("node_sockets_after_flood", socks)
	e.fig("non_readers", readers)
	e.fig("messages_sent", sent.Load())
	e.fig("window_seconds", window.Seconds())
	e.fig("rss_before_kib", rss0)
	e.fig("rss_peak_sampled_kib", peakSampled)
	e.fig("rss_vmhwm_kib", hwm)
	e.fig("rss_end_kib", rssEnd)
	e.fig("metric_slow_consumer_closes_total", m["chatd_slow_consumer_closes_total"])
	e.fig("metric_outbound_budget_closes_total", m["chatd_outbound_budget_closes_total"])
	e.fig("metric_websocket_connections_after_flood", m["chatd_websocket_connections"])
	e.res.Summary = fmt.Sprintf("node RSS %.0f MB → peak %.0f MB (VmHWM), %.0f MB after; queued bytes at most %.0f MB (sampled /metrics, 0 if absent); closed 4008 by the node: %v at their own queue limit, %v by the node budget; %v WebSockets still open; node's sockets (ss): %v",
		float64(rss0)/1024, float64(hwm)/1024, float64(rssEnd)/1024, peakQueued/1e6, m["chatd_slow_consumer_closes_total"], m["chatd_outbound_budget_closes_total"], m["chatd_websocket_connections"], socks)
	return nil
}
