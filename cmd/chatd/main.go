// Command chatd runs one chat node: a WebSocket chat server wire-compatible
// with the reference Node.js chat app. Without -redis it runs alone on an
// embedded broker; with -redis, nodes sharing a Redis act as one.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/chatd/chatd/server"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "token" {
		return runToken(args[1:], os.Getenv, os.Stdout, os.Stderr)
	}
	opts, err := parseFlags(args, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatd:", err)
		return 2
	}
	switch {
	case opts.help:
		printHelp(os.Stdout)
		return 0
	case opts.version:
		fmt.Println("chatd", version, runtime.Version())
		return 0
	}
	log := newLogger(opts.logFormat, opts.logLevel)
	cfg := opts.cfg
	if cfg.Loops == 0 {
		cfg.Loops = runtime.NumCPU()
	}
	reserveProcs(cfg.Loops, log)
	cfg.Logger = log
	b, err := opts.redis.broker(&cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	cfg.Broker = b
	srv, err := server.New(cfg)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if err := srv.Start(); err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	var admin *http.Server
	if opts.adminAddr != "" {
		h := srv.AdminHandler()
		if opts.pprof {
			mux := http.NewServeMux()
			mux.Handle("/", h)
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
			h = mux
		}
		admin = &http.Server{Addr: opts.adminAddr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := admin.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin listener", "addr", opts.adminAddr, "err", err)
			}
		}()
		log.Info("admin listening", "addr", opts.adminAddr)
	}

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGHUP)
	var s os.Signal
	for s = range sig {
		if s == syscall.SIGHUP {
			_ = srv.ReloadKeys() // logs its result; a failure keeps the keys in use
			continue
		}
		if s != syscall.SIGUSR1 {
			break
		}
		logHeap(log, srv)
	}
	log.Info("draining", "signal", s.String(), "window", opts.drainWindow, "timeout", opts.shutdownTimeout)
	go func() {
		for s := range sig {
			if s != syscall.SIGUSR1 && s != syscall.SIGHUP {
				log.Warn("second signal: exiting now")
				os.Exit(1)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), opts.shutdownTimeout)
	defer cancel()
	err = srv.Drain(ctx, opts.drainWindow)
	if admin != nil {
		_ = admin.Shutdown(ctx)
	}
	if err != nil {
		log.Error("drain did not finish", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// reserveProcs makes sure the Go scheduler has Ps left over beside the
// event loops. Each loop goroutine sits in epoll_wait holding its P, and
// the runtime takes an idle P back from a blocking syscall only lazily (its
// sysmon backs off to 10 ms when the process is quiet): with GOMAXPROCS equal
// to the number of loops, goroutines woken by Go's own netpoller (the Redis
// subscriber and publisher) waited up to tens of milliseconds for a P, which
// showed as a p99 of 29 ms on cross-node deliveries. An explicit GOMAXPROCS
// in the environment wins.
func reserveProcs(loops int, log *slog.Logger) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if want := loops + 2; runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
		log.Debug("GOMAXPROCS raised above the loop count", "gomaxprocs", want, "loops", loops)
	}
}

// logHeap runs a full GC, returns freed memory to the OS and logs what is
// live, so that RSS read right after measures live memory (BENCHMARKS.md).
func logHeap(log *slog.Logger, srv *server.Server) {
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	log.Info("heap after GC", "websockets", srv.Stats().WebSockets, "heap_inuse", m.HeapInuse,
		"heap_objects", m.HeapObjects, "sys", m.Sys)
}
