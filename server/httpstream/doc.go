// Package httpstream is chatd's HTTP streaming carrier: protocol v2 over
// plain HTTP, for clients whose network breaks WebSockets (proxies that
// strip Upgrade, TLS inspection, old balancers). docs/protocol-v2.md
// ("Over HTTP") is its reference.
//
// Server to client, a long-lived GET answered with Server-Sent Events: one
// v2 JSON object per event, numbered (the SSE id) for a resume. Client to
// server, POSTs of a batch of v2 requests naming the session (an
// unguessable id) and a sequence number. The session is the v2 session of
// a WebSocket client: the same adapter (server/v2) over another framing
// (SSE), a member class of its own in the room registry, on the same event
// loops (the stream is an eventloop event stream: no goroutine per
// connection, bounded like a WebSocket).
//
// Behind a balancer without sticky sessions a POST may reach another node
// than the one holding its session: that node relays it through the cluster
// broker to the holder's inbox (a node channel, server/chat/channels.go)
// and relays the answer back. Sequence numbers make the POSTs of a session
// apply in order and each once, whichever node they reach and however often
// they are retried.
//
// The pieces, one file each: carrier.go (the routes, admission), open.go
// (a stream opened or resumed), post.go (a POST applied on the session's
// loop), relay.go (POSTs and answers between nodes), registry.go (session
// ids and the sessions of this node), events.go (the SSE framing and the
// carrier's own events and answers), metrics.go.
//
// Imports: server -> httpstream -> (server/chat, eventloop). It knows no v2
// message: requests reach the session as bytes, as a WebSocket's frames do.
package httpstream
