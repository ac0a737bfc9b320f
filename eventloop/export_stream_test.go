package eventloop

// RequestLoop is the loop a request arrived on (stream resume tests force
// both the same-loop and the cross-loop hand-over).
func RequestLoop(r *Request) int { return r.conn.loop.idx }
