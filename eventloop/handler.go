package eventloop

// Handler is what the server above the transport implements. All methods run
// on the connection's event loop and must not block: hand slow work to
// another goroutine and come back with Conn.Exec or Conn.Send.
type Handler interface {
	// Upgrade is called for a request that passed every RFC 6455 check. A
	// nil result accepts it (the 101 is sent and Open follows); a non-nil
	// response refuses it (e.g. 403 for a foreign origin) and the connection
	// closes after the response is written. To accept with a subprotocol,
	// set r.Subprotocol to one of r.Protocols() before returning nil.
	Upgrade(c *Conn, r *Request) *Response
	// HTTP answers any request that is not a WebSocket upgrade. The
	// connection closes after the response; a nil result sends 404.
	HTTP(r *Request) *Response
	// Open is called once the connection is a WebSocket; it may write.
	Open(c *Conn)
	// Message is called for each complete message. payload is valid only
	// during the call: copy what must outlive it.
	Message(c *Conn, payload []byte, binary bool)
	// Close is called once when an opened connection is gone. code is the
	// close code sent or received (CloseNoStatus when TCP simply dropped).
	Close(c *Conn, code CloseCode)
}
