package bench

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Config describes one run. The CLI fills it from a preset (Preset) and flags; every child process
// of -procs parses the same flags, so all of them derive the same layout and schedule.
type Config struct {
	Workload string   // fanout, bigroom, storm, idle, churn, roomcast, recovery
	URLs     []string // ws:// URLs; a room's members are spread over them round-robin
	// Proto is the wire protocol the members speak: "v1" (the README's protocol v1) or "v2" (protocol v2: the chatd.v2
	// subprotocol, hello, joins and publishes with ids, one reply per request).
	Proto string
	// RoomsPerClient (v2 only): every connection joins this many rooms and publishes
	// round-robin over them (layout.go).
	RoomsPerClient int

	Clients   int     // room members across all processes (churn: the stable members)
	Rooms     int     // rooms; member i is in room i % Rooms
	Rate      float64 // messages per second per sender
	TotalRate float64 // if > 0: messages per second over all senders (overrides Rate)
	// SendersPerRoom: only the members at the first SendersPerRoom positions of each room send
	// (0: every member). With Count 1 and 1 sender per room, every member receives exactly one
	// message per room: the lightest send phase that still proves every member is reachable.
	SendersPerRoom int
	Count          int // at most this many messages per member (0: no cap)
	Size           int // message content bytes (padded; at least the header's own length)

	Warmup   time.Duration // sending before measuring: counted for loss, not for latency or rate
	Duration time.Duration // measured sending (idle: how long to hold)
	Drain    time.Duration // after sending, wait at most this long for in-flight deliveries
	// Hold keeps every connection open this long after the accounting is over, so that the
	// servers can be watched (or one drained) under the full load. Connections the servers
	// close meanwhile are counted apart (HoldDisconnects) and fail nothing.
	Hold time.Duration

	ChurnRate float64 // churn: connect/join/leave/disconnect cycles per second

	// recovery: a share of the members, picked at random (Seed), each drop their connection once
	// at a random time of the send phase, stay away a random time in [AwayMin, AwayMax], come back
	// and re-join every room with since (recovery.go).
	ChurnShare       float64
	AwayMin, AwayMax time.Duration
	Seed             uint64 // picks the members and times of the outages; 0: random (reported)

	WaitNotices    bool          // wait until every member has seen its room full (bigroom)
	SettleTimeout  time.Duration // bound for that wait
	JoinTimeout    time.Duration // bound for the whole connect+join phase
	ConnectTimeout time.Duration // per connection: TCP connect plus the upgrade

	Src             []string // local source addresses to bind (IP_BIND_ADDRESS_NO_PORT)
	DialConcurrency int      // connections in connect/handshake at once
	DialUntilJoined bool     // a dial slot is held until its member has joined, not just upgraded
	Loops           int      // client event loops in this process
	Pids            []int    // server processes to sample (CPU, RSS)
	Progress        time.Duration
	JSON            bool
	Procs           int    // load processes; >1 re-executes the CLI as children
	RoomPrefix      string // room ids are <RoomPrefix>-<n>
	CPUProfile      string // write this process's CPU profile here

	// Set in a child process: its index among Procs.
	ProcIndex int
}

// Workloads lists the presets.
var Workloads = []string{"fanout", "bigroom", "storm", "idle", "churn", "roomcast", "recovery"}

// Preset returns the defaults of a workload.
func Preset(workload string) (*Config, error) {
	c := &Config{
		Workload:        workload,
		URLs:            []string{"ws://127.0.0.1:8080/ws"},
		Proto:           "v1",
		RoomsPerClient:  1,
		Warmup:          2 * time.Second,
		Duration:        10 * time.Second,
		Drain:           5 * time.Second,
		SettleTimeout:   2 * time.Minute,
		JoinTimeout:     2 * time.Minute,
		ConnectTimeout:  10 * time.Second,
		DialConcurrency: 64, // chatd allows 64 pending handshakes per source address by default (-max-pending-per-ip)
		Loops:           runtime.GOMAXPROCS(0),
		Progress:        time.Second,
		Procs:           1,
	}
	switch workload {
	case "fanout":
		c.Clients, c.Rooms, c.Rate = 1000, 10, 1
	case "bigroom":
		c.Clients, c.Rooms, c.TotalRate = 2000, 1, 20
		c.WaitNotices = true
		c.SettleTimeout = 5 * time.Minute
	case "storm":
		c.Clients, c.Rooms, c.Rate = 500, 1, 2
	case "idle":
		c.Clients, c.Rooms, c.Rate = 1000, 100, 0
		c.Warmup = 0
	case "churn":
		c.Clients, c.Rooms, c.Rate = 100, 10, 1
		c.ChurnRate = 50
	case "roomcast":
		// One message per room, from its first member, spread over one second per 1,000 rooms;
		// the run ends when every member has it (Count bounds it, Duration only has to cover
		// the spread).
		c.Clients, c.Rooms, c.SendersPerRoom, c.Count, c.TotalRate = 1000, 10, 1, 1, 1000
		c.Warmup, c.Duration = 0, 10*time.Minute
	case "recovery":
		// Fanout over v2 with outages: 10% of the members each go away once for 0.5-3 s and
		// recover what they missed with since. It needs a server that keeps history (offsets).
		c.Proto = "v2"
		c.Clients, c.Rooms, c.Rate = 1000, 10, 1
		c.ChurnShare, c.AwayMin, c.AwayMax = 0.1, 500*time.Millisecond, 3*time.Second
	default:
		return nil, fmt.Errorf("unknown workload %q (want one of %v)", workload, Workloads)
	}
	return c, nil
}

// Validate checks a config for this process and the machine's file limit.
func (c *Config) Validate() error {
	k := max(1, c.RoomsPerClient)
	switch {
	case len(c.URLs) == 0:
		return errors.New("no -url given")
	case c.Clients < 1:
		return errors.New("-clients must be at least 1")
	case c.Proto != "v1" && c.Proto != "v2":
		return fmt.Errorf("-proto %q: want v1 or v2", c.Proto)
	case c.RoomsPerClient < 1:
		return errors.New("-rooms-per-client must be at least 1")
	case c.RoomsPerClient > 1 && c.Proto != "v2":
		return errors.New("-rooms-per-client above 1 needs -proto v2 (a v1 connection is in one room)")
	case c.Rooms < 1 || c.Rooms > c.Clients*k:
		return fmt.Errorf("-rooms must be between 1 and -clients * -rooms-per-client (%d)", c.Clients*k)
	case k > c.Rooms:
		return fmt.Errorf("-rooms-per-client %d is more than -rooms %d", k, c.Rooms)
	case c.SendersPerRoom > 0 && k > 1:
		return errors.New("-senders-per-room needs -rooms-per-client 1 (a sender publishes round-robin over all its rooms)")
	case c.Rate < 0 || c.TotalRate < 0 || c.ChurnRate < 0:
		return errors.New("rates must not be negative")
	case c.Count < 0 || c.Size < 0 || c.SendersPerRoom < 0:
		return errors.New("-count, -size and -senders-per-room must not be negative")
	case c.Duration <= 0 || c.Warmup < 0 || c.Drain < 0 || c.Hold < 0:
		return errors.New("-duration must be positive, -warmup, -drain and -hold not negative")
	case c.Procs < 1 || c.Procs > c.Clients:
		return fmt.Errorf("-procs must be between 1 and -clients (%d)", c.Clients)
	case c.ProcIndex < 0 || c.ProcIndex >= c.Procs:
		return fmt.Errorf("process index %d out of range for %d processes", c.ProcIndex, c.Procs)
	case c.Loops < 1:
		return errors.New("-loops must be at least 1")
	case c.DialConcurrency < 1:
		return errors.New("-dial-concurrency must be at least 1")
	}
	if err := c.validateRecovery(); err != nil {
		return err
	}
	if c.Workload == "churn" && c.ChurnRate == 0 {
		return errors.New("churn needs -churn-rate > 0")
	}
	// With chosen senders a run is about reaching everyone: a sender whose messages the window
	// cuts off would silently shrink it.
	if iv := c.sendInterval(); c.SendersPerRoom > 0 && c.Count > 0 && iv > 0 &&
		iv*int64(c.Count) > int64(c.Warmup+c.Duration) {
		return fmt.Errorf("-warmup + -duration (%v) is too short for %d message(s) per sender at this rate (%v): raise -duration",
			c.Warmup+c.Duration, c.Count, time.Duration(iv*int64(c.Count)))
	}
	lo, hi := c.layout().owned(c.ProcIndex, c.Procs)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil {
		// Each connection is one descriptor; keep a margin for the epoll and event fds, pipes,
		// /proc reads and the churners in flight.
		need := uint64(hi-lo) + uint64(c.DialConcurrency) + 64
		if need > lim.Cur {
			return fmt.Errorf("this process would hold %d connections but may open only %d files: use -procs %d or more",
				hi-lo, lim.Cur, (c.Clients+int(lim.Cur)-c.DialConcurrency-64)/(int(lim.Cur)-c.DialConcurrency-64)+1)
		}
	}
	return nil
}

// senders is the number of members that send: with SendersPerRoom, the members at the first
// SendersPerRoom positions of every room, which are members [0, senders) (member i is at position
// i / Rooms).
func (c *Config) senders() int {
	if c.SendersPerRoom == 0 {
		return c.Clients
	}
	return min(c.Clients, c.SendersPerRoom*c.Rooms)
}

// sendInterval is the time between two messages of one sender, in nanoseconds (0: none).
func (c *Config) sendInterval() int64 {
	rate := c.Rate
	if c.TotalRate > 0 {
		rate = c.TotalRate / float64(c.senders())
	}
	if rate <= 0 {
		return 0
	}
	iv := math.Round(1e9 / rate)
	if iv < 1 {
		iv = 1
	}
	return int64(iv)
}

func (c *Config) layout() layout {
	return layout{members: c.Clients, rooms: c.Rooms, urls: len(c.URLs), perConn: c.RoomsPerClient}
}

// recoveryMargin: a member back from an outage has this long to reconnect and re-join before the
// first of the last messages is due.
const recoveryMargin = 500 * time.Millisecond

// outageWindow is how long after the start of the send phase outages may begin: late enough is
// too late when a member could still be away (or re-joining) as the last message of a stream is
// published, since a failed recovery would then lose a message the drain waits for, and the run
// would only end at -drain.
func (c *Config) outageWindow() int64 {
	return c.schedule().span() - int64(c.AwayMax) - int64(max(1, c.RoomsPerClient))*c.sendInterval() - int64(recoveryMargin)
}

// validateRecovery checks the outage flags: only the recovery workload has outages, and every
// outage must fit inside the send phase, so that messages are published while members are away.
func (c *Config) validateRecovery() error {
	if c.Workload != "recovery" {
		if c.ChurnShare != 0 {
			return errors.New("-churn-share is for the recovery workload")
		}
		return nil
	}
	switch {
	case c.Proto != "v2":
		return errors.New("recovery needs -proto v2 (join with since)")
	case c.ChurnShare <= 0 || c.ChurnShare > 1:
		return errors.New("recovery needs -churn-share in (0, 1]")
	case c.AwayMin <= 0 || c.AwayMax < c.AwayMin:
		return errors.New("recovery needs -away min-max with 0 < min <= max")
	case c.sendInterval() == 0:
		return errors.New("recovery needs messages: set -rate or -total-rate")
	}
	if c.outageWindow() <= 0 {
		return fmt.Errorf("recovery: the send phase (%v) must outlast the longest -away (%v) by more than %v (the last message to each room, then a margin to re-join)",
			time.Duration(c.schedule().span()), c.AwayMax, time.Duration(int64(max(1, c.RoomsPerClient))*c.sendInterval()+int64(recoveryMargin)))
	}
	return nil
}

func (c *Config) schedule() schedule {
	return schedule{
		interval: c.sendInterval(),
		window:   int64(c.Warmup + c.Duration),
		count:    c.Count,
		members:  c.senders(),
	}
}
