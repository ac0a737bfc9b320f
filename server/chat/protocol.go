package chat

// Protocol is a wire protocol as the core sees it: an adapter that decodes a
// session's requests, calls the core's operations and encodes what the
// client is told, and encodes room events for its members. A node serves
// several (the reference protocol v1 and chatd's v2 over WebSocket; the same
// protocol over another carrier is another Protocol with another Framing),
// each a member class of the room registry: a room event is encoded once per
// class that has local members in the room, and each encoding is fanned out
// to that class.
type Protocol interface {
	// Open starts the session of a new connection (on its loop), e.g. with
	// a greeting. The session is identified (Session.Identified) when the
	// protocol needs no more: a protocol with a hello calls Identify later.
	Open(s *Session)
	// Handle handles one request of s (on its loop). The core calls it once
	// per request, in the order received, never while s waits for the
	// cluster (Session.Await).
	Handle(s *Session, p []byte)
	// Refuse tells s that request p was refused before it was handled (its
	// queue is full).
	Refuse(s *Session, p []byte, e *Error)
	// Frame returns ev encoded and framed for this protocol's members, or
	// nil for events they do not get. It is called at most once per event
	// and class, from any goroutine.
	Frame(ev *Event) []byte
}
