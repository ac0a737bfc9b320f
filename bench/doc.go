// Package bench is chatd's load generator: a client of the wire protocol (the README's protocol v1 and v2)
// that can hold tens of thousands of WebSocket connections per process and judge a chat server by
// exact accounting.
//
// Where it sits: bench imports nothing of the server (server/, rooms/, eventloop/); it dials the
// server over TCP like any other client, so it measures any wire-compatible implementation, including
// the reference Node app. cmd/chatbench is its command line.
//
// How it is cut:
//   - loop.go, conn.go, dial.go, session.go: a small epoll client event loop (a few goroutines, no
//     goroutine per connection), non-blocking sockets, the per-connection protocol state machine;
//     session_v2.go the same for protocol v2 (hello, joins, publishes with ids, their replies).
//   - wsframe.go, handshake.go, wire.go, wire_v2.go: RFC 6455 client framing (always masked), the
//     HTTP upgrade (with the chatd.v2 subprotocol), an allocation-free scan of the server's JSON
//     messages and of our message content, the v2 requests and the ids that tie replies to them.
//   - offsets.go: v2 with history: each member's ledger of its rooms' offsets.
//   - recovery.go: the recovery workload's outages (away, reconnect, re-join with since).
//   - track.go, hist.go: the accounting core: per receiver and sender, exact counts of delivered,
//     duplicated and out-of-order messages; a log-bucketed latency histogram that merges exactly.
//   - config.go, layout.go: workloads (presets), who is in which room and on which URL, and the
//     deterministic send schedule every process agrees on.
//   - runner.go, coord.go, multiproc.go, churn.go: the phases of a run (connect+join, settle, send,
//     drain, close) and their synchronization across the child processes of -procs.
//   - result.go, result_v2.go, report.go, procstat.go: raw per-process results, merging, derived figures, the
//     human summary and JSON line, and server/self CPU and memory from /proc and getrusage.
//
// The accounting contract: every message content is "b:<sender>:<seq>:<unixNanos>:<flag><padding>".
// A receiver knows the global layout, so from the sender index it knows the sender's room and
// position, tracks per sender the next sequence number and the holes below it, and classifies
// each arrival as fresh, late (out of order) or duplicate. The last planned message of each sender
// carries the flag 'L', so a receiver knows when everything it will ever get has arrived; the drain
// wait ends there (or at -drain), and whatever is missing then is lost. A v2 member of K rooms
// publishes round-robin over them; receivers account per (room, sender) stream the same way, and
// 'L' marks a sender's last message to each room.
package bench
