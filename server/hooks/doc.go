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
// and its policy decides. So what one hook holds is at most
//
//	waiting:   MaxQueuedBytes + MaxQueued * (a call's fixed part, ~300 B)
//	in flight: MaxInFlight * (its JSON body, at most 6 times the request's
//	           strings when every character is one JSON escapes as \u00XX;
//	           an answer of at most MaxAnswerBytes and its decoded copy;
//	           the connection's buffers, ~8 KiB; a goroutine stack)
//
// With the defaults and the largest messages chatd accepts (64 KiB) that
// is about 4.3 MiB + 64 * (384 + 64 + 64 + 16 KiB), some 40 MiB, whatever
// the backend does; with chat-sized messages (a few hundred bytes) well
// under a MiB. The request's own strings are not counted in flight: the
// connection that made the call holds them anyway. Nothing else waits on
// the backend: a connection has at most one call out at a time (it waits
// for it), its queued requests are bounded by the core's
// MaxQueuedRequests (64), and every call ends by its timeout.
package hooks
