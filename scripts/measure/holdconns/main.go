// Command holdconns opens N WebSocket connections to a server, holds them
// open without sending anything, and exits after -hold. It measures what an
// idle connection costs a server on the transport alone (wsecho); for joined
// chat connections use chatbench's idle workload, which also reads.
//
//	go run ./scripts/measure/holdconns -url 127.0.0.1:9000 -n 19000 -hold 60s
//
// It prints "held N" once every connection is up, so a script can sample
// the server then.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("url", "127.0.0.1:9000", "server host:port")
	n := flag.Int("n", 1000, "connections")
	hold := flag.Duration("hold", 30*time.Second, "hold time after all are up")
	srcs := flag.String("src", "", "comma-separated local source IPv4 addresses (spread the ports)")
	par := flag.Int("c", 64, "concurrent dials")
	flag.Parse()

	var sources []string
	if *srcs != "" {
		sources = strings.Split(*srcs, ",")
	}
	conns := make([]net.Conn, *n)
	var failed int
	var mu sync.Mutex
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < *par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c, err := upgrade(*addr, sources, i)
				mu.Lock()
				if err != nil {
					failed++
					if failed <= 3 {
						fmt.Fprintln(os.Stderr, "holdconns:", err)
					}
				}
				conns[i] = c
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for i := 0; i < *n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	fmt.Printf("held %d failed %d in %v\n", *n-failed, failed, time.Since(start).Round(time.Millisecond))
	time.Sleep(*hold)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}

// upgrade dials and completes the WebSocket handshake.
func upgrade(addr string, sources []string, i int) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if len(sources) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(sources[i%len(sources)])}
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				// IP_BIND_ADDRESS_NO_PORT: pick the port at connect time.
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, 24, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReaderSize(c, 512)
	status, err := r.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		c.Close()
		return nil, fmt.Errorf("upgrade %d: %q %v", i, status, err)
	}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if l == "\r\n" {
			break
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, nil
}
