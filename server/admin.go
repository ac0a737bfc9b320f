package server

import (
	"net/http"

	"github.com/chatd/chatd/eventloop"
)

// AdminHandler serves /metrics, /healthz and /readyz over net/http, for an
// admin listener apart from the main port (chatd -admin). The main port
// answers the same paths, /metrics unless Config.NoMetricsOnMain. With an
// APIKey it serves the server API under /api/ too (APIHandler).
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	if h := s.apiHandler; h != nil {
		mux.Handle("/api/", h)
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			var resp *eventloop.Response
			if path == "/metrics" && (r.Method == "GET" || r.Method == "HEAD") {
				resp = s.metricsResponse()
			} else {
				resp = s.serveHTTP(&eventloop.Request{Method: r.Method, Path: path})
			}
			w.Header().Set("Content-Type", resp.ContentType)
			if resp.ContentType == "" {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			}
			w.WriteHeader(resp.Status)
			_, _ = w.Write(resp.Body)
		})
	}
	return mux
}

// Stats returns the transport's counters.
func (s *Server) Stats() eventloop.Stats { return s.eng.Stats() }
