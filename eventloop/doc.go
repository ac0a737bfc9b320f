// Package eventloop is chatd's WebSocket transport (and its HTTP streaming
// fallback): a gnet v2 reactor with a few event loops and no goroutine per
// connection.
//
// It owns everything between the socket and a complete WebSocket message: the
// HTTP/1.1 upgrade handshake parsed incrementally from the connection's
// inbound buffer, RFC 6455 framing (fragments, control frames, the close
// handshake, UTF-8 checks), the limits that keep one peer from hurting the
// others (message size, header size, handshake time, outbound bytes), ping and
// idle timers, and a fan-out primitive that writes one pre-encoded frame to
// many connections with one task per event loop.
//
// Limits that protect the node as a whole, beside those per connection:
//   - Handshakes in progress per peer address (Config.MaxPendingPerIP) are
//     bounded only under handshake pressure, once Config.PendingPressure
//     handshakes are in progress node-wide: an idle node takes a load
//     test's or a NAT's burst of thousands from one address, while a
//     slow-handshake flood from one address holds at most the threshold
//     and other addresses still get in (pending.go argues the numbers).
//   - Queued outbound bytes of all connections together
//     (Config.MaxNodeOutboundBytes): past the budget the largest queues are
//     closed first, 4008, whichever loop holds them (budget.go).
//   - Conn.SetDeadline closes a connection at a deadline nothing extends,
//     not even pongs: the server requires a session to establish itself
//     in time with it (deadline.go).
//
// Event streams (stream.go) carry the same traffic over plain HTTP for
// clients whose network breaks WebSockets: a GET answered with Server-Sent
// Events, on the same loops, bounded the same way (outbound bytes, the
// node's budget, deadlines, MaxConns), with numbered events, keepalive
// comments, and a resume of a stream whose TCP connection went away onto a
// new one (stream_resume.go).
//
// It knows nothing about chat: the server above it implements [Handler] and
// receives whole messages; it writes frames built with [AppendFrame] or
// [TextFrame].
//
// Threading model. Every connection belongs to one event loop. Handler
// callbacks run on that loop, one at a time per loop. Methods documented as
// "loop only" must be called on the connection's loop (from a callback, or
// from a function passed to [Conn.Exec]); everything else is safe from any
// goroutine. Frames written on a loop are queued and flushed at the end of the
// callback or task, so several frames for one connection leave in one write
// system call.
package eventloop
