package eventloop

import (
	"context"
	"time"
)

// Shutdown stops the engine gracefully: new connections are refused, every
// WebSocket gets a 1001 close frame, half-open handshakes are dropped, and it
// returns once all connections are gone or ctx expires; then the listener
// and loops stop. It is safe to call more than once.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.draining.Store(true)
	for _, l := range e.loops {
		if !l.bound.Load() {
			continue
		}
		l.post(task{fn: func() {
			for _, c := range l.conns {
				switch c.state {
				case stateOpen:
					c.Close(CloseGoingAway, "server shutting down")
				case stateHandshake:
					c.abort()
				}
			}
		}})
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
	})
	return err
}
