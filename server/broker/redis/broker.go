package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatd/chatd/server/broker"
	goredis "github.com/redis/go-redis/v9"
)

// Broker connects nodes through one Redis (docs/cluster.md), interoperating
// with the reference app's nodes on the same Redis, or through a Redis
// Cluster (cluster.go, keys.go: tagged keys, sharded Pub/Sub):
//
//   - Events: PUBLISH room:<roomId> with the event's JSON body plus
//     excludeUserId (and our origin node id after it), pipelined by one
//     goroutine (publish.go). One subscriber goroutine SUBSCRIBEs
//     to the rooms this node has members in, reference-counted, batched, with
//     a linger before UNSUBSCRIBE, and hands each event to the node's
//     Receiver, which decodes it once per node (subscribe.go).
//   - State: the reference keys room_info:, room_members:, user_data:, changed
//     only by Lua scripts (atomic), from one goroutine in order
//     (state.go, scripts.go).
//   - Liveness: a heartbeat key with a TTL per node and the node's member
//     list; survivors reap dead nodes (liveness.go).
//   - Faults: while Redis is unreachable, requests fail at once with errors
//     wrapping broker.ErrUnavailable and Healthy is false; one log line per outage;
//     reconnects back off up to MaxBackoff; on return every room is
//     re-subscribed and the node's members are re-registered.
type Broker struct {
	opt  Options
	log  *slog.Logger
	keys keyspace
	recv broker.Receiver

	// client serves reads: single is the one Redis, or cluster the
	// ClusterClient (cluster.go).
	client  goredis.UniversalClient
	single  *goredis.Client
	cluster *goredis.ClusterClient
	// Cluster mode: the slot map, and one plain client per node for writes
	// and subscriptions.
	copts        *goredis.ClusterOptions
	topo         topology
	topoSig      chan struct{}
	shmu         sync.Mutex
	shards       map[string]*goredis.Client
	shardsClosed bool // closeClients ran

	// Lifecycle: every goroutine the broker starts is counted in wg, and
	// Close waits for all of them (spawn; the loops of Start). spmu orders
	// each wg.Add before Close's Wait (stopped is set under it).
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	spmu    sync.RWMutex
	stopped bool          // under spmu: spawn starts nothing more
	closing atomic.Bool   // Close has begun
	closed  atomic.Bool   // no new requests
	idle    chan struct{} // Close's wait: the queued writes are done, or Redis went away

	// origin is the node id as a JSON string, appended to published events.
	origin []byte

	// Health: the command connection (heartbeat, state, publish) and the
	// subscriber connection are tracked apart; Healthy needs both.
	hmu       sync.Mutex
	cmdUp     bool
	subUp     bool
	healthy   atomic.Bool
	cmdOK     atomic.Bool // cmdUp, readable without the lock
	everUp    bool
	downSince time.Time
	subReady  chan struct{} // closed when the subscriber first works
	subOnce   sync.Once
	wake      chan struct{} // wakes the liveness loop (a failure, or Redis back, was seen)
	upSince   atomic.Int64  // unix ns when the command side last came up (liveness.go waits for subscriptions from then)

	// Publishing: one queue (single mode), or one lane per master (cluster
	// mode, lanes.go).
	pubq      chan pubItem
	lnmu      sync.Mutex
	lanes     map[string]*pubLane
	roomLanes map[string]*laneRef

	// Delivery flows per subscribed room (flow.go).
	fmu   sync.RWMutex
	flows map[string]*roomFlow
	// epochs names new histories: a random prefix and a counter.
	epochPrefix string
	epochN      atomic.Uint64

	// Subscriptions (subscribe.go, links.go).
	smu        sync.Mutex
	subs       map[string]*subRoom
	dirty      map[string]struct{}
	links      map[string]*subLink // cluster mode: by master address
	singleLink *subLink            // single mode: the one link
	gen        uint64              // the last generation of any link
	subSig     chan struct{}

	// Local members and the state pipeline (broker_redis_state.go).
	lmu           sync.Mutex
	local         map[string]*localRoom
	departed      map[broker.Member]struct{}
	stateq        chan *stateOp
	needReconcile atomic.Bool
	late          map[string]bool // nodes whose beat lapsed while their connection was active, logged (liveness loop only)
	recorded      map[string]bool // cluster mode: slot tags in the node's slots set (state loop only)

	// Room lists (coalesced).
	rmu          sync.Mutex
	roomWaiters  []func([]broker.Room, error)
	roomsRunning bool
	lastScan     time.Time

	inflight  atomic.Int64 // queued publishes and state ops not yet finished
	stats     counters
	sample    historySample // chatd_history_bytes (sample.go)
	sinkState               // the message sink's (sink.go)
	metrics   *collector
}

// counters are the broker's counters (see Stats).
type counters struct {
	published, publishFailed       atomic.Int64
	publishTrips                   atomic.Int64
	received, dropped              atomic.Int64
	historyReads, gapsFilled       atomic.Int64
	gapsUnfilled, filled           atomic.Int64
	duplicates, epochChanges       atomic.Int64
	joinsPlaced, noticesLate       atomic.Int64
	stored                         atomic.Int64
	subscribeCmds, unsubscribeCmds atomic.Int64
	reaped, reconciles, outages    atomic.Int64
	reregistered, reapsDeferred    atomic.Int64
	reconnects                     atomic.Int64
	redirects, topologyLoads       atomic.Int64
	failovers, movedRooms          atomic.Int64
	storageFull, scriptLoads       atomic.Int64
	historyAdded, historyTrimmed   atomic.Int64
	historyTrimmedBytes            atomic.Int64
}

// Stats is a snapshot of a Broker's counters.
type Stats struct {
	Published       int64 // events published to Redis
	PublishFailed   int64 // events that could not be published
	PublishTrips    int64 // publish pipelines sent (round trips)
	Received        int64 // events received from Redis (this node's subscriptions)
	Dropped         int64 // received payloads the node's Receiver refused (not a JSON object with a type)
	Stored          int64 // messages stored in a room's history (and published)
	HistoryReads    int64 // history reads (fills, joins, recoveries, paging)
	GapsFilled      int64 // holes in a room's delivered offsets filled from the history
	Filled          int64 // messages delivered by those fills
	GapsUnfilled    int64 // holes the history no longer covered (members told to resync)
	Duplicates      int64 // stored events dropped as already delivered
	EpochChanges    int64 // rooms whose history started a new epoch under this node (members told to resync)
	JoinsPlaced     int64 // joins placed where their own announcement (published by the join's script) passed the node
	NoticesLate     int64 // joins answered unplaced: their script's announcement did not pass the node within NoticeWait (1 s) of the reply
	SubscribeCmds   int64 // SUBSCRIBE commands sent (each may carry many channels)
	UnsubscribeCmds int64 // UNSUBSCRIBE commands sent
	Reaped          int64 // members of dead nodes this node removed
	ReapsDeferred   int64 // looks at a node whose beat had lapsed but whose connection to Redis was active (not reaped)
	Reconciles      int64 // re-registrations of this node's members
	Reregistered    int64 // members those re-registrations wrote again (Redis did not list them for this node)
	Outages         int64 // times Redis became unreachable
	Reconnects      int64 // times Redis became reachable again after an outage
	Subscribed      int   // rooms subscribed or being subscribed now
	StorageFull     int64 // writes Redis refused for want of memory (maxmemory under noeviction)
	ScriptLoads     int64 // script calls sent again as EVAL after NOSCRIPT (a restarted Redis)
	HistoryAdded    int64 // bytes of history entries this node stored (payload plus 14 each)
	HistoryTrimmed  int64 // history entries the store script trimmed (count or byte cap)
	HistoryCutBytes int64 // their bytes

	// Redis Cluster mode.
	Redirects     int64 // writes sent again after MOVED, ASK, TRYAGAIN, CLUSTERDOWN (they had not run)
	TopologyLoads int64 // slot map reads
	Failovers     int64 // slot map changes where a master was replaced (its replica promoted)
	MovedRooms    int64 // room subscriptions moved to another master
	Masters       int   // masters this node has a subscriber connection to
}

// NewBroker returns a broker for o; Start connects it.
func New(o Options) (*Broker, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Broker{
		opt:         o,
		log:         o.Logger.With("component", "redis", "node", o.NodeID),
		keys:        keyspace{cluster: o.Cluster != ""},
		origin:      appendJSONString(nil, o.NodeID),
		subReady:    make(chan struct{}),
		wake:        make(chan struct{}, 1),
		idle:        make(chan struct{}, 1),
		subs:        make(map[string]*subRoom),
		flows:       make(map[string]*roomFlow),
		epochPrefix: randomID()[:6],
		dirty:       make(map[string]struct{}),
		subSig:      make(chan struct{}, 1),
		local:       make(map[string]*localRoom),
		stateq:      make(chan *stateOp, o.StateQueue),
		recorded:    make(map[string]bool),
		late:        make(map[string]bool),
	}
	b.sinkSlots = make(map[int]bool)
	if b.keys.cluster {
		co, err := o.clusterOptions()
		if err != nil {
			return nil, err
		}
		b.copts = co
		co.ClusterSlots = b.clusterSlots
		b.cluster = goredis.NewClusterClient(co)
		b.client = b.cluster
		b.topo.known = append([]string(nil), co.Addrs...)
		b.topoSig = make(chan struct{}, 1)
		b.shards = make(map[string]*goredis.Client)
		b.links = make(map[string]*subLink)
		b.lanes = make(map[string]*pubLane)
		b.roomLanes = make(map[string]*laneRef)
	} else {
		ro, err := o.clientOptions()
		if err != nil {
			return nil, err
		}
		b.single = goredis.NewClient(ro)
		b.pubq = make(chan pubItem, o.PublishQueue)
		b.client = b.single
		b.singleLink = &subLink{client: b.single}
	}
	b.metrics = newCollector(b)
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.needReconcile.Store(true) // take over what a previous run with this id left
	return b, nil
}

// NodeID returns the node's id in the cluster.
func (b *Broker) NodeID() string { return b.opt.NodeID }

// Start implements broker.Broker: it connects to Redis and starts the broker's
// goroutines. If Redis cannot be reached, Start fails with FailFast, and
// otherwise logs it and returns: the broker keeps trying in the background.
func (b *Broker) Start(r broker.Receiver) error {
	b.recv = r
	var err error
	if b.keys.cluster {
		err = b.loadTopology()
	} else {
		ctx, cancel := context.WithTimeout(b.ctx, b.opt.DialTimeout)
		err = b.single.Ping(ctx).Err()
		cancel()
	}
	addr := b.addr()
	if err != nil {
		if b.opt.FailFast {
			b.closeClients()
			return fmt.Errorf("redis at %s unreachable (fail-fast is set): %w", addr, err)
		}
		b.log.Warn("redis unreachable at start-up; serving anyway, cluster requests fail until it is reachable",
			"addr", addr, "err", err)
		b.hmu.Lock()
		b.downSince = time.Now()
		b.hmu.Unlock()
		b.stats.outages.Add(1)
	} else {
		b.setCmd(true, nil)
	}
	b.wg.Add(3)
	go b.subscriptionLoop()
	go b.stateLoop()
	go b.livenessLoop()
	b.wg.Add(1)
	if !b.keys.cluster {
		b.wg.Add(1)
		go b.publishLoop(b.pubq, nil)
	}
	if b.keys.cluster {
		if err == nil {
			b.setSub(true, nil) // the slot map is the subscribers' health (links.go)
		}
		go b.topologyLoop()
	} else {
		go b.linkLoop(b.singleLink)
	}
	if err == nil {
		// Give the subscriber its first round trip, so that a node that
		// starts healthy accepts joins from its first connection on.
		t := time.NewTimer(b.opt.DialTimeout)
		select {
		case <-b.subReady:
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

// Healthy implements broker.Broker.
func (b *Broker) Healthy() bool { return b.healthy.Load() }

// Stats returns the broker's counters.
func (b *Broker) Stats() Stats {
	b.smu.Lock()
	n, masters := len(b.subs), 0
	for _, l := range b.links {
		if l.ps != nil {
			masters++
		}
	}
	b.smu.Unlock()
	c := &b.stats
	return Stats{
		Published: c.published.Load(), PublishFailed: c.publishFailed.Load(), PublishTrips: c.publishTrips.Load(),
		Received: c.received.Load(), Dropped: c.dropped.Load(), Stored: c.stored.Load(),
		HistoryReads: c.historyReads.Load(), GapsFilled: c.gapsFilled.Load(), Filled: c.filled.Load(),
		GapsUnfilled: c.gapsUnfilled.Load(), Duplicates: c.duplicates.Load(), EpochChanges: c.epochChanges.Load(),
		JoinsPlaced: c.joinsPlaced.Load(), NoticesLate: c.noticesLate.Load(),
		SubscribeCmds: c.subscribeCmds.Load(), UnsubscribeCmds: c.unsubscribeCmds.Load(),
		Reaped: c.reaped.Load(), ReapsDeferred: c.reapsDeferred.Load(), Reconciles: c.reconciles.Load(), Reregistered: c.reregistered.Load(), Outages: c.outages.Load(),
		Reconnects: c.reconnects.Load(), Subscribed: n,
		Redirects: c.redirects.Load(), TopologyLoads: c.topologyLoads.Load(), Failovers: c.failovers.Load(),
		MovedRooms: c.movedRooms.Load(), Masters: masters,
		StorageFull: c.storageFull.Load(), ScriptLoads: c.scriptLoads.Load(),
		HistoryAdded: c.historyAdded.Load(), HistoryTrimmed: c.historyTrimmed.Load(),
		HistoryCutBytes: c.historyTrimmedBytes.Load(),
	}
}

// Close implements broker.Broker. It waits (up to OpTimeout) for queued joins,
// leaves and publishes to reach Redis, withdraws the node's heartbeat (so
// survivors clean up whatever is left at once rather than after the TTL),
// answers the subscriptions still waiting (errBrokerClosed), and returns
// once every goroutine the broker started has ended: no callback runs
// after Close returns, but those already running.
func (b *Broker) Close() error {
	if b.closing.Swap(true) {
		return nil
	}
	// The leaves of the node's last clients (and the userLeft they publish)
	// are still on their way: let them through (finished and setCmd signal
	// idle).
	t := time.NewTimer(b.opt.OpTimeout)
wait:
	for b.inflight.Load() > 0 && b.cmdOK.Load() {
		select {
		case <-b.idle:
		case <-t.C:
			break wait
		}
	}
	t.Stop()
	b.spmu.Lock()
	b.closed.Store(true)
	b.stopped = true
	b.spmu.Unlock()
	b.lnmu.Lock() // no lane starts after this (laneFor)
	b.lnmu.Unlock()
	if b.cmdOK.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), b.opt.OpTimeout)
		b.lmu.Lock()
		empty := len(b.local) == 0
		b.lmu.Unlock()
		b.withdraw(ctx, empty)
		cancel()
	}
	b.cancel()
	b.smu.Lock()
	var pss []*goredis.PubSub
	for _, l := range b.allLinksLocked() {
		if l.ps != nil {
			pss = append(pss, l.ps)
			l.ps = nil
		}
	}
	var ws []*subWaiter
	for _, r := range b.subs {
		ws = append(ws, r.waiters...)
		r.waiters = nil
		if r.linger != nil {
			r.linger.Stop()
		}
	}
	b.smu.Unlock()
	for _, ps := range pss {
		_ = ps.Close()
	}
	for _, w := range ws {
		// (Taken from the room under smu: subscribeTimedOut, if its timer
		// fired meanwhile, no longer finds it and does not answer.)
		w.timer.Stop()
		w.done(errBrokerClosed)
	}
	// Closing the clients ends the reads still waiting on a Redis that does
	// not answer, rather than after their timeouts; what the goroutines
	// still send fails at once.
	err := b.closeClients()
	b.wg.Wait()
	b.settleAwaiting() // (after the reply path ended: what it left waiting)
	return err
}

// spawn runs fn on a goroutine that Close waits for, unless the broker has
// stopped (false: fn does not run).
func (b *Broker) spawn(fn func()) bool {
	b.spmu.RLock()
	defer b.spmu.RUnlock()
	if b.stopped {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn()
	}()
	return true
}

// finished counts n queued writes (publishes, state changes) done; Close
// waits for the last one.
func (b *Broker) finished(n int64) {
	if b.inflight.Add(-n) == 0 && b.closing.Load() {
		b.signalIdle()
	}
}

func (b *Broker) signalIdle() {
	select {
	case b.idle <- struct{}{}:
	default:
	}
}

// allLinksLocked lists the links (under smu).
func (b *Broker) allLinksLocked() []*subLink {
	if !b.keys.cluster {
		return []*subLink{b.singleLink}
	}
	out := make([]*subLink, 0, len(b.links))
	for _, l := range b.links {
		out = append(out, l)
	}
	return out
}

// closeClients closes every client of the broker (a node's client asked
// for afterwards comes closed: shard).
func (b *Broker) closeClients() error {
	if !b.keys.cluster {
		return b.single.Close()
	}
	b.shmu.Lock()
	b.shardsClosed = true
	for _, c := range b.shards {
		_ = c.Close() // (a client's Close fails only if closed already)
	}
	b.shmu.Unlock()
	return b.cluster.Close()
}

// addr names the Redis (or the cluster's seeds) in logs.
func (b *Broker) addr() string {
	if b.keys.cluster {
		return strings.Join(b.copts.Addrs, ",")
	}
	return b.single.Options().Addr
}

// commandFailed handles the error of a command: a network error or a
// timeout (not an error reply) means Redis is unreachable. With one Redis
// that is the whole cluster: requests fail at once until the liveness loop
// reaches it again. With Redis Cluster it may be one master of several:
// the slot map is reloaded (a replica may have taken over), and only the
// heartbeat decides that the cluster as a whole is unreachable.
func (b *Broker) commandFailed(err error) {
	if err == nil || isRedisReply(err) || b.ctx.Err() != nil {
		return
	}
	if b.keys.cluster {
		b.refreshTopology()
		return
	}
	b.setCmd(false, err)
}

// unavailable wraps broker.ErrUnavailable with what failed.
func unavailable(what string, err error) error {
	if err == nil {
		return fmt.Errorf("%w: %s", broker.ErrUnavailable, what)
	}
	return fmt.Errorf("%w: %s: %v", broker.ErrUnavailable, what, err)
}

var errBrokerClosed = fmt.Errorf("%w: broker closed", broker.ErrUnavailable)

// writeError wraps the error of a write: broker.ErrStorageFull when Redis
// refused it for want of memory (counted), broker.ErrUnavailable otherwise.
func (b *Broker) writeError(what string, err error) error {
	if isOOM(err) {
		b.stats.storageFull.Add(1)
		return fmt.Errorf("%w: %s: %v", broker.ErrStorageFull, what, err)
	}
	return unavailable(what, err)
}

// isOOM reports whether err is Redis' refusal of a write at maxmemory
// ("OOM command not allowed when used memory > 'maxmemory'"), also when a
// script's command got it.
func isOOM(err error) bool {
	var re goredis.Error
	return errors.As(err, &re) && (strings.HasPrefix(err.Error(), "OOM ") || strings.Contains(err.Error(), "-OOM ") ||
		strings.Contains(err.Error(), "OOM command not allowed"))
}

// isRedisReply reports whether err is an error reply from Redis (the
// connection is fine) rather than a network or timeout error.
func isRedisReply(err error) bool {
	var re goredis.Error
	return errors.As(err, &re) && !errors.Is(err, context.DeadlineExceeded)
}

// setCmd records the state of the command side.
func (b *Broker) setCmd(up bool, err error) {
	b.hmu.Lock()
	if up && !b.cmdUp {
		b.upSince.Store(time.Now().UnixNano())
	}
	b.cmdUp = up
	b.cmdOK.Store(up)
	b.updateHealthLocked(err)
	b.hmu.Unlock()
	if !up {
		b.sinkForget()
		b.wakeLiveness()
		if b.closing.Load() {
			b.signalIdle() // (Close stops waiting for writes that cannot go out)
		}
	}
}

// wakeLiveness makes the liveness loop look at once.
func (b *Broker) wakeLiveness() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// cmdSeen records that a command of the command client just worked. With
// one Redis, that is the command side back, whichever request notices it
// first: the liveness loop may be sleeping in its backoff for seconds
// still, and meanwhile a node whose subscriber came back first told its
// members to resync (a checkpoint found Redis empty: flow.go) and refused
// their re-joins as unavailable. So a flow's successful read marks the
// command side up before it pushes a resync, and the members are
// re-registered as after any outage (the liveness loop, woken). In cluster
// mode the slot map decides health (cluster.go).
func (b *Broker) cmdSeen() {
	if b.keys.cluster || b.cmdOK.Load() || b.closed.Load() {
		return
	}
	b.needReconcile.Store(true)
	b.setCmd(true, nil)
	b.wakeLiveness()
}

// setSub records the state of the subscriber side.
func (b *Broker) setSub(up bool, err error) {
	b.hmu.Lock()
	b.subUp = up
	b.updateHealthLocked(err)
	b.hmu.Unlock()
	if up {
		b.subOnce.Do(func() { close(b.subReady) })
	}
}

// updateHealthLocked logs the transitions of the overall health: once when
// an outage starts, once when it ends.
func (b *Broker) updateHealthLocked(err error) {
	now := b.cmdUp && b.subUp
	was := b.healthy.Load()
	if now == was {
		return
	}
	b.healthy.Store(now)
	if b.closed.Load() {
		return
	}
	if now {
		if !b.downSince.IsZero() {
			b.stats.reconnects.Add(1)
		}
		if b.everUp && !b.downSince.IsZero() {
			b.log.Info("redis reachable again; re-subscribing rooms and re-registering members",
				"outage", time.Since(b.downSince).Round(time.Millisecond))
		} else if !b.downSince.IsZero() {
			b.log.Info("redis reachable", "after", time.Since(b.downSince).Round(time.Millisecond))
		} else {
			b.log.Info("connected to redis", "addr", b.addr(), "cluster", b.keys.cluster)
		}
		b.everUp = true
		b.downSince = time.Time{}
		return
	}
	if b.everUp && b.downSince.IsZero() {
		b.downSince = time.Now()
		b.stats.outages.Add(1)
		b.log.Warn("redis unreachable; cluster requests fail until it returns, retrying with backoff",
			"err", err)
	}
}

// backoff doubles d up to the configured cap.
func (b *Broker) backoff(d time.Duration) time.Duration {
	d *= 2
	if d > b.opt.MaxBackoff {
		d = b.opt.MaxBackoff
	}
	return d
}

// sleep waits d or until the broker closes; false if it closed.
func (b *Broker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.ctx.Done():
		return false
	}
}

const minBackoff = 50 * time.Millisecond
