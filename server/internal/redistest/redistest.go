// Package redistest runs a private Redis for a test: a redis-server child
// process on a free loopback port, in a temporary directory, without
// persistence, killed when the test ends. Tests can kill it (SIGKILL) and
// restart it on the same port to simulate an outage.
//
// If the redis-server binary is missing, it falls back to miniredis (an
// in-process imitation, which lacks some commands and Lua features), unless
// the environment sets CHATD_REQUIRE_REDIS=1: then a missing binary fails
// the test.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Server is one private Redis.
type Server struct {
	t       testing.TB
	port    int
	dir     string
	bin     string
	persist bool

	mu       sync.Mutex
	cmd      *exec.Cmd
	exit     chan struct{}
	mini     *miniredis.Miniredis
	miniAddr string

	client *redis.Client
}

// silence go-redis's own logging (dial failures during deliberate outages).
var quietOnce sync.Once

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// Start starts a private Redis for t; it stops when t ends. It keeps no
// data across a restart.
func Start(t testing.TB) *Server { return start(t, false) }

// StartPersistent starts a private Redis that keeps its data across Kill and
// Restart (append-only file, fsync on every write), like a production Redis
// with appendonly yes. With the miniredis fallback, data survives a restart
// too.
func StartPersistent(t testing.TB) *Server { return start(t, true) }

func start(t testing.TB, persist bool) *Server {
	t.Helper()
	quietOnce.Do(func() { redis.SetLogger(quiet{}) })
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CHATD_REQUIRE_REDIS") == "1" {
			t.Fatalf("redistest: redis-server not found and CHATD_REQUIRE_REDIS=1: %v", err)
		}
		t.Logf("redistest: redis-server not found; falling back to miniredis")
		m := miniredis.RunT(t)
		return &Server{t: t, mini: m, miniAddr: m.Addr()}
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), persist: persist}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s.port = freePort(t)
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("redistest: cannot start redis-server: %v", lastErr)
	return nil
}

// Mini reports whether this is the miniredis fallback (tests that need a
// real server may skip then).
func (s *Server) Mini() bool { return s.mini != nil }

// Addr returns host:port.
func (s *Server) Addr() string {
	if s.mini != nil {
		return s.miniAddr // (miniredis' Addr fails while it is closed)
	}
	return "127.0.0.1:" + strconv.Itoa(s.port)
}

// URL returns the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Client returns a raw go-redis client (the same one every time), closed
// when the test ends.
func (s *Server) Client() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		c := redis.NewClient(&redis.Options{Addr: s.Addr(), Protocol: 2, DisableIdentity: true})
		s.client = c
		s.t.Cleanup(func() { _ = c.Close() })
	}
	return s.client
}

// Kill stops the server at once (SIGKILL for a real one) and waits until it
// is gone. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mini != nil {
		s.mini.Close()
		return
	}
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exit
	s.cmd = nil
}

// Restart starts the server again on the same port, and waits until it
// answers: with empty data, unless it was started with StartPersistent.
func (s *Server) Restart() {
	s.t.Helper()
	if s.mini != nil {
		if err := s.mini.Restart(); err != nil {
			s.t.Fatalf("redistest: restart miniredis: %v", err)
		}
		return
	}
	s.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) { // the port may linger briefly
			s.t.Fatalf("redistest: restart redis-server on port %d: %v", s.port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// start runs redis-server on s.port and waits until it answers PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	logf, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	aof := []string{"--appendonly", "no"}
	if s.persist {
		aof = []string{"--appendonly", "yes", "--appendfsync", "always"}
	}
	cmd := exec.Command(s.bin, append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "",
		"--dir", s.dir, "--protected-mode", "no"}, aof...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	exit := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exit) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(s.Addr()) {
			s.cmd, s.exit = cmd, exit
			return nil
		}
		select {
		case <-exit:
			return fmt.Errorf("redis-server exited at start (see %s)", filepath.Join(s.dir, "redis.log"))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exit
			return fmt.Errorf("redis-server did not answer PING within 10 s")
		}
	}
}

// ping reports whether a Redis answers PING at addr.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int { return freePort(t) }
