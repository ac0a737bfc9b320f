// Package sink delivers every stored message to the application's backend,
// durably: the message sink of the README's "Hooks and sink".
//
// A broker appends each stored message to a sink queue in the same step
// that stores it (the Redis broker's store script, the memory broker's
// store under its lock): so a message is in the history only if it is in a
// queue too, whatever crashes. A queue is split into shards; a message
// goes to the shard of its room, so a room's messages are in one shard, in
// offset order. This package consumes the shards: one Sink per node, one
// goroutine per shard, each working only while its node holds the shard's
// lease (Queue.Claim; the Redis broker's leases expire, so the shards of a
// node killed with -9 are taken over by the others). A worker reads the
// oldest entries of its shard, POSTs them as one batch, and removes them
// (Queue.Ack) only after a 2xx: a node that dies in between leaves them for
// the next holder, which POSTs them again. Delivery is therefore at least
// once, in offset order per room; every message carries (roomId, epoch,
// offset), which the backend de-duplicates on.
//
// Failures are retried with exponential backoff (capped, jittered); the
// batch is read again before each attempt, so a retry may carry more
// entries than the failed one, never fewer from its start. Entries older
// than MaxAge are removed without being posted, and counted; a queue past
// its bound refuses new entries (the broker counts them; TakeDropped hands
// the count to the node that holds the shard, which adds it to its metric
// and logs it). Nothing is dropped silently.
//
// The package knows HTTP, JSON and the queue contract; it knows no broker.
// Brokers implement Queue (server/broker/redis; Memory here for the
// memory broker).
package sink
