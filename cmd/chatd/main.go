// Command chatd runs one chat node: a WebSocket chat server wire-compatible
// with the reference Node.js chat app. Without -redis it runs alone on an
// embedded broker; with -redis, nodes sharing a Redis act as one.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/chatd/chatd/server"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	opts, err := parseFlags(args, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatd:", err)
		return 2
	}
	if opts.version {
		fmt.Println("chatd", version)
		return 0
	}
	log := newLogger(opts.logFormat, opts.logLevel)
	cfg := opts.cfg
	cfg.Logger = log
	if b, err := opts.redis.broker(&cfg, log); err != nil {
		log.Error("cannot start", "err", err)
		return 1
	} else if b != nil {
		cfg.Broker = b
	}
	srv, err := server.New(cfg)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if err := srv.Start(); err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	log.Info("shutting down", "signal", s.String(), "timeout", opts.shutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), opts.shutdownTimeout)
	defer cancel()
	go func() {
		// A second signal exits at once.
		<-sig
		log.Warn("second signal: exiting now")
		os.Exit(1)
	}()
	if err := srv.Shutdown(ctx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
