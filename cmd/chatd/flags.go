package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chatd/chatd/server"
)

// options are the parsed command line.
type options struct {
	cfg             server.Config
	version         bool
	help            bool
	logFormat       string
	logLevel        slog.Level
	shutdownTimeout time.Duration
	drainWindow     time.Duration
	adminAddr       string
	pprof           bool
	gcPercent       int
	metricsOnMain   string
	httpStream      bool
	redis           *redisFlags
	auth            *authFlags
	hooks           *hookFlags
	sink            *sinkFlags
	// warnings are logged once the logger exists (see warnings.go).
	warnings []string
}

// flagGroups orders -help: every flag belongs to exactly one group.
var flagGroups = []struct {
	title string
	names []string
}{
	{"Listener", []string{"addr", "loops", "reuseport", "max-conns", "max-tcp-conns", "max-conns-per-ip", "allowed-origins",
		"trusted-proxies"}},
	{"Limits (per connection)", []string{"max-message-bytes", "max-header-bytes", "max-outbound-bytes",
		"rate-limit", "rate-burst", "rate-abuse-refusals", "handshake-timeout", "hello-timeout", "ping-interval", "idle-timeout",
		"close-timeout", "room-list-max", "room-list-interval", "room-list-burst", "room-list-refresh", "max-rooms-per-conn",
		"presence-max", "presence-cache", "typing-interval"}},
	{"Abuse limits", []string{"max-pending-per-ip", "pending-pressure", "max-node-outbound-bytes", "ping-rate", "ping-burst",
		"max-continuation-frames", "user-rate-limit", "user-rate-burst", "addr-rate-limit", "addr-rate-burst",
		"user-room-create-rate", "user-room-create-burst", "addr-room-create-rate", "addr-room-create-burst",
		"notice-room-size", "notice-rate", "notice-burst"}},
	{"HTTP streaming (v2 where WebSockets are blocked)", []string{"http-stream", "stream-resume", "stream-replay-bytes",
		"stream-batch"}},
	{"Performance", []string{"coalesce-delay", "gc-percent", "reclaim-after"}},
	{"History", []string{"history-size", "history-age", "history-max-bytes", "history-room-bytes", "history-limit"}},
	{"Cluster", []string{"redis", "redis-cluster", "redis-fail-fast", "node-id", "heartbeat-interval", "heartbeat-ttl",
		"subscribe-linger"}},
	{"Authentication and server API", authFlagNames},
	{"Hooks (the application's backend in the loop)", hookFlagNames},
	{"Message sink (every stored message to the backend)", sinkFlagNames},
	{"Operations", []string{"admin", "metrics-on-main", "pprof", "drain-window", "shutdown-timeout", "log-format", "log-level", "version", "help"}},
}

// rawFlags are flag values that need parsing after the flag package.
type rawFlags struct {
	addr, origins, level, proxies *string
}

// newFlagSet registers every flag of chatd on a new FlagSet, bound to o.
func newFlagSet(o *options) (*flag.FlagSet, rawFlags) {
	fs := flag.NewFlagSet("chatd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := &o.cfg
	var r rawFlags
	r.addr = fs.String("addr", server.DefaultAddr, "listen address host:port (env PORT sets the port)")
	fs.IntVar(&c.Loops, "loops", 0, "event loops (0: one per CPU)")
	fs.BoolVar(&c.ReusePort, "reuseport", false, "set SO_REUSEPORT so several nodes can share the port")
	fs.IntVar(&c.MaxConns, "max-conns", server.DefaultMaxConns, "open WebSockets and HTTP streams per node (0: unlimited); more get 503")
	fs.IntVar(&c.MaxTCPConns, "max-tcp-conns", server.DefaultMaxTCPConns, "TCP connections per node, handshakes included; more get 503 at once (0: file limit minus 256 minus 4 per loop)")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", server.DefaultMaxConnsPerIP, "open WebSockets and HTTP streams per client address (0: off; NAT and proxies share addresses); more get 429")
	r.origins = fs.String("allowed-origins", server.DefaultAllowedOrigins, "comma-separated Origin values allowed to upgrade, or * for all (empty: same host, any port; set it in production)")
	r.proxies = fs.String("trusted-proxies", server.DefaultTrustedProxies, "comma-separated CIDRs or addresses of reverse proxies whose X-Forwarded-For, X-Real-IP and X-Forwarded-Host are believed (empty: none)")

	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", server.DefaultMaxMessageBytes, "largest inbound message; larger closes 1009")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", server.DefaultMaxHeaderBytes, "largest upgrade request head; larger gets 431")
	fs.IntVar(&c.MaxOutboundBytes, "max-outbound-bytes", server.DefaultMaxOutboundBytes, "queued output per connection; more closes 4008 (slow consumer)")
	fs.Float64Var(&c.RateLimit, "rate-limit", server.DefaultRateLimit, "requests per second per connection (negative: no limit); over it: error rate_limited")
	fs.IntVar(&c.RateBurst, "rate-burst", server.DefaultRateBurst, "rate limit burst")
	fs.IntVar(&c.RateAbuseRefusals, "rate-abuse-refusals", server.DefaultRateAbuseRefusals, "rate-limit refusals within 10 s that close the connection with 1008")
	fs.Float64Var(&c.UserRateLimit, "user-rate-limit", server.DefaultUserRateLimit, "requests per second of one user's connections together on this node (users with a token); negative: no limit")
	fs.IntVar(&c.UserRateBurst, "user-rate-burst", server.DefaultUserRateBurst, "bucket size of -user-rate-limit")
	fs.Float64Var(&c.AddrRateLimit, "addr-rate-limit", server.DefaultAddrRateLimit, "requests per second of one client address's connections together on this node; negative: off (NAT and load generators share addresses)")
	fs.IntVar(&c.AddrRateBurst, "addr-rate-burst", server.DefaultAddrRateBurst, "bucket size of -addr-rate-limit")
	fs.Float64Var(&c.UserRoomCreateRate, "user-room-create-rate", server.DefaultUserRoomCreateRate, "rooms one user with a token may create per second on this node (joins of a room nobody is in); negative: no limit")
	fs.IntVar(&c.UserRoomCreateBurst, "user-room-create-burst", server.DefaultUserRoomCreateBurst, "rooms one user may create at once (-user-room-create-rate's bucket)")
	fs.Float64Var(&c.AddrRoomCreateRate, "addr-room-create-rate", server.DefaultAddrRoomCreateRate, "rooms one client address may create per second without a token, per node, after -addr-room-create-burst; negative: no limit")
	fs.IntVar(&c.AddrRoomCreateBurst, "addr-room-create-burst", server.DefaultAddrRoomCreateBurst, "rooms one address may create at once (-addr-room-create-rate's bucket)")
	fs.IntVar(&c.NoticeRoomSize, "notice-room-size", server.DefaultNoticeRoomSize, "rooms with more members get sampled joined/left notices (-notice-rate per second per room and node); negative: every notice")
	fs.Float64Var(&c.NoticeRate, "notice-rate", server.DefaultNoticeRate, "joined/left notices per second per room (of more than -notice-room-size members) and node")
	fs.IntVar(&c.NoticeBurst, "notice-burst", server.DefaultNoticeBurst, "bucket size of -notice-rate")
	fs.IntVar(&c.RoomListMax, "room-list-max", server.DefaultRoomListMax, "rooms in a getRoomList reply at most (those with the most members)")
	fs.DurationVar(&c.RoomListInterval, "room-list-interval", server.DefaultRoomListInterval, "a connection may ask for the room list this often over time (v1: at most this often); faster: error rate_limited")
	fs.IntVar(&c.RoomListBurst, "room-list-burst", server.DefaultRoomListBurst, "v2 room list pages a connection may ask for in a row before -room-list-interval applies")
	fs.DurationVar(&c.RoomListRefresh, "room-list-refresh", server.DefaultRoomListRefresh, "the node's room list, shared by every requester, is rebuilt at most this often")
	fs.IntVar(&c.HistoryLimit, "history-limit", server.DefaultHistoryLimit, "messages in one v2 join (history: N) or history reply at most")
	fs.IntVar(&c.MaxRoomsPerConn, "max-rooms-per-conn", server.DefaultMaxRoomsPerConn, "rooms one v2 connection may be in; more: error too_many_rooms")
	fs.IntVar(&c.PresenceMax, "presence-max", server.DefaultPresenceMax, "members in one v2 presence reply at most (then truncated: true)")
	fs.DurationVar(&c.PresenceCache, "presence-cache", server.DefaultPresenceCache, "one read of a room's members serves this node's presence requests this long (negative: every request reads)")
	fs.DurationVar(&c.TypingInterval, "typing-interval", server.DefaultTypingInterval, "one v2 typing notice per connection and room is forwarded per this; the rest are dropped")
	fs.DurationVar(&c.HandshakeTimeout, "handshake-timeout", server.DefaultHandshakeTimeout, "the upgrade request must arrive within this")
	fs.DurationVar(&c.HelloTimeout, "hello-timeout", server.DefaultHelloTimeout, "a v2 connection must say hello within this (nothing extends it), or it is closed with 4002; negative (e.g. -1s): no deadline")
	fs.DurationVar(&c.PingInterval, "ping-interval", server.DefaultPingInterval, "ping a connection quiet for this long")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "close (1001) a connection with no inbound traffic for this long")
	fs.IntVar(&o.gcPercent, "gc-percent", server.DefaultGCPercent, "the Go GC target (GOGC; GOGC in the environment wins): lower keeps RSS closer to the live heap for more GC CPU (Go's default is 100)")
	fs.DurationVar(&c.ReclaimAfter, "reclaim-after", server.DefaultReclaimAfter, "once a burst of connections and joins (a storm) has been quiet this long, run one full GC that returns free memory to the OS (at most one per 10 s; negative: never)")
	fs.DurationVar(&c.CoalesceDelay, "coalesce-delay", server.DefaultCoalesceDelay, "hold room events up to this long (e.g. 2ms) so busy connections get several per write: less CPU, more latency")
	fs.DurationVar(&c.CloseTimeout, "close-timeout", server.DefaultCloseTimeout, "wait this long for the client's close frame before dropping TCP")

	fs.IntVar(&c.MaxPendingPerIP, "max-pending-per-ip", server.DefaultMaxPendingPerIP, "connections from one address still in their handshake while the node has -pending-pressure in progress; more get 503 at once (negative: no bound)")
	fs.IntVar(&c.PendingPressure, "pending-pressure", server.DefaultPendingPressure, "handshakes in progress node-wide from which -max-pending-per-ip applies (at most a quarter of -max-tcp-conns; negative: always)")
	fs.IntVar(&c.MaxNodeOutboundBytes, "max-node-outbound-bytes", server.DefaultMaxNodeOutboundBytes, "queued output of all connections together; past it the largest queues close 4008 (negative: no bound)")
	fs.Float64Var(&c.PingRate, "ping-rate", server.DefaultPingRate, "pings per second a client may send over time; past -ping-burst more close 1008 (negative: no limit)")
	fs.IntVar(&c.PingBurst, "ping-burst", server.DefaultPingBurst, "pings a client may send at once (1 to 255)")
	fs.IntVar(&c.MaxContinuationFrames, "max-continuation-frames", server.DefaultMaxContinuationFrames, "continuation frames per message; more close 1009 (negative: no bound)")

	fs.BoolVar(&o.httpStream, "http-stream", true, "serve protocol v2 over HTTP streaming at "+server.DefaultStreamPath+" (SSE down, POSTs up) for clients whose network breaks WebSockets; false: 404")
	fs.DurationVar(&c.StreamResume, "stream-resume", server.DefaultStreamResume, "a stream whose connection dropped keeps its session this long for the client to resume it (negative: no resume)")
	fs.IntVar(&c.StreamReplayBytes, "stream-replay-bytes", server.DefaultStreamReplayBytes, "bytes of stream events kept node-wide for resumes (each stream: its newest 64, 64 KiB; negative: none)")
	fs.IntVar(&c.StreamBatch, "stream-batch", server.DefaultStreamBatch, "requests in one stream POST at most; more get 413")

	fs.StringVar(&c.NodeID, "node-id", "", "node name in logs and the cluster (default random)")
	o.redis = addRedisFlags(fs)
	o.auth = addAuthFlags(fs)
	o.hooks = addHookFlags(fs)
	o.sink = addSinkFlags(fs)

	fs.StringVar(&o.adminAddr, "admin", server.DefaultAdminAddr, "extra listener for /metrics, /healthz, /readyz, e.g. 127.0.0.1:9090 (/healthz and /readyz stay on the main port)")
	fs.StringVar(&o.metricsOnMain, "metrics-on-main", server.DefaultMetricsOnMain, "serve /metrics on the main port: on, off, or auto (off when -admin is set)")
	fs.BoolVar(&o.pprof, "pprof", false, "serve Go's /debug/pprof on the -admin listener (keep it private)")
	fs.DurationVar(&o.drainWindow, "drain-window", server.DefaultDrainWindow, "on SIGTERM, close clients spread over this window (0: at once)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "graceful stop gives up after this (must exceed -drain-window)")
	fs.StringVar(&o.logFormat, "log-format", server.DefaultLogFormat, "log format: text or json")
	r.level = fs.String("log-level", server.DefaultLogLevel, "log level: debug, info, warn, error")
	fs.BoolVar(&o.version, "version", false, "print the version and exit (flag only, never from the environment)")
	fs.BoolVar(&o.help, "help", false, "show this help and exit (flag only, never from the environment)")

	return fs, r
}

// parseFlags parses args; every flag but -help and -version may also come
// from the environment variable CHATD_<NAME> (upper case, dashes as
// underscores), and the reference app's PORT sets the listen port. Flags win
// over the environment.
func parseFlags(args []string, getenv func(string) string) (*options, error) {
	o := &options{}
	fs, raw := newFlagSet(o)
	c := &o.cfg
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			o.help = true
			return o, nil
		}
		return nil, fmt.Errorf("%w (see chatd -help)", err)
	}
	if o.help || o.version {
		return o, nil
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see chatd -help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if v := getenv(env); v != "" && flagOnly[f.Name] {
			// A service whose environment file says CHATD_VERSION=1 must
			// still serve, not print and exit 0.
			o.warnings = append(o.warnings, fmt.Sprintf("%s is ignored: -%s is a command-line flag only", env, f.Name))
		} else if v != "" && !set[f.Name] && envErr == nil {
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
	if err := o.auth.apply(c, o.adminAddr); err != nil {
		return nil, err
	}
	c.NoStream = !o.httpStream
	o.hooks.sinkOn = o.sink.url != ""
	hookWarnings, err := o.hooks.apply(c)
	if err != nil {
		return nil, err
	}
	o.warnings = append(o.warnings, hookWarnings...)
	if err := o.sink.apply(c, o.hooks.secret, o.redis.historySize); err != nil {
		return nil, err
	}
	o.warnings = append(o.warnings, o.sink.warnings(o.redis.url != "" || o.redis.cluster != "")...)
	c.Addr = *raw.addr
	if p := getenv("PORT"); p != "" && !set["addr"] && getenv("CHATD_ADDR") == "" {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return nil, fmt.Errorf("PORT=%q is not a port number", p)
		}
		host, _, _ := net.SplitHostPort(c.Addr)
		c.Addr = net.JoinHostPort(host, p)
	}
	proxies, err := parsePrefixes(*raw.proxies)
	if err != nil {
		return nil, fmt.Errorf("-trusted-proxies: %w", err)
	}
	c.TrustedProxies = proxies
	if *raw.origins != "" {
		for _, o := range strings.Split(*raw.origins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.AllowedOrigins = append(c.AllowedOrigins, o)
			}
		}
	}
	if err := o.check(*raw.level); err != nil {
		return nil, err
	}
	c.NoMetricsOnMain = o.metricsOnMain == "off" || (o.metricsOnMain == "auto" && o.adminAddr != "")
	o.warnings = append(o.warnings, configWarnings(o)...)
	return o, nil
}

// flagOnly are the flags never read from the environment.
var flagOnly = map[string]bool{"help": true, "version": true}

// parsePrefixes parses a comma-separated list of CIDRs and bare addresses
// (a bare address is a prefix of its full length).
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// check validates values the flag package cannot.
func (o *options) check(level string) error {
	c := &o.cfg
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("-addr %q: %w", c.Addr, err)
	}
	if o.adminAddr != "" {
		if _, _, err := net.SplitHostPort(o.adminAddr); err != nil {
			return fmt.Errorf("-admin %q: %w", o.adminAddr, err)
		}
	} else if o.pprof {
		return fmt.Errorf("-pprof needs -admin")
	}
	if err := o.logLevel.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return fmt.Errorf("-log-format %q: want text or json", o.logFormat)
	}
	switch {
	case c.Loops < 0 || c.Loops > 64:
		return fmt.Errorf("-loops must be between 0 and 64")
	case c.MaxMessageBytes < 125:
		return fmt.Errorf("-max-message-bytes must be at least 125")
	case c.MaxHeaderBytes < 256:
		return fmt.Errorf("-max-header-bytes must be at least 256")
	case c.MaxOutboundBytes < 1024:
		return fmt.Errorf("-max-outbound-bytes must be at least 1024")
	case c.MaxConns < 0:
		return fmt.Errorf("-max-conns must not be negative")
	case c.StreamBatch < 1 || c.StreamBatch > 1024:
		return fmt.Errorf("-stream-batch must be between 1 and 1024")
	case o.gcPercent < 10 || o.gcPercent > 1000:
		return fmt.Errorf("-gc-percent must be between 10 and 1000")
	case c.RoomListMax < 1:
		return fmt.Errorf("-room-list-max must be at least 1")
	case c.MaxRoomsPerConn < 1 || c.MaxRoomsPerConn > 65535:
		return fmt.Errorf("-max-rooms-per-conn must be between 1 and 65535")
	case c.HistoryLimit < 1:
		return fmt.Errorf("-history-limit must be at least 1")
	case c.PresenceMax < 1:
		return fmt.Errorf("-presence-max must be at least 1")
	case c.TypingInterval < 0 || c.TypingInterval > time.Minute:
		return fmt.Errorf("-typing-interval must be between 0 and 1m")
	case c.RoomListInterval < 0 || c.RoomListInterval > time.Hour || c.RoomListRefresh < 0:
		return fmt.Errorf("-room-list-interval must be between 0 and 1h, -room-list-refresh not negative")
	case c.RoomListBurst < 1 || c.RoomListBurst > 1000:
		return fmt.Errorf("-room-list-burst must be between 1 and 1000")
	case c.MaxConnsPerIP < 0:
		return fmt.Errorf("-max-conns-per-ip must not be negative")
	case o.metricsOnMain != "auto" && o.metricsOnMain != "on" && o.metricsOnMain != "off":
		return fmt.Errorf("-metrics-on-main %q: want auto, on or off", o.metricsOnMain)
	case c.RateLimit > 0 && c.RateBurst < 1:
		return fmt.Errorf("-rate-burst must be at least 1")
	case c.UserRateLimit >= 0 && c.UserRateBurst < 1, c.AddrRateLimit >= 0 && c.AddrRateBurst < 1:
		return fmt.Errorf("-user-rate-burst and -addr-rate-burst must be at least 1")
	case c.UserRoomCreateRate >= 0 && c.UserRoomCreateBurst < 1, c.AddrRoomCreateRate >= 0 && c.AddrRoomCreateBurst < 1:
		return fmt.Errorf("-user-room-create-burst and -addr-room-create-burst must be at least 1")
	case c.NoticeRate <= 0 || c.NoticeBurst < 1:
		return fmt.Errorf("-notice-rate must be positive and -notice-burst at least 1")
	case c.HandshakeTimeout <= 0 || c.PingInterval <= 0 || c.IdleTimeout <= 0 || c.CloseTimeout <= 0:
		return fmt.Errorf("timeouts must be positive")
	case c.CoalesceDelay < 0 || c.CoalesceDelay > time.Second:
		return fmt.Errorf("-coalesce-delay must be between 0 and 1s")
	case c.PingRate == 0 || c.MaxPendingPerIP == 0 || c.MaxContinuationFrames == 0:
		return fmt.Errorf("-ping-rate, -max-pending-per-ip and -max-continuation-frames must not be 0 (negative: no limit)")
	case c.PendingPressure == 0:
		return fmt.Errorf("-pending-pressure must not be 0 (negative: -max-pending-per-ip always applies)")
	case c.MaxNodeOutboundBytes >= 0 && c.MaxNodeOutboundBytes < 1024:
		return fmt.Errorf("-max-node-outbound-bytes must be at least 1024 (negative: no bound)")
	case c.PingRate > 1e6 || c.PingBurst < 1 || c.PingBurst > 255:
		return fmt.Errorf("-ping-rate must be at most 1e6 and -ping-burst between 1 and 255")
	case c.IdleTimeout <= c.PingInterval:
		return fmt.Errorf("-idle-timeout (%v) must exceed -ping-interval (%v)", c.IdleTimeout, c.PingInterval)
	case o.drainWindow < 0 || o.shutdownTimeout <= o.drainWindow:
		return fmt.Errorf("-shutdown-timeout (%v) must exceed -drain-window (%v)", o.shutdownTimeout, o.drainWindow)
	}
	return nil
}

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return "CHATD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// printHelp writes the flags by group, each with its environment variable
// and default.
func printHelp(w io.Writer) {
	fs, _ := newFlagSet(&options{})
	fmt.Fprint(w, "Usage: chatd [flags]\n\nA WebSocket chat node. Without -redis it runs alone on an embedded broker.\n"+
		"Every flag but -help and -version can also be set with CHATD_<FLAG> (e.g. CHATD_LOOPS=4); PORT sets the port,\n"+
		"REDIS_URL (or REDIS_HOST/REDIS_PORT/REDIS_PASSWORD) the Redis server.\n"+
		"Signals: SIGTERM/SIGINT drain gracefully (a second one exits at once); SIGUSR1 logs the heap after a GC;\n"+
		"SIGHUP re-reads the token key files. \"chatd token -help\" mints a test token.\n")
	for _, g := range flagGroups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, name := range g.names {
			f := fs.Lookup(name)
			def := ""
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
				def = " (default " + f.DefValue + ")"
			}
			env := " [" + envName(f.Name) + "]"
			if flagOnly[f.Name] {
				env = ""
			}
			fmt.Fprintf(w, "  -%s\n      %s%s%s\n", f.Name, f.Usage, def, env)
		}
	}
}

func newLogger(format string, lv slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
