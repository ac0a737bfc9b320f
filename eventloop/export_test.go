package eventloop

// QueuedForTest returns the bytes queued for c: gnet's outbound buffer and
// the current turn's frames, as MaxOutboundBytes and MaxNodeOutboundBytes
// count them. Loop only. (Test builds only: the black-box tests fill queues
// to known sizes with it.)
func (c *Conn) QueuedForTest() int64 { return c.queued() }
