package chatdclient

import (
	"strconv"
	"time"
)

// Event is what Client.Events delivers: one of StateEvent, MessageEvent,
// JoinedEvent, LeftEvent, TypingEvent, RecoveredEvent, GapEvent,
// RoomLostEvent and ErrorEvent. Use a type switch.
type Event interface{ event() }

// State is the client's connection state.
type State int

const (
	// StateConnecting: the first connection is being made.
	StateConnecting State = iota + 1
	// StateConnected: hello answered; requests go through. Rooms are being re-joined (each
	// says RecoveredEvent or GapEvent when it is back).
	StateConnected
	// StateDisconnected: the connection dropped (Code and Reason say why); a StateReconnecting
	// follows unless the client stops (then Err says why and Events closes).
	StateDisconnected
	// StateReconnecting: waiting Delay before the next attempt, after a drop or a failed attempt.
	StateReconnecting
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateReconnecting:
		return "reconnecting"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// StateEvent is a change of the connection's state.
type StateEvent struct {
	State State
	// URL is the node the event is about: the one connected to, dropped, or that failed; with a
	// StateReconnecting after a drop, the one tried next.
	URL string
	// Code and Reason: the WebSocket close code and reason of a StateDisconnected (CloseAbnormal
	// when the connection broke without a close frame).
	Code   int
	Reason string
	// Err: why the connection dropped or an attempt failed; with StateDisconnected and no
	// retry to follow, why the client stopped.
	Err error
	// Delay: with StateConnecting or StateReconnecting after a failure, the wait before the
	// next attempt.
	Delay time.Duration
}

// MessageEvent is a chat message of a joined room (not this connection's own
// publishes: Publish returns those).
type MessageEvent struct {
	Message
	// Replay: from history (a join's History, a recovery, or the newest messages after a gap),
	// not live.
	Replay bool
}

// JoinedEvent: a user's first connection joined the room.
type JoinedEvent struct {
	RoomID      string
	User        Member
	MemberCount int // users in the room now
}

// LeftEvent: a user's last connection left the room.
type LeftEvent struct {
	RoomID      string
	User        Member
	MemberCount int
}

// TypingEvent: a user is typing in the room. The server forwards at most one
// per user and room per typing interval (300 ms): show it for a few seconds.
type TypingEvent struct {
	RoomID string
	User   Member
}

// RecoveredEvent: the room is back after a reconnect, a server resync or a
// join with Since, with nothing lost: the Missed MessageEvents of the room
// just before it (Replay) were the messages the client had not seen; live
// ones follow.
type RecoveredEvent struct {
	RoomID   string
	Missed   int
	Reason   string   // "reconnect", "resync", "resume" (JoinOptions.Since), "hole" or "epoch" (see package doc)
	Position Position // where the room stands now
}

// GapEvent: the room is back, but the server's history no longer covers what
// the client missed (trimmed, expired, or the history restarted: Epoch
// differs from From's). The room's newest messages follow as Replay
// MessageEvents (as many as the join's History); older ones can be paged
// with Room.History. The app decides whether to reload.
type GapEvent struct {
	RoomID string
	Reason string   // as RecoveredEvent's
	From   Position // where the client was
	Epoch  string   // the room's history now
	Offset uint64   // its newest offset
}

// RoomLostEvent: the client is no longer in the room: re-joining it after a
// reconnect was refused for good (the token's rooms changed, too many rooms,
// ...). Its Room handle answers ErrNotJoined from now on.
type RoomLostEvent struct {
	RoomID string
	Err    error
}

// ErrorEvent: an error that no request returns: a refused typing notice or
// token refresh, a recovery that is slow to answer, a malformed frame.
type ErrorEvent struct {
	RoomID string // if it concerns a room
	Err    error
}

func (StateEvent) event()     {}
func (MessageEvent) event()   {}
func (JoinedEvent) event()    {}
func (LeftEvent) event()      {}
func (TypingEvent) event()    {}
func (RecoveredEvent) event() {}
func (GapEvent) event()       {}
func (RoomLostEvent) event()  {}
func (ErrorEvent) event()     {}
