package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chatd/chatd/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// options are the parsed command line.
type options struct {
	cfg             server.Config
	version         bool
	logFormat       string
	logLevel        string
	shutdownTimeout time.Duration
	redis           *redisFlags
}

// parseFlags parses args; every flag may also come from the environment
// variable CHATD_<NAME> (upper case, dashes as underscores), and the
// reference app's PORT sets the listen port. Flags win over the environment.
func parseFlags(args []string, getenv func(string) string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("chatd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := &o.cfg

	addr := fs.String("addr", server.DefaultAddr, "listen address host:port (env PORT sets the port)")
	fs.IntVar(&c.Loops, "loops", 0, "event loops (0: one per CPU)")
	fs.BoolVar(&c.ReusePort, "reuseport", false, "set SO_REUSEPORT so several nodes can share the port")
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", server.DefaultMaxMessageBytes, "largest inbound message; larger closes 1009")
	fs.IntVar(&c.MaxOutboundBytes, "max-outbound-bytes", server.DefaultMaxOutboundBytes, "queued output per connection; more closes 4008")
	fs.IntVar(&c.MaxConns, "max-conns", server.DefaultMaxConns, "open WebSockets per node (0: unlimited); more get 503")
	fs.StringVar(&o.logFormat, "log-format", server.DefaultLogFormat, "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "graceful stop gives up after this")
	fs.StringVar(&c.NodeID, "node-id", "", "node name in logs and the cluster (default random)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	help := fs.Bool("help", false, "show this help")
	o.redis = addRedisFlags(fs)

	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w (see chatd -help)", err)
	}
	if *help {
		printHelp(fs)
		os.Exit(0)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := "CHATD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" && !set[f.Name] && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", env, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := o.redis.resolve(getenv); err != nil {
		return nil, err
	}
	c.Addr = *addr
	if p := getenv("PORT"); p != "" && !set["addr"] && getenv("CHATD_ADDR") == "" {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return nil, fmt.Errorf("PORT=%q is not a port number", p)
		}
		host, _, _ := net.SplitHostPort(c.Addr)
		c.Addr = net.JoinHostPort(host, p)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return nil, fmt.Errorf("-addr %q: %w", c.Addr, err)
	}
	if c.MaxMessageBytes < 125 {
		return nil, fmt.Errorf("-max-message-bytes must be at least 125")
	}
	return o, nil
}

func printHelp(fs *flag.FlagSet) {
	fmt.Println("Usage: chatd [flags]\n\nEvery flag can also be set with CHATD_<FLAG> (e.g. CHATD_LOOPS=4); PORT sets the port.\n\nFlags:")
	fs.SetOutput(os.Stdout)
	fs.PrintDefaults()
}

func newLogger(format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
