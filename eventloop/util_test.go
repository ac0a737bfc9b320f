package eventloop_test

import "github.com/gobwas/ws"

func wsOp(b byte) ws.OpCode { return ws.OpCode(b) }
