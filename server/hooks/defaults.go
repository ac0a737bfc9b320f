package hooks

import "time"

// Defaults of the hooks. A zero field of Config takes the value here;
// server/defaults.go repeats them by name, so that operators find every
// default of chatd in one table.
const (
	DefaultConnectTimeout = 3 * time.Second  // a connect call fails after this (the client has its WebSocket and waits for its greeting)
	DefaultJoinTimeout    = 2 * time.Second  // a join call fails after this
	DefaultPublishTimeout = time.Second      // a publish call fails after this: it adds to every message's latency
	DefaultOnFailure      = Refuse           // what a failed call (timeout, error, non-2xx, bad answer, overload) decides
	DefaultMaxInFlight    = 64               // calls of one hook at the backend at once; also its keep-alive pool's connections
	DefaultMaxQueued      = 1024             // calls of one hook waiting for a free slot; more fail at once (overload)
	DefaultMaxQueuedBytes = 4 << 20          // bytes of the requests of one hook waiting; more fail at once (overload)
	DefaultMaxPerKey      = 16               // calls of one hook waiting or in flight for one room (connect: one client address); more fail at once
	DefaultIdleConnTime   = 90 * time.Second // an idle keep-alive connection to the backend is closed after this
	LogEvery              = 10 * time.Second // one "hook call failed" log line per hook per this at most (the metrics count every failure)

	MinSecretBytes    = 16       // a shorter shared secret is refused at start: it could be guessed
	MaxAnswerBytes    = 64 << 10 // a longer answer body is a failure (invalid)
	MaxConnectHeaders = 16       // request headers the connect hook may forward
	MaxRefusalBytes   = 256      // a refusal's message is cut to this many bytes (at a character boundary)
	MaxCodeBytes      = 64       // a refusal's code longer than this (or with other characters than a-z, A-Z, 0-9, _ - .) becomes "forbidden"
)
