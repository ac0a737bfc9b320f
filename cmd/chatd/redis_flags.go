package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/memory"
	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/sink"
	"github.com/redis/go-redis/v9"
)

// redisFlags are the cluster-mode flags. With no Redis configured the node
// runs alone on the embedded broker.
type redisFlags struct {
	url               string
	cluster           string
	failFast          bool
	heartbeatInterval time.Duration
	heartbeatTTL      time.Duration
	subscribeLinger   time.Duration
	historySize       int
	historyAge        time.Duration
	historyMaxBytes   int
	historyRoomBytes  int
}

func addRedisFlags(fs *flag.FlagSet) *redisFlags {
	r := &redisFlags{}
	fs.StringVar(&r.url, "redis", "", "Redis URL for cluster mode, e.g. redis://127.0.0.1:6379 (env REDIS_URL, or the reference app's REDIS_HOST, REDIS_PORT, REDIS_PASSWORD); empty: one node, no Redis")
	fs.StringVar(&r.cluster, "redis-cluster", "", "Redis Cluster (Redis >= 7) instead of one Redis: some of its nodes, host:port,host:port (or redis://[:password@]host:port?addr=host:port&addr=..., rediss:// for TLS); keys and channels get hash tags, so reference-app nodes cannot join")
	fs.BoolVar(&r.failFast, "redis-fail-fast", false, "exit at start-up if Redis cannot be reached (default: start anyway, report not ready and keep retrying)")
	fs.DurationVar(&r.heartbeatInterval, "heartbeat-interval", server.DefaultHeartbeatInterval, "cluster mode: heartbeat refresh and dead-node check period")
	fs.DurationVar(&r.heartbeatTTL, "heartbeat-ttl", server.DefaultHeartbeatTTL, "cluster mode: a crashed node's members are removed at most this long after its last heartbeat (at least twice -heartbeat-interval)")
	fs.DurationVar(&r.subscribeLinger, "subscribe-linger", server.DefaultSubscribeLinger, "cluster mode: keep a room subscribed this long after its last local member left")
	fs.IntVar(&r.historySize, "history-size", server.DefaultHistorySize, "stored messages kept per room (the newest); -1: no history (nothing stored, no recovery)")
	fs.DurationVar(&r.historyAge, "history-age", server.DefaultHistoryAge, "stored messages older than this are gone; an idle room's history expires after it")
	fs.IntVar(&r.historyMaxBytes, "history-max-bytes", server.DefaultHistoryMaxBytes, "without Redis: bytes of history per node; past it the least recently written rooms lose theirs")
	fs.IntVar(&r.historyRoomBytes, "history-room-bytes", server.DefaultHistoryRoomBytes, "bytes of stored messages per room (payloads plus 14 each); past it the oldest go, and a larger message is delivered but not kept; -1: no byte bound")
	return r
}

// resolve fills in the URL from the environment when neither -redis nor
// -redis-cluster (nor CHATD_REDIS, CHATD_REDIS_CLUSTER) was given:
// REDIS_URL, else REDIS_HOST / REDIS_PORT / REDIS_PASSWORD as the reference
// app reads them (any of them set enables cluster mode; host defaults to
// localhost, port to 6379).
func (r *redisFlags) resolve(getenv func(string) string) error {
	if r.url != "" && r.cluster != "" {
		return fmt.Errorf("-redis and -redis-cluster are exclusive: one Redis, or a Redis Cluster")
	}
	if r.url == "" && r.cluster == "" {
		r.url = getenv("REDIS_URL")
	}
	if r.url == "" && r.cluster == "" {
		host, port, pass := getenv("REDIS_HOST"), getenv("REDIS_PORT"), getenv("REDIS_PASSWORD")
		if host != "" || port != "" || pass != "" {
			if host == "" {
				host = "localhost"
			}
			if port == "" {
				port = "6379"
			}
			if _, err := strconv.ParseUint(port, 10, 16); err != nil {
				return fmt.Errorf("REDIS_PORT=%q is not a port number", port)
			}
			u := url.URL{Scheme: "redis", Host: net.JoinHostPort(host, port)}
			if pass != "" {
				u.User = url.UserPassword("", pass)
			}
			r.url = u.String()
		}
	}
	switch {
	case r.historySize < -1 || r.historySize == 0:
		return fmt.Errorf("-history-size must be at least 1, or -1 for no history")
	case r.historyAge < time.Second:
		return fmt.Errorf("-history-age must be at least 1s")
	case r.historyMaxBytes < 1<<20:
		return fmt.Errorf("-history-max-bytes must be at least 1 MiB")
	case r.historyRoomBytes < -1 || r.historyRoomBytes >= 0 && r.historyRoomBytes < 1024:
		return fmt.Errorf("-history-room-bytes must be at least 1024, or -1 for no byte bound")
	}
	switch {
	case r.cluster != "":
		if err := redisbroker.CheckCluster(r.cluster); err != nil {
			return fmt.Errorf("-redis-cluster %q: %w", redactURL(r.cluster), err)
		}
	case r.url == "":
		return nil
	default:
		if _, err := redis.ParseURL(r.url); err != nil {
			return fmt.Errorf("-redis %q: %w", redactURL(r.url), err)
		}
	}
	if r.heartbeatTTL < 2*r.heartbeatInterval {
		return fmt.Errorf("-heartbeat-ttl (%v) must be at least twice -heartbeat-interval (%v)", r.heartbeatTTL, r.heartbeatInterval)
	}
	return nil
}

// broker returns the node's broker: the Redis broker for cfg (setting
// cfg.NodeID if it was empty, so that logs and the cluster agree), or the
// in-process memory broker without Redis.
func (r *redisFlags) broker(cfg *server.Config, sf *sinkFlags, log *slog.Logger) (broker.Broker, error) {
	if r.url == "" && r.cluster == "" {
		o := memory.Options{HistorySize: r.historySize, HistoryAge: r.historyAge,
			HistoryMaxBytes: r.historyMaxBytes, HistoryRoomBytes: r.historyRoomBytes}
		if cfg.Sink.On() {
			o.Sink = sink.NewMemory(sf.maxBacklog, sf.maxMemory)
		}
		return memory.New(o), nil
	}
	var so redisbroker.SinkOptions
	if cfg.Sink.On() {
		so = redisbroker.SinkOptions{Shards: sf.shards, MaxBacklog: sf.maxBacklog}
	}
	redis.SetLogger(redisLogger{log})
	b, err := redisbroker.New(redisbroker.Options{
		URL:               r.url,
		Cluster:           r.cluster,
		NodeID:            cfg.NodeID,
		Logger:            log,
		FailFast:          r.failFast,
		OpTimeout:         cfg.BrokerTimeout,
		HeartbeatInterval: r.heartbeatInterval,
		HeartbeatTTL:      r.heartbeatTTL,
		SubscribeLinger:   r.subscribeLinger,
		HistorySize:       r.historySize,
		HistoryAge:        r.historyAge,
		HistoryRoomBytes:  r.historyRoomBytes,
		Sink:              so,
	})
	if err != nil {
		return nil, err
	}
	cfg.NodeID = b.NodeID()
	if r.cluster != "" {
		log.Info("cluster mode on Redis Cluster", "seeds", redactURL(r.cluster), "node", b.NodeID())
	} else {
		log.Info("cluster mode", "redis", redactURL(r.url), "node", b.NodeID())
	}
	return b, nil
}

// redactURL hides a password in a Redis URL (a host:port list has none).
func redactURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// redisLogger routes go-redis's own messages (dial failures, one per
// attempt during an outage) to debug level: the broker logs outages once.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "go-redis")
}
