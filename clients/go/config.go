package chatdclient

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"
)

// Config configures a Client. Only URL and one of Name, Token and GetToken
// are required; every other zero field takes the default named beside it
// (defaults.go).
type Config struct {
	// URL is the server's WebSocket URL, e.g. "ws://localhost:8080/ws" (wss:// for TLS).
	URL string
	// AltURLs are other nodes of the same cluster. After a failed attempt or a drop the client
	// tries the next URL in turn (URL, AltURLs[0], ...). Zero: URL only.
	AltURLs []string

	// Name is the display name sent in hello: 1–64 bytes, no control characters. The server
	// ignores it when a token names the user. Required without a token.
	Name string
	// Token is a JWT sent in hello (README, "Authentication"). Without GetToken the same token
	// is used for every connection; once it has expired the client stops (Err says why).
	// Zero: none, or GetToken's.
	Token string
	// GetToken returns a token for this user. The client calls it before the first hello
	// (unless Token is set), again before the token's exp (RefreshBefore, then sends refresh:
	// the connection stays up), and whenever the server refuses the token (unauthorized, or a
	// close with 4001): then it says hello with the new one. An error is reported as an
	// ErrorEvent or StateEvent and the call is retried with backoff. It runs on the client's
	// goroutines: it may block, within its ctx, but must not call Close. Zero: no refresh.
	GetToken func(ctx context.Context) (string, error)
	// RefreshBefore is how long before a token's exp GetToken is called for the next one (at
	// most a quarter of the token's life). Zero: DefaultRefreshBefore.
	RefreshBefore time.Duration

	// Header is sent with the WebSocket upgrade (e.g. Origin, Cookie). Zero: none.
	Header http.Header
	// TLSConfig is used for wss:// URLs. Zero: Go's defaults.
	TLSConfig *tls.Config
	// NetDialContext dials the TCP connection. Zero: net.Dialer's.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialTimeout bounds one attempt's dial and WebSocket handshake. Zero: DefaultDialTimeout.
	DialTimeout time.Duration

	// RequestTimeout bounds a request whose context has no deadline (and hello). Zero:
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxPending bounds the requests waiting for their reply; a request over it waits for a
	// slot within its context. Zero: DefaultMaxPending.
	MaxPending int
	// MaxMessageBytes: a request larger than this is refused with ErrTooLarge instead of being
	// sent (the server would close the connection). Zero: DefaultMaxMessageBytes.
	MaxMessageBytes int
	// MaxReadBytes bounds one message from the server; a larger one drops the connection.
	// Zero: DefaultMaxReadBytes.
	MaxReadBytes int

	// BackoffMin and BackoffMax bound the exponential reconnect backoff: attempt n waits half to
	// all of min(BackoffMin·2ⁿ, BackoffMax). Zero: DefaultBackoffMin, DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// StableAfter: a connection that lasted this long starts the backoff over when it drops.
	// Zero: DefaultStableAfter.
	StableAfter time.Duration

	// EventBuffer is how many events may wait for the application (see Client.Events). Zero:
	// DefaultEventBuffer.
	EventBuffer int
	// TypingInterval is the typing throttle: Room.Typing sends at most one notice per room per
	// interval, plus one trailing notice for calls in between. Keep it above the server's
	// -typing-interval (300 ms), which drops notices that come sooner. Zero:
	// DefaultTypingInterval.
	TypingInterval time.Duration
}

// withDefaults checks c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, errors.New("chatdclient: Config.URL is required")
	}
	if c.Name == "" && c.Token == "" && c.GetToken == nil {
		return c, errors.New("chatdclient: Config needs a Name, a Token or GetToken")
	}
	setDefault(&c.RefreshBefore, DefaultRefreshBefore)
	setDefault(&c.DialTimeout, DefaultDialTimeout)
	setDefault(&c.RequestTimeout, DefaultRequestTimeout)
	setDefault(&c.MaxPending, DefaultMaxPending)
	setDefault(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	setDefault(&c.MaxReadBytes, DefaultMaxReadBytes)
	setDefault(&c.BackoffMin, DefaultBackoffMin)
	setDefault(&c.BackoffMax, DefaultBackoffMax)
	setDefault(&c.StableAfter, DefaultStableAfter)
	setDefault(&c.EventBuffer, DefaultEventBuffer)
	setDefault(&c.TypingInterval, DefaultTypingInterval)
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	return c, nil
}

func setDefault[T int | time.Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}
