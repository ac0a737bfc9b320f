package hooks

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Hook names one of the hooks: its label in metrics and logs, and the value
// of the X-Chatd-Hook header.
type Hook string

// The hooks.
const (
	HookConnect Hook = "connect"
	HookJoin    Hook = "join"
	HookPublish Hook = "publish"
)

// Policy is what a failed call decides: a timeout, a transport error, an
// answer that is not 2xx, an answer chatd cannot use, or a call refused at
// once because the hook's queue is full (overload).
type Policy string

// The failure policies.
const (
	Refuse Policy = "refuse" // the request is refused (service_unavailable): the safe default
	Allow  Policy = "allow"  // the request goes on as if the hook had said yes with nothing more
)

// Endpoint configures one hook.
type Endpoint struct {
	// URL is where chatd POSTs the hook's calls (http or https). Empty:
	// the hook is off.
	URL string
	// Timeout bounds one call, from the moment it is made (time waiting
	// for a free slot included). Zero: the hook's default
	// (DefaultConnectTimeout, ...).
	Timeout time.Duration
	// OnFailure is the failure policy. Zero: DefaultOnFailure (refuse).
	OnFailure Policy
}

// Limits bound what a backend's answer may say, as the same values bound
// tokens' claims. Zero: no bound (server.New fills them from its limits).
type Limits struct {
	UserIDBytes int // a user id (token: sub)
	NameBytes   int // a display name
	RoomIDBytes int // a room id (before a pattern's *)
	Rooms       int // entries of a rooms list
}

// Config configures the hooks. Every bound is per hook: a slow join
// backend does not take the slots of the publish hook.
type Config struct {
	// Connect, Join, Publish are the hooks' endpoints. A hook whose URL is
	// empty is off; with every URL empty there are no hooks at all.
	Connect, Join, Publish Endpoint
	// Secret is sent with every call (Authorization: Bearer <Secret>), so
	// that the backend can tell chatd from anyone else. Required, at least
	// MinSecretBytes, when a hook is on.
	Secret string
	// ConnectHeaders names the request headers of the WebSocket upgrade
	// (e.g. Cookie) that the connect hook forwards, at most
	// MaxConnectHeaders. Zero: none.
	ConnectHeaders []string
	// MaxInFlight bounds the calls of one hook at the backend at once.
	// Zero: DefaultMaxInFlight.
	MaxInFlight int
	// MaxQueued and MaxQueuedBytes bound the calls of one hook waiting for
	// a slot, by count and by the bytes of their requests. Zero:
	// DefaultMaxQueued, DefaultMaxQueuedBytes.
	MaxQueued, MaxQueuedBytes int
	// MaxPerKey bounds the calls of one hook waiting or in flight for one
	// room (connect: one client address), so that one busy or slow room
	// cannot take every slot. Zero: DefaultMaxPerKey.
	MaxPerKey int
	// Limits bound the answers. Zero fields: no bound.
	Limits Limits
	// NodeID names the calling node (header X-Chatd-Node). Zero: none.
	NodeID string
	// Logger receives the failures (at most one line per hook per
	// logEvery). Zero: slog.Default().
	Logger *slog.Logger
}

// On reports whether any hook is configured.
func (c *Config) On() bool {
	return c.Connect.URL != "" || c.Join.URL != "" || c.Publish.URL != ""
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	set := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	set(&c.MaxInFlight, DefaultMaxInFlight)
	set(&c.MaxQueued, DefaultMaxQueued)
	set(&c.MaxQueuedBytes, DefaultMaxQueuedBytes)
	set(&c.MaxPerKey, DefaultMaxPerKey)
	for _, e := range []struct {
		ep *Endpoint
		d  time.Duration
	}{{&c.Connect, DefaultConnectTimeout}, {&c.Join, DefaultJoinTimeout}, {&c.Publish, DefaultPublishTimeout}} {
		if e.ep.Timeout == 0 {
			e.ep.Timeout = e.d
		}
		if e.ep.OnFailure == "" {
			e.ep.OnFailure = DefaultOnFailure
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// check validates a configuration with defaults.
func (c *Config) check() error {
	for _, e := range []struct {
		h  Hook
		ep *Endpoint
	}{{HookConnect, &c.Connect}, {HookJoin, &c.Join}, {HookPublish, &c.Publish}} {
		if e.ep.URL == "" {
			continue
		}
		if err := CheckURL(e.ep.URL); err != nil {
			return fmt.Errorf("hooks: %s: %w", e.h, err)
		}
		if e.ep.Timeout < 0 {
			return fmt.Errorf("hooks: %s: negative timeout", e.h)
		}
		if e.ep.OnFailure != Refuse && e.ep.OnFailure != Allow {
			return fmt.Errorf("hooks: %s: failure policy %q: want refuse or allow", e.h, e.ep.OnFailure)
		}
	}
	if !c.On() {
		return nil
	}
	switch {
	case len(c.Secret) < MinSecretBytes:
		return fmt.Errorf("hooks: the shared secret is %d bytes, want at least %d", len(c.Secret), MinSecretBytes)
	case len(c.ConnectHeaders) > MaxConnectHeaders:
		return fmt.Errorf("hooks: %d connect headers, at most %d", len(c.ConnectHeaders), MaxConnectHeaders)
	case c.MaxInFlight < 1 || c.MaxQueued < 0 || c.MaxQueuedBytes < 0 || c.MaxPerKey < 1:
		return fmt.Errorf("hooks: bounds must be positive (in flight %d, queued %d, queued bytes %d, per key %d)",
			c.MaxInFlight, c.MaxQueued, c.MaxQueuedBytes, c.MaxPerKey)
	}
	for _, h := range c.ConnectHeaders {
		if !validHeaderName(h) {
			return fmt.Errorf("hooks: connect header %q is not a header name", h)
		}
	}
	return nil
}

// CheckURL checks a hook's endpoint: an absolute http or https URL with a
// host, without user information (the shared secret is the credential).
func CheckURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("URL %q: %w", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("URL %q: want http:// or https://", s)
	case u.Host == "":
		return fmt.Errorf("URL %q has no host", s)
	case u.User != nil:
		return fmt.Errorf("URL %q carries user information; the shared secret is the credential", s)
	}
	return nil
}

// canonicalHeaders returns the header names in canonical form, without
// duplicates.
func canonicalHeaders(names []string) []string {
	var out []string
	for _, n := range names {
		n = http.CanonicalHeaderKey(strings.TrimSpace(n))
		dup := false
		for _, o := range out {
			dup = dup || o == n
		}
		if !dup {
			out = append(out, n)
		}
	}
	return out
}

// validHeaderName reports whether s is an HTTP header name (RFC 9110
// token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
