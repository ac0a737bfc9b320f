// Package backendhttp is how chatd talks to the application's backend over
// HTTP, for the hooks (server/hooks) and the message sink (server/sink)
// alike: a keep-alive client that never goes through a proxy from the
// environment and never follows a redirect (the shared secret must go only
// where it was configured to), and the headers every call carries.
package backendhttp

import (
	"net"
	"net/http"
	"time"
)

// Client is a client for one backend endpoint: at most conns connections
// (kept alive up to idle), each dialled and TLS-handshaken within timeout.
// A redirect is returned as the answer, which is not 2xx: following it would
// send the secret wherever the backend points. The client sets no overall
// timeout; callers bound each call (a context, or Client.Timeout).
func Client(conns int, timeout, idle time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // the backend is reached directly, never through $HTTP_PROXY
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     idle,
		DisableCompression:  true,
		TLSHandshakeTimeout: timeout,
	}
	return &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Header is what every call carries: JSON, the secret as a bearer token, who
// calls (userAgent), for what (hook: "connect", "join", "publish", "sink")
// and from which node (nodeID, when set). It is shared by every request and
// must not be written after.
func Header(secret, userAgent, hook, nodeID string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Authorization", "Bearer "+secret)
	h.Set("User-Agent", userAgent)
	h.Set("X-Chatd-Hook", hook)
	if nodeID != "" {
		h.Set("X-Chatd-Node", nodeID)
	}
	return h
}
