package sink

import (
	"fmt"
	"log/slog"
	"net/url"
	"time"
)

// Config configures a node's Sink.
type Config struct {
	// URL is where batches are POSTed (http or https). Empty: no sink.
	URL string
	// Secret is sent with every POST (Authorization: Bearer <Secret>): the
	// hooks' shared secret. Required, at least MinSecretBytes, with a URL.
	Secret string
	// NodeID names the posting node (header X-Chatd-Node, member node).
	NodeID string
	// Timeout bounds one POST. Zero: DefaultTimeout.
	Timeout time.Duration
	// BatchMessages and BatchBytes bound one POST's messages (a single
	// message bigger than BatchBytes goes alone). Zero: DefaultBatchMessages,
	// DefaultBatchBytes.
	BatchMessages, BatchBytes int
	// MinBackoff and MaxBackoff bound the waits between retries. Zero:
	// DefaultMinBackoff, DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// MaxAge drops messages not acknowledged this long after they were
	// stored (counted, logged). Zero: DefaultMaxAge.
	MaxAge time.Duration
	// Poll is how often an empty shard is read again. Zero: DefaultPoll.
	Poll time.Duration
	// LeaseTTL is how long a shard's lease lasts without renewal (renewed
	// every LeaseTTL/3). Zero: DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Logger receives the sink's logs. Zero: slog.Default().
	Logger *slog.Logger
}

// MinSecretBytes is the shortest shared secret accepted (the hooks' bound).
const MinSecretBytes = 16

// On reports whether the sink is configured.
func (c *Config) On() bool { return c.URL != "" }

func (c Config) withDefaults() Config {
	set := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	set(&c.Timeout, DefaultTimeout)
	set(&c.MinBackoff, DefaultMinBackoff)
	set(&c.MaxBackoff, DefaultMaxBackoff)
	set(&c.MaxAge, DefaultMaxAge)
	set(&c.Poll, DefaultPoll)
	set(&c.LeaseTTL, DefaultLeaseTTL)
	if c.BatchMessages == 0 {
		c.BatchMessages = DefaultBatchMessages
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Check validates a configuration (with its defaults filled in).
func (c *Config) Check() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		return fmt.Errorf("sink: URL %q: %w", c.URL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("sink: URL %q: want http:// or https://", c.URL)
	case u.Host == "":
		return fmt.Errorf("sink: URL %q has no host", c.URL)
	case u.User != nil:
		return fmt.Errorf("sink: URL %q carries user information; the shared secret is the credential", c.URL)
	case len(c.Secret) < MinSecretBytes:
		return fmt.Errorf("sink: the shared secret is %d bytes, want at least %d", len(c.Secret), MinSecretBytes)
	case c.Timeout <= 0 || c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff || c.MaxAge <= 0 || c.Poll <= 0:
		return fmt.Errorf("sink: timeout, backoffs, age and poll must be positive (max backoff at least min)")
	case c.BatchMessages < 1 || c.BatchBytes < 1:
		return fmt.Errorf("sink: batch bounds must be at least 1")
	case c.LeaseTTL < 3*c.Poll || c.LeaseTTL <= c.Timeout:
		return fmt.Errorf("sink: lease TTL (%v) must exceed the POST timeout (%v) and 3 polls (%v)", c.LeaseTTL, c.Timeout, c.Poll)
	}
	return nil
}
