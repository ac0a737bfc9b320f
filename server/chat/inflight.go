package chat

import (
	"context"
	"sync"
)

// inflight counts operations under way (the leaves a drain must see reach
// the broker) and lets a caller wait until none is left, or its context
// ends, with no goroutine that could outlive the wait: a waiter takes the
// channel that the last done closes.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // made by a waiter while n > 0; closed when n reaches 0
}

func (f *inflight) add() {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
}

func (f *inflight) done() {
	f.mu.Lock()
	if f.n--; f.n == 0 && f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
	f.mu.Unlock()
}

// wait returns when no operation is under way, or with ctx's error.
func (f *inflight) wait(ctx context.Context) error {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return nil
	}
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	ch := f.idle
	f.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
