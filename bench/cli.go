package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Main is the chatbench command line (cmd/chatbench is a thin wrapper, so tests can run the
// CLI, including -procs children, from the test binary). It returns the exit status:
// ExitPass, ExitUsage, or for a failed run ExitFail plus a bit for each delivery fault
// (verdict.go).
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitPass
	}
	cfg, err := ParseFlags(args[0], args[1:], stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitPass
		}
		fmt.Fprintf(stderr, "chatbench: %v\n", err)
		return ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.CPUProfile != "" {
		name := cfg.CPUProfile
		if v := os.Getenv(ChildEnv); v != "" {
			name += "." + v
		}
		if cfg.Procs == 1 || os.Getenv(ChildEnv) != "" {
			f, err := os.Create(name)
			if err != nil {
				fmt.Fprintf(stderr, "chatbench: -cpuprofile: %v\n", err)
				return ExitUsage
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintf(stderr, "chatbench: -cpuprofile: %v\n", err)
				return ExitUsage
			}
			defer pprof.StopCPUProfile()
		}
	}

	if v := os.Getenv(ChildEnv); v != "" {
		idx, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintf(stderr, "chatbench: bad %s=%q\n", ChildEnv, v)
			return ExitUsage
		}
		cfg.ProcIndex = idx
		if err := RunChild(ctx, cfg, os.Stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "chatbench child %d: %v\n", idx, err)
			return ExitUsage
		}
		return ExitPass
	}
	if err := cfg.validateAll(); err != nil {
		fmt.Fprintf(stderr, "chatbench: %v\n", err)
		return ExitUsage
	}

	var res *Result
	if cfg.Procs > 1 {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "chatbench: find own executable for -procs: %v\n", err)
			return ExitUsage
		}
		res, err = RunParent(ctx, cfg, exe, args, stderr, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "chatbench: %v\n", err)
			return ExitUsage
		}
	} else {
		res, err = RunLocal(ctx, cfg, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "chatbench: %v\n", err)
			if res == nil {
				return ExitUsage
			}
		}
	}
	if cfg.JSON {
		WriteSummary(stderr, res)
		if err := WriteJSON(stdout, res); err != nil {
			fmt.Fprintf(stderr, "chatbench: %v\n", err)
			return ExitUsage
		}
	} else {
		WriteSummary(stdout, res)
	}
	return res.ExitStatus()
}

// validateAll checks the config as every child will see it, before starting any.
func (c *Config) validateAll() error {
	for p := 0; p < c.Procs; p++ {
		cc := *c
		cc.ProcIndex = p
		if err := cc.Validate(); err != nil {
			if c.Procs > 1 {
				return fmt.Errorf("process %d of %d: %w", p, c.Procs, err)
			}
			return err
		}
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `usage: chatbench <workload> [flags]

workloads (presets; every flag overrides):
  fanout   -clients 1000 -rooms 10 -rate 1        members send at a per-client rate
  bigroom  -clients 2000 -rooms 1 -total-rate 20  one big room; time until every join was seen
  storm    -clients 500 -rooms 1 -rate 2          a few hundred members all sending fast
  idle     -clients 1000 -rooms 100 -rate 0       connect, join, hold; server RSS per connection
  churn    -clients 100 -rooms 10 -churn-rate 50  connect/join/leave/disconnect cycles
  roomcast -clients 1000 -rooms 10 -senders-per-room 1 -count 1
                                                  one message per room; every member gets it
  recovery -proto v2 -clients 1000 -rooms 10 -rate 1 -churn-share 0.1 -away 500ms-3s
                                                  members go away and re-join with since (needs history)

every workload speaks v1 (default) or v2 (-proto v2; -rooms-per-client K: K rooms per connection).
run "chatbench <workload> -h" for the flags. See bench/README.md.
`)
}

// ParseFlags builds the configuration of a workload from its preset and the flags.
func ParseFlags(workload string, args []string, stderr io.Writer) (*Config, error) {
	cfg, err := Preset(workload)
	if err != nil {
		return nil, err
	}
	fs := flag.NewFlagSet("chatbench "+workload, flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("url", strings.Join(cfg.URLs, ","), "comma-separated ws:// URLs; each room's members alternate between them")
	fs.StringVar(&cfg.Proto, "proto", cfg.Proto, "wire protocol: v1 (the reference app's) or v2 (chatd.v2: hello, joins and publishes with ids)")
	fs.IntVar(&cfg.RoomsPerClient, "rooms-per-client", cfg.RoomsPerClient, "v2: rooms each connection joins (member i: rooms (i*K + j) % rooms, j < K); it publishes round-robin over them")
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "room members over all processes (churn: stable members)")
	fs.IntVar(&cfg.Rooms, "rooms", cfg.Rooms, "rooms; member i joins room i % rooms")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "messages per second per sender")
	fs.Float64Var(&cfg.TotalRate, "total-rate", cfg.TotalRate, "messages per second over all senders (overrides -rate)")
	fs.IntVar(&cfg.SendersPerRoom, "senders-per-room", cfg.SendersPerRoom, "only the first N members of each room send (0: every member)")
	fs.IntVar(&cfg.Count, "count", cfg.Count, "at most this many messages per member; the send phase ends when all are sent (0: no cap)")
	fs.IntVar(&cfg.Size, "size", cfg.Size, "message content size in bytes (padded)")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "sending before measuring latency and rate (still checked for loss)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured send phase (idle: hold time)")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "after sending, wait at most this long for in-flight deliveries")
	fs.DurationVar(&cfg.Hold, "hold", cfg.Hold, "after the accounting, keep every connection open this long (phase \"hold\"; server closes then fail nothing)")
	fs.Float64Var(&cfg.ChurnRate, "churn-rate", cfg.ChurnRate, "churn cycles per second (connect, join, leave, disconnect)")
	fs.Float64Var(&cfg.ChurnShare, "churn-share", cfg.ChurnShare, "recovery: share of the members that each go away once, at a random time of the send phase")
	away := fs.String("away", fmtAway(cfg.AwayMin, cfg.AwayMax), "recovery: how long a member stays away, min-max (e.g. 500ms-3s) or one duration")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "recovery: picks who goes away and when (0: random; the result reports it)")
	fs.BoolVar(&cfg.WaitNotices, "wait-notices", cfg.WaitNotices, "before sending, wait until every member has seen its room full")
	fs.DurationVar(&cfg.SettleTimeout, "settle-timeout", cfg.SettleTimeout, "bound for -wait-notices")
	fs.DurationVar(&cfg.JoinTimeout, "join-timeout", cfg.JoinTimeout, "bound for the whole connect+join phase")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", cfg.ConnectTimeout, "per connection: TCP connect + upgrade, then again for roomJoined")
	src := fs.String("src", "", "comma-separated local IPv4 source addresses to bind, e.g. 127.0.0.2,127.0.0.3")
	fs.IntVar(&cfg.DialConcurrency, "dial-concurrency", cfg.DialConcurrency, "connections in connect/upgrade at once, per process (chatd refuses more than -max-pending-per-ip, 64, per source address: with several processes on one address, lower it or spread them with -src)")
	fs.BoolVar(&cfg.DialUntilJoined, "dial-until-joined", cfg.DialUntilJoined, "a member keeps its -dial-concurrency slot until it has joined (v1 roomJoined, v2 every join's reply), so the joins in flight are bounded too: a join storm then runs at the servers' pace instead of queueing past their timeouts")
	fs.IntVar(&cfg.Loops, "client-loops", cfg.Loops, "client event loops per process")
	pids := fs.String("pids", "", "comma-separated server PIDs to sample for CPU and RSS")
	fs.DurationVar(&cfg.Progress, "progress", cfg.Progress, "progress line interval on stderr (0: none)")
	fs.BoolVar(&cfg.JSON, "json", cfg.JSON, "print one JSON result line on stdout (summary goes to stderr)")
	fs.IntVar(&cfg.Procs, "procs", cfg.Procs, "load processes; the members are split between them")
	fs.StringVar(&cfg.RoomPrefix, "room-prefix", "", "room id prefix (default: bench-<random>, new for every run)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write the load tool's CPU profile to this file (with -procs: <file>.<child>)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags come after the workload)", fs.Arg(0))
	}
	cfg.URLs = splitList(*urls)
	if cfg.AwayMin, cfg.AwayMax, err = parseAway(*away); err != nil {
		return nil, err
	}
	for cfg.Seed == 0 {
		cfg.Seed = randomSeed()
	}
	cfg.Src = splitList(*src)
	for _, p := range splitList(*pids) {
		pid, err := strconv.Atoi(p)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("-pids: bad pid %q", p)
		}
		cfg.Pids = append(cfg.Pids, pid)
	}
	if cfg.RoomPrefix == "" {
		cfg.RoomPrefix = "bench-" + randomID()
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// fmtAway and parseAway write and read -away: "min-max" or a single duration.
func fmtAway(lo, hi time.Duration) string {
	if lo == hi {
		return lo.String()
	}
	return lo.String() + "-" + hi.String()
}

func parseAway(s string) (lo, hi time.Duration, err error) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if lo, err = time.ParseDuration(strings.TrimSpace(a)); err != nil {
		return 0, 0, fmt.Errorf("-away %q: %v", s, err)
	}
	hi = lo
	if isRange {
		if hi, err = time.ParseDuration(strings.TrimSpace(b)); err != nil {
			return 0, 0, fmt.Errorf("-away %q: %v", s, err)
		}
	}
	return lo, hi, nil
}

// randomSeed picks the outages of a run whose -seed was not given.
func randomSeed() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return uint64(time.Now().UnixNano())
	}
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

// randomID names a run, so that runs against the same server never share rooms.
func randomID() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	}
	return fmt.Sprintf("%x", b)
}
