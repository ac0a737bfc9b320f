package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/chatd/chatd/eventloop"
)

// The server API on the main port (Config.APIOnMain). The main port speaks
// HTTP through the event loop, which must never wait for the cluster: the
// request (with its body, read by the transport) is handed to the API's
// net/http handler on a goroutine, and the answer is written later
// (eventloop.Request.Defer). The handshake deadline bounds the whole call.

// apiOnMain reports whether r is for the API on the main port.
func (s *Server) apiOnMain(r *eventloop.Request) bool {
	return s.cfg.APIOnMain && s.apiHandler != nil && (r.Path == "/api" || strings.HasPrefix(r.Path, "/api/"))
}

// serveAPIOnMain runs the API handler for r off the loop.
func (s *Server) serveAPIOnMain(r *eventloop.Request) *eventloop.Response {
	u, err := url.ParseRequestURI(r.Target)
	if err != nil {
		return &eventloop.Response{Status: 400, Body: []byte("bad request target\n")}
	}
	// The call ends with the connection's deadline (the transport drops a
	// deferred answer after the handshake timeout) or the node's shutdown,
	// whichever comes first.
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HandshakeTimeout)
	req := (&http.Request{Method: r.Method, URL: u, Proto: r.Proto, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
		Body: io.NopCloser(bytes.NewReader(r.Body)), ContentLength: int64(len(r.Body)), Host: r.Host,
		RemoteAddr: r.RemoteAddr, RequestURI: r.Target}).WithContext(ctx)
	for _, f := range r.Header {
		req.Header.Add(f.Name, f.Value)
	}
	respond := r.Defer()
	go func() {
		defer cancel()
		w := &bufferedResponse{header: http.Header{}}
		s.apiHandler.ServeHTTP(w, req)
		respond(w.response())
	}()
	return nil
}

// bufferedResponse is an http.ResponseWriter that keeps the answer for the
// event loop.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedResponse) Header() http.Header { return w.header }

func (w *bufferedResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *bufferedResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// response converts the answer; the transport sets Content-Length and
// Connection itself.
func (w *bufferedResponse) response() *eventloop.Response {
	w.WriteHeader(http.StatusOK)
	resp := &eventloop.Response{Status: w.status, ContentType: w.header.Get("Content-Type"), Body: w.body.Bytes()}
	for name, vs := range w.header {
		switch name {
		case "Content-Type", "Content-Length", "Connection":
			continue
		}
		for _, v := range vs {
			resp.Header = append(resp.Header, eventloop.HeaderField{Name: name, Value: v})
		}
	}
	return resp
}
