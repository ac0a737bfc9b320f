package server

import "sync/atomic"

// metrics are the chat-level counters. (Prometheus export comes with the
// operations work; the counters are kept here from the start.)
type metrics struct {
	connections, disconnections atomic.Int64
	messagesIn, chatMessages    atomic.Int64
	deliveries                  atomic.Int64
	joins, leaves               atomic.Int64
	rateLimitRefusals           atomic.Int64
	originRefusals              atomic.Int64
	errorReplies                atomic.Int64
}

func newMetrics() *metrics { return &metrics{} }

func (m *metrics) connected()                { m.connections.Add(1) }
func (m *metrics) disconnected()             { m.disconnections.Add(1) }
func (m *metrics) messageIn()                { m.messagesIn.Add(1) }
func (m *metrics) chatMessage()              { m.chatMessages.Add(1) }
func (m *metrics) delivered()                { m.deliveries.Add(1) }
func (m *metrics) joined()                   { m.joins.Add(1) }
func (m *metrics) left()                     { m.leaves.Add(1) }
func (m *metrics) rateLimited()              { m.rateLimitRefusals.Add(1) }
func (m *metrics) originRefused()            { m.originRefusals.Add(1) }
func (m *metrics) requestErrors(_ ErrorCode) { m.errorReplies.Add(1) }
