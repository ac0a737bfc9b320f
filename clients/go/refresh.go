package chatdclient

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Token refresh: with Config.GetToken, the client asks for the next token
// before the current one expires and hands it to the server (refresh), so
// the connection outlives its first token. Without it the server closes the
// connection (4001) when the token expires.

// scheduleRefreshLocked arms the refresh of the token s said hello with.
// Caller holds c.mu.
func (c *Client) scheduleRefreshLocked(s *session) {
	if c.cfg.GetToken == nil || c.closed {
		return
	}
	at := refreshAt(c.tokenGot, c.tokenExp, c.cfg.RefreshBefore)
	if at.IsZero() {
		return // no exp: nothing to refresh before
	}
	// A token expired already (or clocks apart) must not make the client spin.
	at = later(at, c.tokenGot.Add(minRefreshInterval))
	c.armRefreshLocked(s, time.Until(at), 0)
}

// armRefreshLocked runs a refresh attempt after d.
func (c *Client) armRefreshLocked(s *session, d time.Duration, attempt int) {
	if c.refresh != nil {
		c.refresh.Stop()
	}
	c.refresh = time.AfterFunc(max(d, 0), func() { c.refreshToken(s, attempt) })
}

// refreshToken gets a new token and sends it; on failure it tries again with
// backoff while the current token lasts (after that the server closes the
// connection with 4001, and the next hello asks GetToken anyway).
func (c *Client) refreshToken(s *session, attempt int) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	tok, err := c.cfg.GetToken(ctx)
	if err == nil && tok == "" {
		err = errors.New("empty token")
	}
	if err == nil {
		_, err = c.doOn(ctx, s, &request{Type: reqRefresh, Token: tok}, func(*session) error {
			if c.sess != s {
				return ErrConnectionLost
			}
			return nil
		}, nil)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.sess != s {
		return
	}
	if err == nil {
		c.token, c.tokenGot, c.tokenExp, c.tokenStale = tok, time.Now(), tokenExpiry(tok), false
		c.stats.TokenRefreshes++
		c.scheduleRefreshLocked(s)
		return
	}
	c.emitErrorLocked("", fmt.Errorf("chatdclient: token refresh: %w", err))
	if IsCode(err, CodeForbidden) {
		return // a token of another user, or a connection without one: retrying gets the same
	}
	// Unauthorized (GetToken gave a refused token), GetToken failed, or no reply: ask again,
	// while the connection lasts (the server closes it with 4001 once the token is past its exp
	// and leeway; the next hello asks GetToken).
	delay := backoffDelay(attempt, c.cfg.BackoffMin, c.cfg.BackoffMax, jitter())
	c.armRefreshLocked(s, delay, attempt+1)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
