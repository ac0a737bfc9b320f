package server

import (
	"errors"
	"fmt"

	"github.com/chatd/chatd/server/sink"
	"github.com/prometheus/client_golang/prometheus"
)

// The node's side of the message sink (package server/sink consumes the
// queue its broker keeps): its configuration and its life with the node.

// sinkQueuer is a broker that keeps a sink queue (both of chatd's do when
// configured for it).
type sinkQueuer interface{ SinkQueue() sink.Queue }

// newSink prepares the sink of cfg (nil when off) over the broker's queue.
func newSink(cfg *Config, reg prometheus.Registerer) (*sink.Sink, error) {
	sc := cfg.Sink
	if !sc.On() {
		return nil, nil
	}
	sq, ok := cfg.Broker.(sinkQueuer)
	var q sink.Queue
	if ok {
		q = sq.SinkQueue()
	}
	if q == nil {
		return nil, errors.New("server: the message sink needs a broker that queues stored messages for it (its sink options)")
	}
	if sc.Secret == "" {
		sc.Secret = cfg.Hooks.Secret
	}
	sc.NodeID, sc.Logger = cfg.NodeID, cfg.Logger
	s, err := sink.New(sc, q, reg)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return s, nil
}
