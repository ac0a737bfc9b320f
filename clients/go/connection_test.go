package chatdclient

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	const lo, hi = 500 * time.Millisecond, 15 * time.Second
	for _, tc := range []struct {
		n        int
		r        float64
		min, max time.Duration
	}{
		{0, 0, 250 * time.Millisecond, 250 * time.Millisecond},
		{0, 0.999, 250 * time.Millisecond, 500 * time.Millisecond},
		{1, 0, 500 * time.Millisecond, 500 * time.Millisecond},
		{1, 0.5, 750 * time.Millisecond, 750 * time.Millisecond},
		{4, 0, 4 * time.Second, 4 * time.Second},
		{5, 0.999, 7500 * time.Millisecond, 15 * time.Second},
		{6, 0, 7500 * time.Millisecond, 7500 * time.Millisecond}, // capped
		{1000, 0.999, 7500 * time.Millisecond, 15 * time.Second},
	} {
		d := backoffDelay(tc.n, lo, hi, tc.r)
		if d < tc.min || d > tc.max {
			t.Errorf("backoffDelay(%d, r=%v) = %v, want %v..%v", tc.n, tc.r, d, tc.min, tc.max)
		}
	}
}

// Failed attempts back off exponentially and go through the URLs in turn;
// a connection that drops goes to the next URL.
func TestReconnectBackoffAndURLs(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "ws://" + dead.Addr().String() + "/ws"
	dead.Close() // refuses connections
	fs := startFake(t, true)
	cfg := testConfig(deadURL)
	cfg.AltURLs = []string{deadURL, fs.URL}
	cfg.BackoffMin, cfg.BackoffMax = 20*time.Millisecond, 30*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantState(t, c, StateConnecting)
	for i, want := range [][2]time.Duration{{10 * time.Millisecond, 20 * time.Millisecond}, {15 * time.Millisecond, 30 * time.Millisecond}} {
		ev := wantState(t, c, StateConnecting)
		if ev.URL != deadURL || ev.Err == nil || ev.Delay < want[0] || ev.Delay > want[1] {
			t.Fatalf("attempt %d: %+v, want a failure of %s and a delay in %v", i, ev, deadURL, want)
		}
	}
	if ev := wantState(t, c, StateConnected); ev.URL != fs.URL {
		t.Fatalf("connected to %s", ev.URL)
	}
	fc := fs.next()
	fc.expect(reqHello)
	fc.drop()
	wantState(t, c, StateDisconnected)
	if ev := wantState(t, c, StateReconnecting); ev.URL != deadURL {
		t.Fatalf("next attempt to %s, want the next URL %s", ev.URL, deadURL)
	}
}

// Connect gives up when its context ends, naming the last failure.
func TestConnectContext(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	url := "ws://" + dead.Addr().String() + "/ws"
	dead.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Connect(ctx, testConfig(url))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("connect: %v", err)
	}
	if _, err := Connect(ctx, Config{URL: url}); err == nil || !strings.Contains(err.Error(), "Name") {
		t.Fatalf("connect without a name: %v", err)
	}
}

// A server that does not speak chatd.v2 is refused at once.
func TestNotV2(t *testing.T) {
	fs := startFake(t, true)
	fs.subprotocol = "-"
	_, err := Connect(context.Background(), testConfig(fs.URL))
	if !errors.Is(err, ErrNotV2) {
		t.Fatalf("connect: %v", err)
	}
}

// A refused hello with a static token stops the client: no retry.
func TestUnauthorizedStops(t *testing.T) {
	fs := startFake(t, false)
	errs := make(chan error, 1)
	go func() {
		_, err := Connect(context.Background(), Config{URL: fs.URL, Token: "bad"})
		errs <- err
	}()
	fc := fs.next()
	r := fc.expect(reqHello)
	if r.str("token") != "bad" {
		t.Fatalf("hello %v", r)
	}
	fc.fail(r, CodeUnauthorized, "Invalid token (malformed)")
	if err := <-errs; !IsCode(err, CodeUnauthorized) {
		t.Fatalf("connect: %v", err)
	}
	select {
	case fc := <-fs.conns:
		t.Fatalf("a second connection %d after a fatal refusal", fc.n)
	default:
	}
}

// The application falling EventBuffer events behind drops the connection;
// once it has caught up, the client comes back and recovers from the last
// message it queued (as often as it takes): every message arrives once, in
// order.
func TestEventOverflowRecovers(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, func(cfg *Config) { cfg.EventBuffer = 4 })
	joinFake(t, c, fc, "r", "e1", 0, 0, nil)
	for o := uint64(1); o <= 10; o++ {
		fc.push("r", "e1", o, "m"+itoa(int(o)))
	}
	fc.waitGone() // the client dropped the connection without reading on
	// The server side: each new connection recovers from the since it asks.
	go func() {
		for {
			var fc *fakeConn
			select {
			case fc = <-fs.conns:
			case <-c.done:
				return
			}
			fc.expect(reqHello)
			req := fc.expect(reqJoin)
			since, _ := req.since()
			fc.joinOK(req, "e1", 10, msgs("r", "e1", since.Offset+1, 10), ptr(true))
		}
	}()
	var got []string
	overflows := 0
	for len(got) < 10 {
		switch ev := nextEvent(t, c).(type) {
		case MessageEvent:
			got = append(got, ev.Content)
		case StateEvent:
			if ev.State == StateDisconnected {
				if !errors.Is(ev.Err, ErrEventBufferFull) || ev.Code != CloseNormal {
					t.Fatalf("got %+v", ev)
				}
				overflows++
			}
		case RecoveredEvent:
		default:
			t.Fatalf("got %T %+v", ev, ev)
		}
	}
	if strings.Join(got, ",") != strings.Join(contents(1, 10), ",") {
		t.Fatalf("got %v", got)
	}
	if st := c.Stats(); overflows == 0 || st.Overflows != overflows || st.Duplicates != 0 {
		t.Fatalf("%d overflows seen, stats %+v", overflows, st)
	}
}

// Typing sends one notice at once and one trailing notice for the calls
// within the interval, never more.
func TestTypingThrottle(t *testing.T) {
	fs := startFake(t, true)
	const interval = 100 * time.Millisecond
	c, fc := connectFake(t, fs, func(cfg *Config) { cfg.TypingInterval = interval })
	room := joinFake(t, c, fc, "r", "e1", 0, 0, nil)
	start := time.Now()
	for range 20 {
		if err := room.Typing(); err != nil {
			t.Fatal(err)
		}
	}
	if r := fc.expect(reqTyping); r.str("roomId") != "r" || r["id"] != nil {
		t.Fatalf("got %v", r)
	}
	fc.expect(reqTyping)
	if d := time.Since(start); d < interval {
		t.Fatalf("trailing notice after %v, before the interval %v", d, interval)
	}
	go room.Leave(context.Background())
	fc.expect(reqLeave) // and no third typing notice before it
}

// With GetToken the client refreshes the token before it expires, asks
// again when a refresh is refused, and says hello with a new token after a
// refused one.
func TestTokenRefresh(t *testing.T) {
	fs := startFake(t, false)
	var calls atomic.Int32
	conns := make(chan int, 10) // connections made when GetToken was called
	getToken := func(context.Context) (string, error) {
		n := calls.Add(1)
		fs.mu.Lock()
		conns <- fs.n
		fs.mu.Unlock()
		return jwtWithExp(t, time.Now().Add(2*time.Second), int(n)), nil
	}
	done := make(chan *Client, 1)
	go func() {
		c, err := Connect(context.Background(), Config{URL: fs.URL, GetToken: getToken, BackoffMin: 10 * time.Millisecond})
		if err != nil {
			t.Error(err)
		}
		done <- c
	}()
	fc := fs.next()
	h := fc.expect(reqHello)
	if h.str("token") == "" || calls.Load() != 1 {
		t.Fatalf("hello %v after %d GetToken calls", h, calls.Load())
	}
	fc.fail(h, CodeUnauthorized, "Invalid token (expired)")
	fc.closeWith(ClosePolicy, "unauthorized")
	fc2 := fs.next()
	h2 := fc2.expect(reqHello)
	if calls.Load() != 2 || h2.str("token") == h.str("token") {
		t.Fatalf("second hello after %d GetToken calls (same token: %v)", calls.Load(), h2.str("token") == h.str("token"))
	}
	// The token is got before the dial (the server wants hello within 5 s of the upgrade).
	if a, b := <-conns, <-conns; a != 0 || b != 1 {
		t.Fatalf("GetToken called with %d and %d connections made, want 0 and 1", a, b)
	}
	fc2.ok(h2, map[string]any{"userId": "alice", "name": "Alice", "node": "n"})
	c := <-done
	defer c.Close()
	// The refresh comes before the token expires (at 3/4 of its life, at least 1 s after the
	// last), with a new token.
	r := fc2.expect(reqRefresh)
	if calls.Load() != 3 || r.str("token") == h2.str("token") {
		t.Fatalf("refresh %v after %d calls", r, calls.Load())
	}
	fc2.fail(r, CodeUnauthorized, "Invalid token (bad_signature)")
	r2 := fc2.expect(reqRefresh) // asked again
	if calls.Load() != 4 {
		t.Fatalf("%d GetToken calls", calls.Load())
	}
	fc2.ok(r2, nil)
	fc2.expect(reqRefresh) // and the next one before that token expires
	if st := c.Stats(); st.TokenRefreshes != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTokenExpiry(t *testing.T) {
	exp := time.Unix(1700000000, 0)
	if got := tokenExpiry(jwtWithExp(t, exp, 1)); !got.Equal(exp) {
		t.Fatalf("exp %v, want %v", got, exp)
	}
	for _, bad := range []string{"", "abc", "a.b.c", "a." + b64(`{"exp":"soon"}`) + ".c", "a." + b64(`{}`) + ".c"} {
		if got := tokenExpiry(bad); !got.IsZero() {
			t.Errorf("tokenExpiry(%q) = %v, want zero", bad, got)
		}
	}
	now := time.Now()
	if at := refreshAt(now, now.Add(time.Hour), 30*time.Second); !at.Equal(now.Add(time.Hour - 30*time.Second)) {
		t.Errorf("refresh of a 1 h token at %v", at.Sub(now))
	}
	if at := refreshAt(now, now.Add(4*time.Second), 30*time.Second); !at.Equal(now.Add(3 * time.Second)) {
		t.Errorf("refresh of a 4 s token at %v, want 3s", at.Sub(now))
	}
	if at := refreshAt(now, time.Time{}, 30*time.Second); !at.IsZero() {
		t.Errorf("refresh without exp at %v", at)
	}
}
