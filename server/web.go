package server

import (
	"embed"
	"mime"
	"path"
	"strings"

	"github.com/chatd/chatd/eventloop"
)

// The web client: plain HTML, CSS and JavaScript, embedded in the binary.
//
//go:embed web
var webFS embed.FS

// serveHTTP answers plain HTTP requests on the main port.
func (s *Server) serveHTTP(r *eventloop.Request) *eventloop.Response {
	if s.apiOnMain(r) {
		return s.serveAPIOnMain(r) // apimain.go
	}
	if r.Path == DefaultStreamPath {
		if s.stream == nil { // -http-stream=false
			return &eventloop.Response{Status: 404, Body: []byte("not found\n")}
		}
		return s.stream.Serve(r) // the HTTP streaming carrier (stream.go)
	}
	if r.Method != "GET" && r.Method != "HEAD" {
		return &eventloop.Response{Status: 405, Header: []eventloop.HeaderField{{Name: "Allow", Value: "GET, HEAD"}},
			Body: []byte("method not allowed\n")}
	}
	switch r.Path {
	case "/healthz":
		return &eventloop.Response{Status: 200, Body: []byte("ok\n")}
	case "/readyz":
		if s.ready.Load() && s.broker.Healthy() {
			return &eventloop.Response{Status: 200, Body: []byte("ready\n")}
		}
		return &eventloop.Response{Status: 503, Body: []byte("not ready\n")}
	case "/metrics":
		if !s.cfg.NoMetricsOnMain {
			return s.metricsResponse()
		}
	case "/", "/index.html":
		return staticFile("index.html")
	}
	name := strings.TrimPrefix(r.Path, "/")
	if name != "" && !strings.Contains(name, "/") {
		if resp := staticFile(name); resp != nil {
			return resp
		}
	}
	return &eventloop.Response{Status: 404, Body: []byte("not found\n")}
}

// metricsResponse is /metrics in the Prometheus text format.
func (s *Server) metricsResponse() *eventloop.Response {
	return &eventloop.Response{Status: 200, ContentType: "text/plain; version=0.0.4; charset=utf-8",
		Body: s.metricsText()}
}

// staticFile returns an embedded file, or nil.
func staticFile(name string) *eventloop.Response {
	b, err := webFS.ReadFile("web/" + name)
	if err != nil {
		return nil
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return &eventloop.Response{Status: 200, ContentType: ct, Body: b,
		Header: []eventloop.HeaderField{{Name: "Cache-Control", Value: "no-cache"}}}
}
