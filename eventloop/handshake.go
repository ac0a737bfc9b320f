package eventloop

// handshake consumes the upgrade request once its head is complete. It
// either opens the WebSocket (and frames that followed the head in the same
// read are decoded right after), answers a plain HTTP request, or refuses.
func (e *Engine) handshake(c *Conn) {
	gc := c.gc
	if c.desync {
		// A request answered later (Request.Defer): nothing more is read.
		_, _ = gc.Discard(-1)
		return
	}
	if len(c.loop.bodies) > 0 {
		if req := c.loop.bodies[c]; req != nil {
			e.plainRequest(c, req)
			return
		}
	}
	n := gc.InboundBuffered()
	c.loop.stats.bytesIn.Add(int64(n) - int64(c.seen))
	limit := e.cfg.MaxHeaderBytes
	b, _ := gc.Peek(min(n, limit))
	end := findHeadEnd(b, int(c.seen))
	if end < 0 {
		if n >= limit {
			e.refuse(c, HandshakeTooLarge, errorResponse(431, "request header too large"))
			return
		}
		c.seen = int32(n)
		return
	}
	req, err := parseRequest(b[:end])
	_, _ = gc.Discard(end)
	c.seen = int32(n - end) // frames that came with the head are counted already
	if err != nil {
		reason := HandshakeMalformed
		if err == errBadVersion {
			reason = HandshakeVersion
		}
		e.refuse(c, reason, errorResponse(statusFor(err), err.Error()))
		return
	}
	if a := gc.RemoteAddr(); a != nil {
		req.RemoteAddr = a.String()
	}
	if !req.Upgrade {
		req.conn = c
		e.plainRequest(c, req)
		return
	}
	if e.draining.Load() {
		e.refuse(c, HandshakeFull, errorResponse(503, "server shutting down"))
		return
	}
	if max := e.cfg.MaxConns; max > 0 && e.openWebSockets() >= int64(max) {
		e.refuse(c, HandshakeFull, errorResponse(503, "node full"))
		return
	}
	if resp := e.cfg.Handler.Upgrade(c, req); resp != nil {
		e.refuse(c, HandshakeRefused, resp)
		return
	}
	if p := req.Subprotocol; p != "" && !req.offered(p) {
		// A handler bug: the client would fail the connection anyway.
		e.cfg.Logger.Error("upgrade refused: the handler chose a subprotocol the client did not offer",
			"subprotocol", p, "offered", req.Protocols())
		e.refuse(c, HandshakeRefused, errorResponse(500, "subprotocol not offered"))
		return
	}
	c.loop.queue(c, switchingProtocols(req.key, req.Subprotocol))
	c.state = stateOpen
	e.donePending(c)
	c.since = e.now()
	c.timer = c.since
	c.loop.stats.websockets.Add(1)
	e.stats.upgraded.Add(1)
	e.cfg.Handler.Open(c)
}

// plainRequest answers a request that is not an upgrade, once its body (if
// any) is in.
func (e *Engine) plainRequest(c *Conn, req *Request) {
	if !e.readBody(c, req) {
		return
	}
	e.stats.http.Add(1)
	resp := e.cfg.Handler.HTTP(req)
	switch {
	case req.streamed: // an event stream, open now (stream.go)
		return
	case req.resume != nil: // a stream resumed on this connection (stream_resume.go)
		e.resume(c, req.resume)
		return
	}
	if req.deferred {
		c.desync = true // the answer comes later; discard whatever else arrives
		return
	}
	if resp == nil {
		resp = errorResponse(404, "not found")
	}
	e.reply(c, resp, req.Method == "HEAD")
}

// openWebSockets counts open WebSockets and event streams over all loops
// (what MaxConns bounds).
func (e *Engine) openWebSockets() int64 {
	var n int64
	for _, l := range e.loops {
		n += l.stats.websockets.Load() + l.stats.streams.Load()
	}
	return n
}

// refuse answers a failed handshake and closes after the response.
func (e *Engine) refuse(c *Conn, why HandshakeFailure, resp *Response) {
	e.stats.hsFailure[why].Add(1)
	e.reply(c, resp, false)
}

// reply writes an HTTP response and closes the connection once it is out.
// The state stays stateHandshake: the connection never was a WebSocket, so
// OnClose must not report it to Handler.Close. reply runs inside OnTraffic,
// so the connection is closed when that call returns.
func (e *Engine) reply(c *Conn, resp *Response, head bool) {
	c.loop.queue(c, encodeResponse(resp, head))
	c.desync = true
	c.abort()
}
