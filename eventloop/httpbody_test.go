package eventloop_test

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/chatd/chatd/eventloop"
)

// bodyHandler answers POST /later with its body, from another goroutine
// (Request.Defer); other paths like echoHandler.
type bodyHandler struct {
	echoHandler
}

func (h *bodyHandler) HTTP(r *eventloop.Request) *eventloop.Response {
	if r.Path != "/later" {
		return h.echoHandler.HTTP(r)
	}
	respond := r.Defer()
	body := r.Body
	go respond(&eventloop.Response{Status: 202, Body: append([]byte("got "), body...)})
	return nil
}

// A plain request's body is read whole, however it arrives, before the
// handler sees it; the handler may answer later from any goroutine.
func TestPlainRequestBodyAndDeferredAnswer(t *testing.T) {
	h := &bodyHandler{*newEchoHandler()}
	e := startEngine(t, h, nil)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{0, 1, 100, 5000, eventloop.DefaultMaxBodyBytes} {
		body := strings.Repeat("b", size)
		c := dialTCP(t, e)
		c.sendChunked([]byte("POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(size)+"\r\n\r\n"+body), rng, 700)
		resp, got := c.response()
		if resp.StatusCode != 202 || got != "got "+body {
			t.Fatalf("size %d: %s %q...", size, resp.Status, got[:min(len(got), 20)])
		}
	}
	for _, tc := range []struct {
		head   string
		status int
	}{
		{"POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(eventloop.DefaultMaxBodyBytes+1) + "\r\n\r\n", 413},
		{"POST /later HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
		{"POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 200},
	} {
		c := dialTCP(t, e)
		c.send([]byte(tc.head))
		if resp, _ := c.response(); resp.StatusCode != tc.status {
			t.Fatalf("%q: %s, want %d", tc.head, resp.Status, tc.status)
		}
	}
	// The refused ones never reached the handler: 5 bodies and one /hello.
	st := e.Stats()
	if st.HTTPRequests != 5+1 {
		t.Fatalf("HTTP requests %d, want 6", st.HTTPRequests)
	}
}
