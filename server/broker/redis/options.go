package redis

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/sink"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Options configures a Broker. Every zero duration or size takes the default
// of the same name in server/broker/defaults.go.
type Options struct {
	// URL is the Redis server, redis://[:password@]host:port[/db] (or
	// rediss:// for TLS).
	URL string
	// Cluster, instead of URL, selects Redis Cluster mode (Redis >= 7:
	// sharded Pub/Sub): some of the cluster's nodes, host:port,host:port,
	// or redis://[[user]:password@]host:port?addr=host:port&addr=... (rediss://
	// for TLS). Keys and channels then carry hash tags (keys.go); the
	// reference app cannot share such a cluster.
	Cluster string
	// NodeID names this node in the cluster; it keys the node's heartbeat
	// and member list. Zero: random. A node restarted with the same id
	// takes over (and cleans up) what its previous run left behind.
	NodeID string
	// Logger receives the broker's logs. Zero: slog.Default().
	Logger *slog.Logger
	// FailFast makes Start fail when Redis cannot be reached. Zero: Start
	// succeeds, the node reports itself unhealthy and keeps retrying.
	FailFast bool

	// DialTimeout bounds connecting to Redis. Zero: broker.DefaultDialTimeout.
	DialTimeout time.Duration
	// OpTimeout bounds one cluster request (subscribe confirmation, join,
	// leave, room list, a publish pipeline). Zero: broker.DefaultOpTimeout.
	OpTimeout time.Duration
	// MaxBackoff caps the reconnect backoff. Zero: broker.DefaultMaxBackoff.
	MaxBackoff time.Duration
	// SubscribeLinger keeps a room subscribed this long after its last local
	// member left. Zero: broker.DefaultSubscribeLinger.
	SubscribeLinger time.Duration
	// HeartbeatInterval is how often the node refreshes its heartbeat.
	// (It looks for dead nodes every HeartbeatTTL/10, at most this.) Zero: broker.DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// HeartbeatTTL bounds how long a dead node goes unnoticed: a node whose
	// last heartbeat is this old has had its members removed. At least twice
	// HeartbeatInterval. Zero: broker.DefaultHeartbeatTTL.
	HeartbeatTTL time.Duration
	// RoomScanInterval is how often a room list also SCANs for rooms created
	// by reference-app nodes (which do not maintain our index). Zero: broker.DefaultRoomScanInterval.
	RoomScanInterval time.Duration
	// PublishBatch bounds commands per pipeline round trip. Zero: broker.DefaultPublishBatch.
	PublishBatch int
	// PublishQueue bounds publishes waiting for Redis. Zero: broker.DefaultPublishQueue.
	PublishQueue int
	// StateQueue bounds joins and leaves waiting for Redis. Zero: broker.DefaultStateQueue.
	StateQueue int
	// HistorySize is the stored messages kept per room; negative: no history
	// (nothing stored, recoveries fail). Zero: broker.DefaultHistorySize.
	HistorySize int
	// HistoryAge is how long a stored message is kept; a room's history
	// expires this long after its last stored message, and the epoch a join
	// named for a room without messages this long after a join named or
	// renewed it (history.go). Zero: broker.DefaultHistoryAge.
	HistoryAge time.Duration
	// Sink, with Shards > 0, makes every stored message go to the message
	// sink's queues too (sink.go; SinkQueue). Zero: no sink.
	Sink SinkOptions
	// HistoryRoomBytes bounds one room's stored messages in bytes (each
	// counts its payload plus its time, about 14 bytes); past it the oldest
	// go. A message larger than it is delivered but not kept. Negative: no
	// byte bound. Zero: broker.DefaultHistoryRoomBytes.
	HistoryRoomBytes int

	// NoticeWait is how long a join whose script announced it waits for
	// that announcement to pass the node (notice.go), after the script's
	// reply; then it completes without its place in the room's order.
	// Zero: broker.DefaultNoticeWait.
	NoticeWait time.Duration

	// DropDelivery, if set, is asked about every event received from Redis
	// before anything else: true drops it, as a lost Pub/Sub message would
	// be. For tests of gap filling only.
	DropDelivery func(room, payload string) bool
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.URL == "" && o.Cluster == "":
		return o, errors.New("redis broker: no URL")
	case o.URL != "" && o.Cluster != "":
		return o, errors.New("redis broker: both a URL and a cluster given")
	}
	setDefault(&o.DialTimeout, broker.DefaultDialTimeout)
	setDefault(&o.OpTimeout, broker.DefaultOpTimeout)
	setDefault(&o.MaxBackoff, broker.DefaultMaxBackoff)
	setDefault(&o.SubscribeLinger, broker.DefaultSubscribeLinger)
	setDefault(&o.HeartbeatInterval, broker.DefaultHeartbeatInterval)
	setDefault(&o.HeartbeatTTL, broker.DefaultHeartbeatTTL)
	setDefault(&o.RoomScanInterval, broker.DefaultRoomScanInterval)
	setDefault(&o.NoticeWait, broker.DefaultNoticeWait)
	setDefault(&o.PublishBatch, broker.DefaultPublishBatch)
	setDefault(&o.PublishQueue, broker.DefaultPublishQueue)
	setDefault(&o.StateQueue, broker.DefaultStateQueue)
	setDefault(&o.HistorySize, broker.DefaultHistorySize)
	setDefault(&o.HistoryAge, broker.DefaultHistoryAge)
	if o.Sink.Shards > 0 {
		setDefault(&o.Sink.MaxBacklog, sink.DefaultMaxBacklog)
		if o.HistorySize < 0 {
			return o, errors.New("redis broker: the message sink needs a history (it takes what is stored)")
		}
	}
	setDefault(&o.HistoryRoomBytes, broker.DefaultHistoryRoomBytes)
	if o.HistoryRoomBytes < 0 {
		o.HistoryRoomBytes = 0 // (the store script's "none")
	}
	if o.HistoryAge < time.Second {
		return o, fmt.Errorf("redis broker: history age (%v) must be at least a second", o.HistoryAge)
	}
	if o.NodeID == "" {
		o.NodeID = "node-" + randomID()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HeartbeatTTL < 2*o.HeartbeatInterval {
		return o, fmt.Errorf("redis broker: heartbeat TTL (%v) must be at least twice the heartbeat interval (%v)",
			o.HeartbeatTTL, o.HeartbeatInterval)
	}
	return o, nil
}

// clientOptions turns the URL into go-redis options tuned for the broker:
// no hidden retries (a retried PUBLISH could be delivered twice; failures
// are reported to the sender instead), one dial attempt per try (our own
// loops back off), RESP2 like the reference app's ioredis, and context
// deadlines honoured.
func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// randomID returns 10 random base-36 digits, for a node started without an
// id.
func randomID() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	var b [10]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = digits[int(b[i])%len(digits)]
	}
	return string(b[:])
}

func (o Options) clientOptions() (*goredis.Options, error) {
	ro, err := goredis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("redis broker: bad URL: %w", err)
	}
	ro.DialTimeout = o.DialTimeout
	ro.DialerRetries = 1
	ro.ReadTimeout = o.OpTimeout
	ro.WriteTimeout = o.OpTimeout
	ro.ContextTimeoutEnabled = true
	ro.MaxRetries = -1
	ro.Protocol = 2
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if ro.ClientName == "" {
		ro.ClientName = clientName(o.NodeID)
	}
	return ro, nil
}

// clientName names the node's connections (CLIENT LIST shows it), so that
// the other nodes can tell a node whose heartbeat is late from a dead one
// (liveness.go); "" (no name) for a node id Redis refuses as a name.
func clientName(node string) string {
	for i := 0; i < len(node); i++ {
		if node[i] <= ' ' || node[i] > '~' {
			return ""
		}
	}
	return clientNamePrefix + node
}

// clientNamePrefix starts the name of a chatd node's connections.
const clientNamePrefix = "chatd:"
