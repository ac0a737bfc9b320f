package sink

import "time"

// Defaults of the sink. A zero field of Config takes the value here;
// server/defaults.go repeats them by name, so that operators find every
// default of chatd in one table.
const (
	DefaultTimeout       = 10 * time.Second       // a POST without a complete answer within this fails (and is retried)
	DefaultBatchMessages = 500                    // messages per POST at most
	DefaultBatchBytes    = 1 << 20                // bytes of messages per POST at most (a single bigger message goes alone)
	DefaultMinBackoff    = 200 * time.Millisecond // the first retry of a failed POST waits about this
	DefaultMaxBackoff    = 30 * time.Second       // retries wait at most this (the waits double from DefaultMinBackoff, jittered)
	DefaultMaxAge        = 24 * time.Hour         // a message not acknowledged within this is dropped (counted, logged)
	DefaultPoll          = 100 * time.Millisecond // an empty shard is read again after this
	DefaultLeaseTTL      = 15 * time.Second       // a shard's lease lapses this long after its holder's last renewal (a node killed with -9)
	DefaultShards        = 8                      // sink queues on one Redis (and leases on a Redis Cluster); a room's messages go to one
	DefaultMaxBacklog    = 100000                 // messages waiting in one sink queue; more are dropped (counted, logged)
	DefaultMaxMemory     = 256 << 20              // memory broker: bytes of messages waiting for the sink; more are dropped (counted, logged)

	MaxAnswerBytes = 64 << 10         // an answer's body is read up to this (and ignored)
	LogEvery       = 10 * time.Second // one log line per kind of failure per shard per this at most (metrics count every one)
)
