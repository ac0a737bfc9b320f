// Command wsecho is a WebSocket echo server on chatd's transport alone (the
// eventloop package, no chat): it measures what the transport costs per
// connection, apart from rooms and sessions. Not for production use.
//
//	wsecho -addr 127.0.0.1:9000 -loops 2
//
// SIGUSR1 runs a full GC, returns freed memory to the OS and logs the heap,
// so that RSS read right after reflects live memory only.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/gobwas/ws"
)

type echo struct{}

func (echo) Upgrade(*eventloop.Conn, *eventloop.Request) *eventloop.Response { return nil }
func (echo) HTTP(*eventloop.Request) *eventloop.Response                     { return nil }
func (echo) Open(*eventloop.Conn)                                            {}
func (echo) Close(*eventloop.Conn, eventloop.CloseCode)                      {}
func (echo) Message(c *eventloop.Conn, p []byte, binary bool) {
	op := byte(0x1)
	if binary {
		op = 0x2
	}
	_ = c.Write(eventloop.AppendFrame(nil, ws.OpCode(op), p))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address")
	loops := flag.Int("loops", 0, "event loops (0: one per CPU)")
	maxTCP := flag.Int("max-tcp-conns", 0, "TCP connection cap (0: file limit minus 256 minus 4 per loop)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	e, err := eventloop.Start(eventloop.Config{Addr: *addr, Loops: *loops, MaxTCPConns: *maxTCP, Handler: echo{}, Logger: log})
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	log.Info("wsecho listening", "addr", e.Addr(), "pid", os.Getpid())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	for s := range sig {
		if s == syscall.SIGUSR1 {
			logHeap(log, e)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = e.Shutdown(ctx)
		cancel()
		return
	}
}

// logHeap collects garbage, gives it back to the OS and logs what is live.
func logHeap(log *slog.Logger, e *eventloop.Engine) {
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	log.Info("heap after GC", "conns", e.Stats().WebSockets, "heap_inuse", m.HeapInuse, "sys", m.Sys)
}
