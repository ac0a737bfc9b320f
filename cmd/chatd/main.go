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
		fmt.Println(versionString())
		return 0
	}
	log := newLogger(opts.logFormat, opts.logLevel)
	log.Info("chatd starting", "version", versionString())
	for _, w := range opts.warnings {
		log.Warn(w)
	}
	cfg := opts.cfg
	if cfg.Loops == 0 {
		cfg.Loops = runtime.NumCPU()
	}
	reserveProcs(cfg.Loops, log)
	setGCPercent(opts.gcPercent, log)
	// Catch signals before listening: a SIGTERM that arrives once the port
	// is open drains (at once), instead of killing the process undrained.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGHUP)
	cfg.Logger = log
	b, err := opts.redis.broker(&cfg, opts.sink, log)
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

// setGCPercent sets the garbage collector's target (GOGC) from -gc-percent,
// unless GOGC is set in the environment, which wins. The resident memory of
// a Go process is about its live heap times (1 + GOGC/100) right after a
// burst of allocations (a join storm's notices and Redis replies), and Go
// returns the difference to the OS only slowly: 50 keeps a node at ~1.5x
// its live heap instead of 2x, for a GC that runs twice as often (a few per
// cent of a core at 10k messages/s; see BENCHMARKS.md).
func setGCPercent(p int, log *slog.Logger) {
	if os.Getenv("GOGC") != "" {
		log.Debug("GOGC from the environment wins over -gc-percent", "GOGC", os.Getenv("GOGC"))
		return
	}
	debug.SetGCPercent(p)
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
