package server_test

import (
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/gorilla/websocket"
)

// A v2 connection must complete hello within -hello-timeout, with auth on
// or off: one that never says hello, one that keeps pinging, and one that
// keeps sending refused requests are all closed with 4002 at the deadline;
// one that said hello stays.
func TestHelloDeadline(t *testing.T) {
	for _, mode := range []server.AuthMode{server.AuthOff, server.AuthRequired} {
		t.Run(string(mode), func(t *testing.T) {
			const timeout = time.Second
			s := startServer(t, withAuth(mode, func(c *server.Config) { c.HelloTimeout = timeout }))
			silent := dialV2(t, s.Addr())
			pinger := dialV2(t, s.Addr())
			refused := dialV2(t, s.Addr())
			good := dialV2(t, s.Addr())
			hello := map[string]any{"type": "hello", "name": "good"}
			if mode == server.AuthRequired {
				hello["token"] = mint(t, "good", time.Hour, nil)
			}
			good.call(hello)
			opened := time.Now()
			stop := make(chan struct{})
			defer close(stop)
			go func() { // pings and refused requests until the connections close
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					_ = pinger.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second))
					_ = refused.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"join","roomId":"r","id":1}`))
				}
			}()
			for name, c := range map[string]*v2client{"silent": silent, "pinger": pinger, "refused": refused} {
				expectClose(t, c.ws, 4002)
				if since := time.Since(opened); since < timeout-100*time.Millisecond {
					t.Fatalf("%s closed after %v, before the deadline", name, since)
				}
			}
			// The connection that said hello is still served.
			good.join("still-here")
			if got := scrape(t, s)["chatd_session_deadline_closes_total"]; got != 3 {
				t.Fatalf("%v deadline closes counted, want 3", got)
			}
		})
	}
}
