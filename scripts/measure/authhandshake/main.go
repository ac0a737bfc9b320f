// Command authhandshake measures what a token adds to a WebSocket
// handshake: for each mode (no token, HS256, ES256) it starts a chatd node
// on loopback (-auth required with the mode's key, or -auth off), opens -n
// connections (-c at a time), each upgrading with ?token=, reading its
// "connected" greeting and closing, and reports connections per second and
// the node's CPU per handshake (from /proc/<pid>/stat). Bounded: -n
// connections per mode, loopback only.
//
//	go build -o bin/ ./cmd/chatd && go run ./scripts/measure/authhandshake -chatd bin/chatd -n 20000
package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func main() {
	chatd := flag.String("chatd", "bin/chatd", "chatd binary")
	n := flag.Int("n", 10000, "connections per mode (after a warm-up of n/10)")
	c := flag.Int("c", 32, "connections in flight at once (at most chatd's -max-pending-per-ip, 64)")
	modes := flag.String("modes", "none,hs256,es256", "modes to measure, in order")
	loops := flag.Int("loops", 0, "chatd -loops (0: its default)")
	flag.Parse()
	if err := run(*chatd, *n, *c, *loops, strings.Split(*modes, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "authhandshake:", err)
		os.Exit(1)
	}
}

func run(chatd string, n, c, loops int, modes []string) error {
	dir, err := os.MkdirTemp("", "authhandshake")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	secret := []byte(strings.Repeat("s", 32))
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	pemPath := filepath.Join(dir, "es256.pem")
	if err := os.WriteFile(pemPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("loadavg before: %s", load)
	fmt.Println("| mode | connections | wall | connections/s | node CPU per handshake | client CPU per handshake |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, mode := range modes {
		args := []string{"-addr", "127.0.0.1:0"}
		var method jwt.SigningMethod
		var key any
		switch mode {
		case "none":
		case "hs256":
			args = append(args, "-auth", "required", "-jwt-secret", string(secret))
			method, key = jwt.SigningMethodHS256, secret
		case "es256":
			args = append(args, "-auth", "required", "-jwt-public-key", pemPath)
			method, key = jwt.SigningMethodES256, ec
		default:
			return fmt.Errorf("unknown mode %q", mode)
		}
		if loops > 0 {
			args = append(args, "-loops", strconv.Itoa(loops))
		}
		warm := max(n/10, 100)
		tokens := make([]string, n+warm)
		for i := range tokens {
			if method == nil {
				continue
			}
			t, err := jwt.NewWithClaims(method, jwt.MapClaims{"sub": fmt.Sprintf("user-%d", i), "name": fmt.Sprintf("User %d", i),
				"exp": time.Now().Add(time.Hour).Unix()}).SignedString(key)
			if err != nil {
				return err
			}
			tokens[i] = t
		}
		r, err := measure(chatd, args, tokens[:warm], tokens[warm:], c)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		fmt.Printf("| %s | %d | %.2fs | %.0f | %.1f µs | %.1f µs |\n", mode, n, r.wall.Seconds(), float64(n)/r.wall.Seconds(),
			r.nodeCPU.Seconds()*1e6/float64(n), r.clientCPU.Seconds()*1e6/float64(n))
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("loadavg after: %s", load)
	return nil
}

type result struct{ wall, nodeCPU, clientCPU time.Duration }

// measure starts chatd, warms it up, then times the handshakes of tokens.
func measure(chatd string, args, warm, tokens []string, c int) (result, error) {
	cmd := exec.Command(chatd, args...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() }()
	addr, err := listenAddr(stderr)
	if err != nil {
		return result{}, err
	}
	if err := dialAll(addr, warm, c); err != nil {
		return result{}, fmt.Errorf("warm-up: %w", err)
	}
	cpu0, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	self0 := selfCPU()
	start := time.Now()
	if err := dialAll(addr, tokens, c); err != nil {
		return result{}, err
	}
	wall := time.Since(start)
	cpu1, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	return result{wall: wall, nodeCPU: cpu1 - cpu0, clientCPU: selfCPU() - self0}, nil
}

// listenAddr reads chatd's log until it says where it listens.
func listenAddr(stderr io.Reader) (string, error) {
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "addr="); i >= 0 && strings.Contains(line, "listening") {
			addr := strings.Fields(line[i+5:])[0]
			go func() { _, _ = io.Copy(io.Discard, stderr) }()
			return addr, waitReady(addr)
		}
	}
	return "", fmt.Errorf("chatd exited before listening")
}

func waitReady(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready", addr)
}

// dialAll runs one handshake per token, c at a time.
func dialAll(addr string, tokens []string, c int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tokens) || firstErr.Load() != nil {
					return
				}
				if err := handshake(addr, tokens[i]); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return nil
}

var wsKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))

// handshake upgrades with the token, reads the 101 and the greeting, and
// closes.
func handshake(addr, token string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	target := "/ws"
	if token != "" {
		target += "?token=" + token
	}
	if _, err := io.WriteString(conn, "GET "+target+" HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: "+wsKey+"\r\nSec-WebSocket-Version: 13\r\n\r\n"); err != nil {
		return err
	}
	br := bufio.NewReaderSize(conn, 512)
	status, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.Contains(status, " 101 ") {
		return fmt.Errorf("upgrade: %q", strings.TrimSpace(status))
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			break
		}
	}
	h := make([]byte, 2)
	if _, err := io.ReadFull(br, h); err != nil {
		return err
	}
	p := make([]byte, h[1]&0x7f)
	if _, err := io.ReadFull(br, p); err != nil {
		return err
	}
	if !bytes.Contains(p, []byte(`"connected"`)) {
		return fmt.Errorf("greeting %q", p)
	}
	return nil
}

// procCPU is a process's user+system CPU time.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
