// Package redis is the broker of chat nodes that share one Redis (DESIGN
// §4), interoperating with the reference app's nodes on the same Redis:
// same channels, payloads and keys. It moves room events as opaque JSON
// bodies plus a header (the user to exclude, the origin node) and knows no
// chat type: the node's broker.Receiver decodes what arrives, once per node.
//
// Files: broker.go (lifecycle, health), publish.go (pipelined PUBLISH),
// subscribe.go (per-room SUBSCRIBE, delivery), state.go and scripts.go (room
// state in the reference keys, by Lua scripts), liveness.go (heartbeats,
// reaping dead nodes), metrics.go (Prometheus collector), options.go.
package redis
