// Command streamcost measures what a v2 session costs a chatd node over HTTP
// streaming (SSE down, POSTs up) next to a WebSocket, under the same load,
// in one sitting: memory per idle joined session (the node's RSS, as an
// operator reads it, no forced GC) and CPU per delivery (the node's user +
// system CPU over a publishing window, divided by the room events it queued
// to members).
//
// For each transport a fresh chatd (the binary given by -chatd) is started
// on 127.0.0.1, -n sessions say hello and join rooms of -room-size, the RSS
// is read -settle after the last join (its baseline was read once the node
// listened); then one publisher per room (a WebSocket in both runs)
// publishes -rate messages per second for -window while every session reads
// what it gets, and the node's CPU and chatd_deliveries_total are read
// before and after. The node is stopped (SIGTERM) before the next
// transport. The machine's load average is printed before and after: the
// figures are only comparable within one sitting on a quiet machine.
//
//	go build -o bin/ ./cmd/chatd ./scripts/measure/streamcost
//	bin/streamcost -chatd bin/chatd -n 2000 -room-size 100 -rate 2 -window 20s
//
// Only 127.0.0.1 is used; every phase is bounded in time and the program
// stops what it started however it ends.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

var (
	chatdBin = flag.String("chatd", "bin/chatd", "the chatd binary")
	n        = flag.Int("n", 2000, "sessions per transport (at most ~9,000: both ends are in this box's 20,000-file limit)")
	roomSize = flag.Int("room-size", 100, "sessions per room")
	rate     = flag.Float64("rate", 2, "messages per second per room while CPU is measured")
	window   = flag.Duration("window", 20*time.Second, "how long CPU is measured")
	settle   = flag.Duration("settle", 10*time.Second, "wait after the last join before reading the idle RSS")
	port     = flag.Int("port", 18095, "chatd's port on 127.0.0.1")
	loops    = flag.Int("loops", 2, "chatd -loops")
	only     = flag.String("only", "", "websocket or stream: measure one transport only")
)

// result is one transport's figures.
type result struct {
	transport       string
	baseRSS, rss    int64   // bytes
	perSession      float64 // bytes
	perSessionGC    float64 // bytes, after chatd's SIGUSR1 (a full GC, memory returned to the OS): for comparison only
	cpu             float64 // seconds in the window
	deliveries      float64 // in the window
	usPerDelivery   float64
	received        int64 // messages the sessions read in the window
	joinTook        time.Duration
	eventsPerWindow float64
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	fmt.Printf("load average before: %s", loadavg())
	var results []result
	for _, tr := range []string{"websocket", "stream"} {
		if *only != "" && *only != tr {
			continue
		}
		r, err := measure(tr)
		if err != nil {
			log.Fatalf("%s: %v", tr, err)
		}
		results = append(results, r)
	}
	fmt.Printf("load average after: %s\n", loadavg())
	fmt.Printf("%d sessions in rooms of %d, %d loops; %v at %.1f msg/s per room\n", *n, *roomSize, *loops, *window, *rate)
	fmt.Printf("%-10s %12s %14s %16s %10s %12s %12s %10s\n", "transport", "idle RSS MB", "bytes/session",
		"(after full GC)", "CPU s", "deliveries", "µs/delivery", "join")
	for _, r := range results {
		fmt.Printf("%-10s %12.1f %14.0f %16.0f %10.2f %12.0f %12.2f %10v\n", r.transport, float64(r.rss-r.baseRSS)/1e6,
			r.perSession, r.perSessionGC, r.cpu, r.deliveries, r.usPerDelivery, r.joinTook.Round(time.Millisecond))
	}
}

// measure runs one transport on a fresh node.
func measure(transport string) (result, error) {
	r := result{transport: transport}
	addr := "127.0.0.1:" + strconv.Itoa(*port)
	cmd := exec.Command(*chatdBin, "-addr", addr, "-loops", strconv.Itoa(*loops), "-rate-limit", "-1",
		"-user-rate-limit", "-1", "-idle-timeout", "1h", "-ping-interval", "30m", "-log-level", "warn",
		"-metrics-on-main", "on", "-max-conns", "0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	if err := waitReady(addr); err != nil {
		return r, err
	}
	pid := cmd.Process.Pid
	r.baseRSS = rss(pid)

	var received atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	start := time.Now()
	rooms := (*n + *roomSize - 1) / *roomSize
	sem := make(chan struct{}, 32) // sessions being opened at once
	var wg sync.WaitGroup
	errs := make(chan error, *n)
	for i := 0; i < *n; i++ {
		room := "room-" + strconv.Itoa(i%rooms)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var err error
			if transport == "stream" {
				err = openStream(addr, room, &received, stop)
			} else {
				err = openWebSocket(addr, room, &received, stop)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return r, err
	default:
	}
	r.joinTook = time.Since(start)
	time.Sleep(*settle)
	r.rss = rss(pid)
	r.perSession = float64(r.rss-r.baseRSS) / float64(*n)
	// For comparison only (not what an operator reads): the same after a
	// full GC that returns free memory to the OS.
	_ = syscall.Kill(pid, syscall.SIGUSR1)
	time.Sleep(2 * time.Second)
	r.perSessionGC = float64(rss(pid)-r.baseRSS) / float64(*n)

	// CPU per delivery: one publisher per room (a WebSocket in both runs).
	pubs := make([]*websocket.Conn, rooms)
	for i := range pubs {
		c, err := dialV2(addr)
		if err != nil {
			return r, err
		}
		defer c.Close()
		if err := call(c, fmt.Sprintf(`{"type":"hello","id":1,"name":"pub%d"}`, i)); err != nil {
			return r, err
		}
		if err := call(c, fmt.Sprintf(`{"type":"join","id":2,"roomId":"room-%d"}`, i)); err != nil {
			return r, err
		}
		go func() { // its pushes (joins): read and dropped
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		pubs[i] = c
	}
	time.Sleep(time.Second)
	cpu0, del0 := cpuSeconds(pid), metric(addr, "chatd_deliveries_total")
	recv0 := received.Load()
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	end := time.After(*window)
	payload := strings.Repeat("x", 100)
loop:
	for {
		select {
		case <-end:
			break loop
		case <-tick.C:
			for i, c := range pubs {
				msg := fmt.Sprintf(`{"type":"publish","roomId":"room-%d","content":"%s"}`, i, payload)
				if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
					return r, err
				}
			}
		}
	}
	tick.Stop()
	time.Sleep(500 * time.Millisecond) // the last deliveries
	r.cpu = cpuSeconds(pid) - cpu0
	r.deliveries = metric(addr, "chatd_deliveries_total") - del0
	r.received = received.Load() - recv0
	if r.deliveries > 0 {
		r.usPerDelivery = r.cpu / r.deliveries * 1e6
	}
	if r.received < int64(r.deliveries*0.99) {
		return r, fmt.Errorf("the sessions read %d messages of %.0f deliveries", r.received, r.deliveries)
	}
	return r, nil
}

// openWebSocket opens a v2 WebSocket session, says hello, joins room, then
// reads (counting messages) until stop.
func openWebSocket(addr, room string, received *atomic.Int64, stop chan struct{}) error {
	c, err := dialV2(addr)
	if err != nil {
		return err
	}
	if err := call(c, `{"type":"hello","id":1,"name":"ws"}`); err != nil {
		return err
	}
	if err := call(c, `{"type":"join","id":2,"roomId":"`+room+`"}`); err != nil {
		return err
	}
	go func() {
		<-stop
		_ = c.Close()
	}()
	go func() {
		for {
			if _, p, err := c.ReadMessage(); err != nil {
				return
			} else if bytes.HasPrefix(p, []byte(`{"type":"message"`)) {
				received.Add(1)
			}
		}
	}()
	return nil
}

func dialV2(addr string) (*websocket.Conn, error) {
	d := websocket.Dialer{Subprotocols: []string{"chatd.v2"}, HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial("ws://"+addr+"/ws", nil)
	return c, err
}

// call sends a request with an id and waits for its ok (skipping pushes).
func call(c *websocket.Conn, req string) error {
	if err := c.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	for {
		_, p, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if bytes.HasPrefix(p, []byte(`{"type":"ok"`)) {
			return nil
		}
		if bytes.HasPrefix(p, []byte(`{"type":"error"`)) {
			return errors.New(string(p))
		}
	}
}

// openStream opens a v2 stream session, POSTs hello and join in one batch,
// waits for both replies, then reads (counting messages) until stop.
func openStream(addr, room string, received *atomic.Int64, stop chan struct{}) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(c, "GET /stream HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET /stream: %s", resp.Status)
	}
	ev, err := readEvent(br)
	if err != nil {
		return err
	}
	var si struct {
		Session string `json:"session"`
	}
	if err := json.Unmarshal(ev, &si); err != nil {
		return fmt.Errorf("session event %q: %w", ev, err)
	}
	body := `{"session":"` + si.Session + `","seq":1,"requests":[{"type":"hello","id":1,"name":"st"},` +
		`{"type":"join","id":2,"roomId":"` + room + `"}]}`
	pr, err := http.Post("http://"+addr+"/stream", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, pr.Body)
	pr.Body.Close()
	if pr.StatusCode != 200 {
		return fmt.Errorf("POST: %s", pr.Status)
	}
	for oks := 0; oks < 2; {
		ev, err := readEvent(br)
		if err != nil {
			return err
		}
		if bytes.HasPrefix(ev, []byte(`{"type":"ok"`)) {
			oks++
		} else if bytes.HasPrefix(ev, []byte(`{"type":"error"`)) {
			return errors.New(string(ev))
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	go func() {
		<-stop
		_ = c.Close()
	}()
	go func() {
		for {
			ev, err := readEvent(br)
			if err != nil {
				return
			}
			if bytes.HasPrefix(ev, []byte(`{"type":"message"`)) {
				received.Add(1)
			}
		}
	}()
	return nil
}

// readEvent returns the data of the next event (comments skipped).
func readEvent(br *bufio.Reader) ([]byte, error) {
	var data []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		switch {
		case len(line) == 1: // the blank line
			if data != nil {
				return data, nil
			}
		case bytes.HasPrefix(line, []byte("data: ")):
			data = append([]byte(nil), line[6:len(line)-1]...)
		}
	}
}

func waitReady(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get("http://" + addr + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("chatd did not get ready within 10 s")
}

// rss is a process's VmRSS in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	log.Fatal("no VmRSS")
	return 0
}

// cpuSeconds is a process's user + system CPU.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		log.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // clock ticks (USER_HZ is 100 on Linux)
}

// metric reads one unlabelled metric from /metrics.
func metric(addr, name string) float64 {
	r, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	log.Fatalf("no %s in /metrics", name)
	return 0
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return string(b)
}
