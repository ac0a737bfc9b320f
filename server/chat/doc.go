// Package chat is the session core of a chat node: one connection's session
// (identity, the rooms it is in, its limits, the order of its requests) and
// the node's shared state (the local room registry, the cluster broker, the
// shared room list, tokens, metrics), with operations such as join, leave,
// publish, history, presence and typing. It knows no client wire format:
// the protocols are adapters over it (server/v1, the reference app's;
// server/v2, chatd's own), which decode requests, call the operations and
// encode the answers, and the carriers (the WebSocket transport of package
// eventloop; later others) only move their bytes.
//
// It does know the cluster's form of a room event (the reference app's JSON
// object plus header members, see cluster.go): that is the node-to-node
// contract, shared with reference-app nodes on one Redis, not a client
// protocol.
//
// Imports run one way: server -> server/v1, server/v2 -> chat -> (rooms,
// eventloop, server/broker, server/auth, server/hooks). Nothing here
// imports a protocol.
//
// Threading. A session lives on its connection's event loop: every method of
// Session runs there (from a Protocol callback, or from a function the core
// runs with exec). Cluster requests answer on broker goroutines; the core
// brings each answer back to the session's loop before a protocol sees it.
// A session's requests are handled one at a time, in the order they
// arrived: while one waits for the cluster (a join, a history read), later
// ones queue behind it (at most MaxQueuedRequests).
package chat
