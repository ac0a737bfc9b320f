package eventloop

import (
	"strconv"
	"sync"
)

// Plain HTTP requests with a body, answered later: for endpoints on the main
// port whose answer needs work off the loop (the server API with
// -api-on-main). A body (Content-Length only; chunked gets 411) is read
// before Handler.HTTP is called, up to DefaultMaxBodyBytes (more: 413); the
// handshake deadline bounds both the body and a deferred answer. While a
// body is awaited, the parsed head waits in the loop's bodies map, so
// connections without one pay nothing.

// bodyLength returns a plain request's Content-Length, or the response that
// refuses it.
func bodyLength(r *Request) (int, *Response) {
	if r.Get("Transfer-Encoding") != "" {
		return 0, errorResponse(411, "send the body with Content-Length")
	}
	cl := r.Get("Content-Length")
	if cl == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(cl)
	switch {
	case err != nil || n < 0:
		return 0, errorResponse(400, "bad Content-Length")
	case n > DefaultMaxBodyBytes:
		return 0, errorResponse(413, "request body too large")
	}
	return n, nil
}

// readBody completes r with its body from c's buffer. It reports false when
// the body is not all there yet (r then waits in the loop's bodies map) or
// was refused (answered and closing).
func (e *Engine) readBody(c *Conn, r *Request) bool {
	n, refusal := bodyLength(r)
	if refusal != nil {
		e.refuse(c, HandshakeMalformed, refusal)
		return false
	}
	if n == 0 {
		return true
	}
	gc, l := c.gc, c.loop
	have := gc.InboundBuffered()
	l.stats.bytesIn.Add(int64(have) - int64(c.seen))
	c.seen = int32(have)
	if have < n {
		if l.bodies == nil {
			l.bodies = make(map[*Conn]*Request)
		}
		l.bodies[c] = r
		return false
	}
	delete(l.bodies, c)
	b, _ := gc.Peek(n)
	r.Body = append([]byte(nil), b...)
	_, _ = gc.Discard(n)
	c.seen = int32(have - n)
	return true
}

// Defer lets Handler.HTTP answer r later, from any goroutine: HTTP returns
// nil after calling it, and respond, called once, writes the answer on the
// connection's loop (the connection closes after it, as always). An answer
// for a connection already gone (closed by the client, or past the
// handshake deadline) is dropped.
func (r *Request) Defer() (respond func(*Response)) {
	c, head := r.conn, r.Method == "HEAD"
	r.deferred = true
	var once sync.Once
	return func(resp *Response) {
		once.Do(func() {
			c.loop.post(task{fn: func() {
				if c.state == stateHandshake && !c.aborting {
					c.loop.eng.reply(c, resp, head)
				}
			}})
		})
	}
}
