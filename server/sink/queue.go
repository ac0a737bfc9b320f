package sink

import (
	"context"
	"errors"
	"time"
)

// Entry is one stored message waiting in a sink queue.
type Entry struct {
	// Queue and ID place the entry in its queue (opaque to the Sink; the
	// Redis broker: a stream key and an entry id).
	Queue string
	ID    string
	// Room, Epoch and Offset are the message's place in its room's
	// history: what the backend de-duplicates on.
	Room   string
	Epoch  string
	Offset uint64
	// At is when it was stored (Unix ms, the broker's clock).
	At int64
	// Payload is the stored history entry: the event's JSON object with
	// the broker's header members (server/broker: excludeUserId, origin,
	// originConn, offset, epoch), which the Sink removes.
	Payload string
}

// Queue is where a broker keeps the stored messages for the sink. Its
// methods are called by one Sink goroutine per shard.
type Queue interface {
	// Shards is the number of shards; each is consumed by one node at a
	// time.
	Shards() int
	// Claim takes or renews this node's lease on the shard for ttl: false
	// when another node holds it.
	Claim(ctx context.Context, shard int, ttl time.Duration) (bool, error)
	// Release gives the lease up, if this node holds it.
	Release(ctx context.Context, shard int)
	// Read returns up to max of the shard's oldest entries, each room's in
	// offset order, and how many wait in the shard in all.
	Read(ctx context.Context, shard, max int) (es []Entry, backlog int64, err error)
	// Ack removes es (a prefix of what Read returned, possibly extended by
	// later entries of the same queues) and every older entry of their
	// queues.
	Ack(ctx context.Context, shard int, es []Entry) error
	// TakeDropped returns the number of messages the shard's queues refused
	// past their bound since the last call, and resets it.
	TakeDropped(ctx context.Context, shard int) (int64, error)
	// Durable reports whether the queue outlives the process (false for
	// Memory: the node flushes it before it stops, and a crash loses it).
	Durable() bool
}

// ErrClosed is returned once the sink or its queue is closed.
var ErrClosed = errors.New("sink closed")
