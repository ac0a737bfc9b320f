package broker

import "time"

// Cluster defaults. A zero field in a broker's options takes the value here;
// server/defaults.go lists these beside the chat's defaults by name, so
// that operators find every default in one table.
const (
	DefaultOpTimeout         = 5 * time.Second  // a cluster request (subscribe, join, leave, room list, a publish batch) fails after this
	DefaultSubscribeLinger   = 30 * time.Second // keep a room subscribed this long after its last local member left
	DefaultHeartbeatInterval = 5 * time.Second  // node heartbeat refresh period
	DefaultHeartbeatTTL      = 15 * time.Second // a node whose heartbeat is this old is dead; its members are removed
	DefaultDialTimeout       = 2 * time.Second  // connecting to the cluster's store
	DefaultMaxBackoff        = 5 * time.Second  // reconnect backoff cap
	DefaultPublishBatch      = 256              // commands per pipelined round trip at most
	DefaultPublishQueue      = 65536            // publishes waiting for the store; more fail with ErrUnavailable
	DefaultStateQueue        = 65536            // joins/leaves waiting for the store; more fail with ErrUnavailable
	DefaultRoomScanInterval  = 10 * time.Second // room lists also SCAN for reference-app rooms at most this often
	DefaultNoticeWait        = time.Second      // Redis: a join its script announced waits this long for the announcement to pass its node, then completes without that place
	DefaultHistorySize       = 100              // stored messages per room (the newest)
	DefaultHistoryAge        = 24 * time.Hour   // stored messages older than this are gone; an idle room's history expires after it
	DefaultHistoryMaxBytes   = 256 << 20        // memory broker: bytes of history per node; past it the least recently written rooms lose theirs
	DefaultHistoryRoomBytes  = 128 << 10        // bytes of stored messages per room (both brokers); past it the oldest go

	DefaultHistorySampleKeys     = 200              // Redis: random keys per master in one chatd_history_bytes sample
	DefaultHistorySampleInterval = 30 * time.Second // Redis: a scrape starts a new chatd_history_bytes sample at most this often
)
