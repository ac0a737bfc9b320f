package chat

import (
	"strings"
	"sync"
	"time"

	"github.com/chatd/chatd/server/broker"
)

// Node channels: rooms that carry a node's own traffic through the broker
// seam, as the control room does (control.go), for the pieces of a node
// beside the core: a carrier relays requests for a session to the node that
// holds it through such a channel (server/httpstream). A channel's id
// starts with a NUL byte, which CheckName refuses in every client's roomId:
// no client can join it, hear it or publish to it. Payloads are opaque JSON
// objects; the brokers add their header members to them (origin, ...),
// which a handler ignores.

// ChannelPrefix starts the id of every node channel.
const ChannelPrefix = "\x00chatd-"

// channels maps channel ids to their handlers.
type channels struct {
	mu sync.RWMutex
	h  map[string]func(payload string)
}

// channelMsg is a channel payload published on this node, handed back by an
// in-process broker (broker.Event.Local).
type channelMsg struct{ payload string }

// Channel routes the payloads published to the channel room (an id that
// starts with ChannelPrefix) to handle, on a broker goroutine (or, with an
// in-process broker, the publisher's), and subscribes the node to it: again
// every second while the cluster is unreachable (once subscribed, the
// broker keeps the subscription across reconnects). Call it after Start.
func (n *Node) Channel(room string, handle func(payload string)) {
	if !strings.HasPrefix(room, ChannelPrefix) {
		panic("chat: a channel id must start with ChannelPrefix")
	}
	n.chans.mu.Lock()
	if n.chans.h == nil {
		n.chans.h = make(map[string]func(string))
	}
	n.chans.h[room] = handle
	n.chans.mu.Unlock()
	n.subscribeChannel(room)
}

func (n *Node) subscribeChannel(room string) {
	n.broker.Subscribe(room, func(err error) {
		if err == nil {
			return
		}
		n.cfg.Logger.Debug("channel not subscribed yet; retrying", "channel", room[1:], "err", err)
		time.AfterFunc(time.Second, func() {
			if !n.draining.Load() {
				n.subscribeChannel(room)
			}
		})
	})
}

// PublishChannel sends payload (a JSON object) to whichever nodes listen on
// the channel room; done, if not nil, gets the broker's error (nil: handed
// to the cluster, which does not say whether anyone listened).
func (n *Node) PublishChannel(room string, payload []byte, done func(error)) {
	n.broker.Publish(&broker.Event{Room: room, Body: payload, Local: channelMsg{string(payload)}},
		func(_ uint64, err error) {
			if done != nil {
				done(err)
			}
		})
}

// channel returns the handler of a channel room, or nil (not a channel, or
// one this node does not listen on).
func (n *Node) channel(room string) func(string) {
	if !strings.HasPrefix(room, ChannelPrefix) {
		return nil
	}
	n.chans.mu.RLock()
	defer n.chans.mu.RUnlock()
	return n.chans.h[room]
}
