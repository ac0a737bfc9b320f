package sink

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Memory is the memory broker's sink queue: one shard, in the process's
// memory, bounded by a message count and by the bytes of their payloads
// (past either, new messages are refused and counted). A process that
// crashes loses what it holds; one that stops gracefully flushes it first
// (Sink.Close), for as long as its shutdown allows.
type Memory struct {
	maxN, maxBytes int

	mu      sync.Mutex
	es      []Entry // oldest first, from head
	head    int
	bytes   int
	nextID  uint64
	dropped int64
}

// NewMemory returns an empty queue that holds at most maxN messages and
// maxBytes bytes of payloads (zero: DefaultMaxBacklog, DefaultMaxMemory).
func NewMemory(maxN, maxBytes int) *Memory {
	if maxN <= 0 {
		maxN = DefaultMaxBacklog
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxMemory
	}
	return &Memory{maxN: maxN, maxBytes: maxBytes}
}

// entryCost is what an entry counts toward the bytes bound besides its
// payload: the struct and its strings' headers.
const entryCost = 160

// Append queues a stored message (the memory broker calls it as it
// stores, under its lock: each room's messages in offset order). It
// reports false when the queue is full: the message is counted as dropped.
func (m *Memory) Append(room, epoch string, offset uint64, at time.Time, payload string) bool {
	cost := len(payload) + len(room) + entryCost
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.es)-m.head >= m.maxN || m.bytes+cost > m.maxBytes {
		m.dropped++
		return false
	}
	m.nextID++
	m.es = append(m.es, Entry{ID: strconv.FormatUint(m.nextID, 10), Room: room, Epoch: epoch, Offset: offset,
		At: at.UnixMilli(), Payload: payload})
	m.bytes += cost
	return true
}

// Len returns the messages waiting.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.es) - m.head
}

// Shards implements Queue: one.
func (m *Memory) Shards() int { return 1 }

// Durable implements Queue: false.
func (m *Memory) Durable() bool { return false }

// Claim implements Queue: the one node has it.
func (m *Memory) Claim(context.Context, int, time.Duration) (bool, error) { return true, nil }

// Release implements Queue.
func (m *Memory) Release(context.Context, int) {}

// Read implements Queue.
func (m *Memory) Read(_ context.Context, _, max int) ([]Entry, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := min(max, len(m.es)-m.head)
	return append([]Entry(nil), m.es[m.head:m.head+n]...), int64(len(m.es) - m.head), nil
}

// Ack implements Queue.
func (m *Memory) Ack(_ context.Context, _ int, es []Entry) error {
	if len(es) == 0 {
		return nil
	}
	last, err := strconv.ParseUint(es[len(es)-1].ID, 10, 64)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.head < len(m.es) {
		e := &m.es[m.head]
		if id, _ := strconv.ParseUint(e.ID, 10, 64); id > last {
			break
		}
		m.bytes -= len(e.Payload) + len(e.Room) + entryCost
		*e = Entry{}
		m.head++
	}
	// Compact once the acknowledged part is half the slice: amortized
	// O(1) per entry, and the slice does not grow without bound.
	if m.head > 0 && m.head >= len(m.es)/2 {
		n := copy(m.es, m.es[m.head:])
		clear(m.es[n:])
		m.es = m.es[:n]
		m.head = 0
	}
	return nil
}

// TakeDropped implements Queue.
func (m *Memory) TakeDropped(context.Context, int) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.dropped
	m.dropped = 0
	return n, nil
}
