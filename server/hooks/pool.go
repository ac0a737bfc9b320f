package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bytedance/sonic"

	"github.com/chatd/chatd/server/internal/backendhttp"
)

// pool makes one hook's calls: a bounded queue, MaxInFlight workers, and
// one keep-alive connection pool to the hook's endpoint. See the package
// doc for why this bounds chatd's memory whatever the backend does.
type pool struct {
	hook    Hook
	url     string
	timeout time.Duration
	policy  Policy
	cfg     *Config
	client  *http.Client
	header  http.Header // the same for every call; never written after newPool
	m       *hookMetrics

	queue  chan *call // capacity MaxQueued
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	closed      bool
	queuedBytes int
	perKey      map[string]int // calls waiting or in flight, by key

	inFlight atomic.Int64
	logged   atomic.Int64 // unix ns of the last failure logged
	quiet    atomic.Int64 // failures not logged since
}

// call is one request to the backend, from submit to finish.
type call struct {
	req      any // encoded by the worker, off the event loops
	key      string
	size     int
	deadline time.Time
	// finish gets the backend's answer, or why there is none (a failure
	// reason). It runs once, on a worker or on the submitting goroutine.
	finish func(a *answer, failure string, err error)
}

// The failure reasons (metric label values).
const (
	failTimeout  = "timeout"  // no answer within the hook's timeout (waiting for a slot included)
	failError    = "error"    // the connection failed (refused, reset, DNS, TLS), or chatd is closing
	failStatus   = "status"   // an answer that is not 2xx (redirects are not followed)
	failInvalid  = "invalid"  // a 2xx answer chatd cannot use (not a JSON object, too long, bad fields)
	failOverload = "overload" // the hook's queue, its bytes or the key's share is full: refused at once
)

// answerAPI decodes answers: strings are checked (UTF-8, no raw control
// characters) and copied (the body buffer is not kept), keys matched
// exactly.
var answerAPI = sonic.Config{CopyString: true, ValidateString: true, CaseSensitive: true}.Froze()

// requestAPI encodes requests (no HTML escaping).
var requestAPI = sonic.Config{NoValidateJSONMarshaler: true}.Froze()

func newPool(h Hook, ep Endpoint, cfg *Config, m *hookMetrics) *pool {
	hdr := backendhttp.Header(cfg.Secret, "chatd-hooks", string(h), cfg.NodeID)
	ctx, cancel := context.WithCancel(context.Background())
	p := &pool{hook: h, url: ep.URL, timeout: ep.Timeout, policy: ep.OnFailure, cfg: cfg, header: hdr, m: m,
		client: backendhttp.Client(cfg.MaxInFlight, ep.Timeout, DefaultIdleConnTime),
		queue:  make(chan *call, cfg.MaxQueued), ctx: ctx, cancel: cancel, perKey: make(map[string]int)}
	p.wg.Add(cfg.MaxInFlight)
	for range cfg.MaxInFlight {
		go p.work()
	}
	return p
}

// submit queues c, or finishes it at once (overload, or closed). It never
// blocks: it runs on the event loops.
func (p *pool) submit(c *call) {
	c.deadline = time.Now().Add(p.timeout)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.finish(nil, failError, errClosed)
		return
	}
	if p.perKey[c.key] >= p.cfg.MaxPerKey || p.queuedBytes+c.size > p.cfg.MaxQueuedBytes {
		p.mu.Unlock()
		c.finish(nil, failOverload, errOverload)
		return
	}
	select {
	case p.queue <- c:
	default:
		p.mu.Unlock()
		c.finish(nil, failOverload, errOverload)
		return
	}
	p.perKey[c.key]++
	p.queuedBytes += c.size
	p.mu.Unlock()
}

var (
	errClosed   = errors.New("hooks closed")
	errOverload = errors.New("too many calls waiting")
)

// work serves calls until the pool closes.
func (p *pool) work() {
	defer p.wg.Done()
	for {
		select {
		case <-p.ctx.Done():
			return
		case c := <-p.queue:
			p.mu.Lock()
			p.queuedBytes -= c.size
			p.mu.Unlock()
			a, failure, err := p.do(c)
			p.done(c)
			c.finish(a, failure, err)
		}
	}
}

// done gives back c's share of its key.
func (p *pool) done(c *call) {
	p.mu.Lock()
	if p.perKey[c.key]--; p.perKey[c.key] <= 0 {
		delete(p.perKey, c.key)
	}
	p.mu.Unlock()
}

// do makes one call: POST the request, read and decode the answer.
func (p *pool) do(c *call) (*answer, string, error) {
	if !time.Now().Before(c.deadline) {
		return nil, failTimeout, errors.New("timed out waiting for a free slot")
	}
	body, err := requestAPI.Marshal(c.req)
	if err != nil {
		return nil, failError, fmt.Errorf("encode request: %w", err)
	}
	ctx, cancel := context.WithDeadline(p.ctx, c.deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, failError, err
	}
	req.Header = p.header
	p.inFlight.Add(1)
	start := time.Now()
	a, failure, err := p.roundTrip(req)
	p.m.duration.Observe(time.Since(start).Seconds())
	p.inFlight.Add(-1)
	if failure != "" && ctx.Err() == context.DeadlineExceeded {
		return nil, failTimeout, fmt.Errorf("no answer within %v", p.timeout)
	}
	return a, failure, err
}

// roundTrip sends req and reads its answer. A connection is kept for the
// next call only when the answer was read to its end.
func (p *pool) roundTrip(req *http.Request) (*answer, string, error) {
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, failError, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	if err != nil {
		return nil, failError, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, failStatus, errors.New("HTTP status " + strconv.Itoa(resp.StatusCode))
	}
	if len(b) > MaxAnswerBytes {
		return nil, failInvalid, fmt.Errorf("answer over %d bytes", MaxAnswerBytes)
	}
	a, err := decodeAnswer(b)
	if err != nil {
		return nil, failInvalid, err
	}
	return a, "", nil
}

// decodeAnswer decodes an answer body: a JSON object, or nothing at all
// (as {}).
func decodeAnswer(b []byte) (*answer, error) {
	b = bytes.TrimSpace(b)
	a := &answer{}
	if len(b) == 0 {
		return a, nil
	}
	if b[0] != '{' {
		return nil, errors.New("answer is not a JSON object")
	}
	if err := answerAPI.Unmarshal(b, a); err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	return a, nil
}

// close stops the workers: calls in flight end now (failError), and calls
// still queued are finished the same way.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	for {
		select {
		case c := <-p.queue:
			p.done(c)
			c.finish(nil, failError, errClosed)
		default:
			p.client.CloseIdleConnections()
			return
		}
	}
}

// stats returns the calls waiting and in flight now.
func (p *pool) stats() (queued, inFlight int) {
	return len(p.queue), int(p.inFlight.Load())
}

// logFailure logs a failed call at warn level: at most one line per hook
// per LogEvery, with the count of the failures not logged since.
func (p *pool) logFailure(reason string, err error) {
	now := time.Now().UnixNano()
	last := p.logged.Load()
	if now-last < int64(LogEvery) || !p.logged.CompareAndSwap(last, now) {
		p.quiet.Add(1)
		return
	}
	p.cfg.Logger.Warn("hook call failed", "hook", string(p.hook), "reason", reason, "err", err,
		"policy", string(p.policy), "failures_not_logged", p.quiet.Swap(0))
}
