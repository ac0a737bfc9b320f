package chatdclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// hookFunc runs on the read loop when a request's reply arrives, or when its
// session ends first (see call.hook).
type hookFunc func(s *session, f *inbound, err error, waiting bool)

// idReserve is room left for the id when a request's size is checked.
const idReserve = len(`,"id":`) + 20

// do sends req on the current connection and waits for its reply, within
// ctx (or Config.RequestTimeout if ctx has no deadline). pre runs under c.mu
// once the request has its place on the connection and before it is sent;
// an error from it withdraws the request.
func (c *Client) do(ctx context.Context, req *request, pre func(*session) error, hook hookFunc) (*inbound, error) {
	return c.doOn(ctx, nil, req, pre, hook)
}

// doOn is do on session s (nil: the current one, which must be ready).
func (c *Client) doOn(ctx context.Context, s *session, req *request, pre func(*session) error,
	hook hookFunc) (*inbound, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	if err := c.checkSize(req); err != nil {
		return nil, err
	}
	if s == nil {
		// Refused at once while disconnected, even when every slot is taken (by a hello).
		c.mu.Lock()
		err := c.refusalLocked()
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctxError(ctx, req.Type)
	case <-c.stop:
		return nil, ErrClosed
	}
	cl := &call{typ: req.Type, hook: hook, res: make(chan callResult, 1), slot: true}
	c.mu.Lock()
	var err error
	switch {
	case s == nil:
		if err = c.refusalLocked(); err == nil {
			s = c.sess
		}
	case c.closed:
		err = ErrClosed
	}
	if err != nil {
		c.mu.Unlock()
		<-c.slots
		return nil, err
	}
	id, ok := s.register(cl)
	if !ok {
		c.mu.Unlock()
		<-c.slots
		return nil, ErrDisconnected
	}
	if pre != nil {
		if err := pre(s); err != nil {
			s.take(id)
			c.mu.Unlock()
			<-c.slots
			return nil, err
		}
	}
	c.mu.Unlock()
	req.ID = id
	// A failed write ends the session, which fails cl: the result comes below either way.
	_ = s.write(req)
	select {
	case r := <-cl.res:
		return r.f, r.err
	case <-ctx.Done():
		if cl.state.CompareAndSwap(callWaiting, callAbandoned) {
			return nil, ctxError(ctx, req.Type)
		}
		r := <-cl.res
		return r.f, r.err
	}
}

// sendLocked registers req on s without a caller to wait for it: its hook
// handles the reply. It returns the frame to write, or nil if s has ended.
// If no reply comes within Config.RequestTimeout, an ErrorEvent says so (the
// reply is still handled when it comes). Caller holds c.mu.
func (c *Client) sendLocked(s *session, room string, req *request, hook hookFunc) *request {
	cl := &call{typ: req.Type, hook: hook, res: make(chan callResult, 1)}
	id, ok := s.register(cl)
	if !ok {
		return nil
	}
	r := *req
	r.ID = id
	time.AfterFunc(c.cfg.RequestTimeout, func() {
		if cl.state.Load() == callWaiting && !s.isEnded() {
			c.emitError(room, fmt.Errorf("chatdclient: %s of room %q: %w", req.Type, room, ErrTimeout))
		}
	})
	return &r
}

// refusalLocked is why a request cannot go now, or nil.
func (c *Client) refusalLocked() error {
	switch {
	case c.closed && errors.Is(c.err, ErrClosed):
		return ErrClosed
	case c.closed:
		return fmt.Errorf("%w: %w", ErrClosed, c.err)
	case !c.ready:
		return ErrDisconnected
	}
	return nil
}

// checkSize refuses a request the server would close the connection for.
func (c *Client) checkSize(req *request) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("chatdclient: encode %s: %w", req.Type, err)
	}
	if len(b)+idReserve > c.cfg.MaxMessageBytes {
		return fmt.Errorf("chatdclient: %s of %d bytes: %w (%d)", req.Type, len(b), ErrTooLarge, c.cfg.MaxMessageBytes)
	}
	return nil
}

// ctxError is the error of a request whose context ended first.
func ctxError(ctx context.Context, typ string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("chatdclient: %s: %w (%w)", typ, ErrTimeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("chatdclient: %s: %w", typ, ctx.Err())
}

// finish hands a call its outcome: the hook first (on the read loop), then
// the caller, then its slot back.
func (c *Client) finish(s *session, cl *call, f *inbound, err error) {
	waiting := cl.state.CompareAndSwap(callWaiting, callAnswered)
	if cl.hook != nil {
		cl.hook(s, f, err, waiting)
	}
	cl.res <- callResult{f: f, err: err}
	if cl.slot {
		<-c.slots
	}
}

// handleFrame handles one message from the server, on the read loop.
func (c *Client) handleFrame(s *session, p []byte) {
	var f inbound
	if err := json.Unmarshal(p, &f); err != nil {
		c.emitError("", fmt.Errorf("%w: %v", ErrProtocol, err))
		return
	}
	if len(f.ID) == 0 || string(f.ID) == "null" {
		c.handlePush(s, &f)
		return
	}
	var cl *call
	if id, err := strconv.ParseInt(string(f.ID), 10, 64); err == nil {
		cl = s.take(id)
	}
	if cl == nil {
		c.emitError(f.RoomID, fmt.Errorf("%w: a reply to no request (id %s)", ErrProtocol, f.ID))
		return
	}
	var err error
	switch f.Type {
	case typeOK:
	case typeError:
		err = &ServerError{Request: cl.typ, Code: f.Code, Message: f.Message}
	default:
		err = fmt.Errorf("%w: a %s reply of type %q", ErrProtocol, cl.typ, f.Type)
	}
	c.finish(s, cl, &f, err)
}
