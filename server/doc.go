// Package server is a chat node: it wires the session core (server/chat)
// to its carriers and its protocols, and serves the HTTP side. The pieces,
// each in its own package, import one way:
//
//	server           the node: configuration and defaults, start and drain,
//	  |              the WebSocket carrier (handler.go: upgrade, origin, tokens
//	  |              in the URL, per-address limits), HTTP endpoints, metrics,
//	  |              the server API's backend, the embedded web client
//	  +-> server/v1  the reference app's protocol, an adapter over the core
//	  +-> server/v2  chatd's own protocol, an adapter over the core
//	        +-> server/chat  the session core: sessions, membership, limits,
//	                         delivery, identity; no client wire format
//	              +-> rooms, eventloop, server/broker, server/auth,
//	                  server/hooks (the application's backend, over HTTP)
//
// It reaches the cluster only through the seam in server/broker (which
// knows no chat type); the brokers themselves (server/broker/memory,
// server/broker/redis) are chosen and wired by cmd/chatd.
//
// Beside them, server/sink (the message sink) consumes the queue of stored
// messages its broker keeps (the broker's SinkQueue) and POSTs it to the
// application's backend; the node starts it and stops it (sink.go).
//
// Data flow. Inbound: the transport hands a whole message to the
// connection's session on its event loop; the session's protocol decodes it
// once and calls the core, in order with the connection's other requests. A
// chat message is published to the room through the broker. Outbound: the
// broker hands each room event to the node once (chat.Node.Receive), which
// decodes it once, has each protocol with local members in the room encode
// it once, and fans each encoding out to those members, one task per event
// loop.
package server
