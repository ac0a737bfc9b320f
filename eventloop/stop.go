package eventloop

import (
	"context"
	"sync"
	"time"
)

// Shutdown stops the engine gracefully: new connections are refused, every
// WebSocket gets a 1001 close frame, half-open handshakes are dropped, and it
// returns once all connections are gone or ctx expires; then the listener
// and loops stop. It is safe to call more than once.
func (e *Engine) Shutdown(ctx context.Context) error { return e.Drain(ctx, 0) }

// StopAccepting makes the engine refuse new work: new TCP connections are
// closed at once and upgrades still in their handshake get 503. Open
// WebSockets are untouched.
func (e *Engine) StopAccepting() { e.draining.Store(true) }

// drainSteps bounds how many batches Drain closes connections in.
const drainSteps = 50

// Drain is Shutdown with the closes spread evenly over window, so that the
// clients of a draining node do not all reconnect elsewhere in the same
// instant. It returns when every connection is gone (or ctx ends), after
// stopping the engine.
func (e *Engine) Drain(ctx context.Context, window time.Duration) error {
	e.StopAccepting()
	if e.stopped.Load() {
		return nil
	}
	steps := 1
	if window > 0 {
		steps = int(min(max(window/(20*time.Millisecond), 1), drainSteps))
	}
	pause := window / time.Duration(steps)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for step := 0; step < steps; step++ {
		left := steps - step
		for _, l := range e.loops {
			if l.bound.Load() {
				l.post(task{fn: func() { l.closeBatch(left) }})
			}
		}
		if step < steps-1 && e.tcpConns() > 0 {
			timer.Reset(pause)
			select {
			case <-ctx.Done():
				return e.stop()
			case <-timer.C:
			}
		}
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for e.Stats().Conns > 0 {
		select {
		case <-ctx.Done():
			return e.stop()
		case <-tick.C:
		}
	}
	return e.stop()
}

// closeBatch closes 1/left of the loop's open WebSockets (rounded up) with
// 1001 and drops every half-open handshake.
func (l *loop) closeBatch(left int) {
	open := 0
	for _, c := range l.conns {
		if c.state == stateOpen {
			open++
		}
	}
	n := (open + left - 1) / left
	for _, c := range l.conns {
		switch {
		case c.state == stateOpen && n > 0:
			c.Close(CloseGoingAway, "server shutting down")
			n--
		case c.state == stateHandshake:
			c.abort()
		}
	}
}

// EachConn runs fn for every open WebSocket, on the connection's loop, and
// returns once every loop has run it (or ctx ends). fn may write to the
// connection and change the handler's state, but must not close it.
func (e *Engine) EachConn(ctx context.Context, fn func(*Conn)) error {
	if e.stopped.Load() {
		return nil
	}
	var wg sync.WaitGroup
	for _, l := range e.loops {
		if !l.bound.Load() {
			continue
		}
		wg.Add(1)
		if !l.post(task{fn: func() {
			defer wg.Done()
			for _, c := range l.conns {
				if c.state == stateOpen {
					fn(c)
				}
			}
		}}) {
			wg.Done()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop stops gnet once and waits for it to return.
func (e *Engine) stop() error {
	var err error
	e.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// gnet's Stop polls for the end every 500 ms; gnet.Run returns as
		// soon as the loops are down, so wait for whichever comes first.
		stopped := make(chan error, 1)
		go func() { stopped <- e.geng.Stop(ctx) }()
		select {
		case err = <-e.done:
		case err = <-stopped:
			<-e.done
		}
		e.stopped.Store(true)
	})
	return err
}
