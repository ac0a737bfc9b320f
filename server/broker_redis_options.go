package server

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisOptions configures a RedisBroker. Every zero duration or size takes
// the default of the same name in defaults.go.
type RedisOptions struct {
	// URL is the Redis server, redis://[:password@]host:port[/db] (or
	// rediss:// for TLS).
	URL string
	// NodeID names this node in the cluster; it keys the node's heartbeat
	// and member list. Zero: random. A node restarted with the same id
	// takes over (and cleans up) what its previous run left behind.
	NodeID string
	// Logger receives the broker's logs. Zero: slog.Default().
	Logger *slog.Logger
	// FailFast makes Start fail when Redis cannot be reached. Zero: Start
	// succeeds, the node reports itself unhealthy and keeps retrying.
	FailFast bool

	// DialTimeout bounds connecting to Redis. Zero: DefaultRedisDialTimeout.
	DialTimeout time.Duration
	// OpTimeout bounds one cluster request (subscribe confirmation, join,
	// leave, room list, a publish pipeline). Zero: DefaultBrokerTimeout.
	OpTimeout time.Duration
	// MaxBackoff caps the reconnect backoff. Zero: DefaultRedisMaxBackoff.
	MaxBackoff time.Duration
	// SubscribeLinger keeps a room subscribed this long after its last local
	// member left. Zero: DefaultSubscribeLinger.
	SubscribeLinger time.Duration
	// HeartbeatInterval is how often the node refreshes its heartbeat.
	// (It looks for dead nodes every HeartbeatTTL/10, at most this.) Zero:
	// DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// HeartbeatTTL bounds how long a dead node goes unnoticed: a node whose
	// last heartbeat is this old has had its members removed. At least twice
	// HeartbeatInterval. Zero: DefaultHeartbeatTTL.
	HeartbeatTTL time.Duration
	// RoomScanInterval is how often a room list also SCANs for rooms created
	// by reference-app nodes (which do not maintain our index). Zero:
	// DefaultRoomScanInterval.
	RoomScanInterval time.Duration
	// PublishBatch bounds commands per pipeline round trip. Zero:
	// DefaultPublishBatch.
	PublishBatch int
	// PublishQueue bounds publishes waiting for Redis. Zero:
	// DefaultPublishQueue.
	PublishQueue int
	// StateQueue bounds joins and leaves waiting for Redis. Zero:
	// DefaultStateQueue.
	StateQueue int
}

func (o RedisOptions) withDefaults() (RedisOptions, error) {
	if o.URL == "" {
		return o, errors.New("redis broker: no URL")
	}
	setDefault(&o.DialTimeout, DefaultRedisDialTimeout)
	setDefault(&o.OpTimeout, DefaultBrokerTimeout)
	setDefault(&o.MaxBackoff, DefaultRedisMaxBackoff)
	setDefault(&o.SubscribeLinger, DefaultSubscribeLinger)
	setDefault(&o.HeartbeatInterval, DefaultHeartbeatInterval)
	setDefault(&o.HeartbeatTTL, DefaultHeartbeatTTL)
	setDefault(&o.RoomScanInterval, DefaultRoomScanInterval)
	setDefault(&o.PublishBatch, DefaultPublishBatch)
	setDefault(&o.PublishQueue, DefaultPublishQueue)
	setDefault(&o.StateQueue, DefaultStateQueue)
	if o.NodeID == "" {
		o.NodeID = "node-" + newID()
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
func (o RedisOptions) clientOptions() (*redis.Options, error) {
	ro, err := redis.ParseURL(o.URL)
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
	return ro, nil
}
