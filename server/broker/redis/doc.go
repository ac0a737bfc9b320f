// Package redis is the broker of chat nodes that share one Redis
// (docs/cluster.md), interoperating with the reference app's nodes on the same Redis:
// same channels, payloads and keys; or that share a Redis Cluster (Redis >=
// 7: hash-tagged keys, sharded Pub/Sub, failover; no reference nodes). It
// moves room events as opaque JSON bodies plus a header (the user to
// exclude, the origin node) and knows no chat type: the node's
// broker.Receiver decodes what arrives, once per node.
//
// Files: broker.go (lifecycle, health), keys.go and slot.go (the key and
// channel names of each mode, hash slots), exec.go (writes sent exactly
// once: one pipeline, or one per master with redirections followed),
// cluster.go (cluster clients, the slot map), publish.go and lanes.go
// (pipelined PUBLISH/SPUBLISH and the store script; a publisher per master),
// subscribe.go and links.go (per-room SUBSCRIBE/SSUBSCRIBE on one subscriber
// connection, or one per master; confirmations, generations), flow.go
// (per-room delivery order, gap filling), history.go (stored messages),
// state.go and scripts.go (room state by Lua scripts), rooms.go (the room
// list), members.go (presence), liveness.go and reap.go (heartbeats,
// reaping dead nodes), metrics.go (Prometheus collector), options.go.
package redis
