// Package hooks is the HTTP client side of chatd's hooks: the application's
// backend in the loop. chatd asks the backend (one endpoint per hook, JSON
// over HTTP POST) whether a connection may connect and who its user is
// (connect), whether a user may join a room (join), and whether a message
// may go out, maybe with other content (publish). Each hook is off unless
// its URL is configured. The README's "Hooks and sink" section is the
// contract with backends: the exact bodies, headers, answers, failure
// policies and metrics.
//
// The package knows HTTP, JSON and the failure policies; it knows no
// session, protocol or event loop. The session core (server/chat) calls
// Connect, Join and Publish from an event loop and gets each decision back
// through a callback, on another goroutine; meanwhile the connection waits
// with its later requests queued in order (chat.Session.Await), and the
// loop serves every other connection.
//
// Every call carries the shared secret (Authorization: Bearer <secret>),
// so that the backend can refuse callers that are not chatd. A call fails
// when it gets no answer within its hook's timeout (counted from the moment
// it is made, waiting for a slot included), when the connection fails, on
// an answer that is not 2xx (redirects are not followed), on an answer
// chatd cannot use, or at once when the hook is overloaded (below). A
// failed call decides by its hook's policy: refuse (the default; the
// client is told service_unavailable) or allow (as if the backend had said
// yes with nothing more). A backend's refusal is never turned into a yes,
// whatever its form.
//
// # Memory, whatever the backend does
//
// A backend that is slow, or hangs, must not grow chatd's memory. Each hook
// has its own pool, so a slow join endpoint does not take the publish
// hook's slots, and each pool is bounded three ways:
//
//   - at most MaxInFlight calls at the backend (64): that many worker
//     goroutines, started with the pool, each holding at most one request,
//     its encoded body and an answer of at most MaxAnswerBytes (64 KiB),
//     over at most MaxInFlight keep-alive connections (the transport's
//     MaxConnsPerHost);
//   - at most MaxQueued calls (1024) waiting for a worker, holding at most
//     MaxQueuedBytes (4 MiB) of request strings between them (a call's
//     bytes are its strings plus 64);
//   - at most MaxPerKey calls (16) waiting or in flight for one room (for
//     connect: one client address), so that one busy or slow room cannot
//     take the whole pool: the other rooms keep MaxInFlight - MaxPerKey
//     workers at least.
//
// A call over any bound is not queued: it fails at once (reason overload)
// and its policy decides. So, per hook, what the hooks hold is at most
// MaxQueuedBytes + MaxQueued * (the call's fixed part, a few hundred
// bytes) waiting, plus MaxInFlight * (request + body + 64 KiB answer +
// the connection's buffers, about 8 KiB + a goroutine stack) in flight:
// with the defaults about 4.5 MiB + 64 * ~200 KiB worst case (13 MiB), far
// less for chat-sized messages. Nothing else waits on the backend: the
// connections whose calls wait hold only what they already held (a
// connection has at most one call at a time, since it waits for it, and
// its queued requests are bounded by chat's MaxQueuedRequests, 64), and
// every call ends by its timeout.
package hooks
