package eventloop

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"iter"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The HTTP/1.1 upgrade handshake (RFC 6455 §4.2), parsed from the
// connection's inbound buffer. The request head is looked for incrementally;
// once "\r\n\r\n" arrives it is parsed in one go. Bytes after the head stay in
// the buffer: the client's first frame may arrive in the same read.

// Request is a parsed HTTP request head. Strings are copies; the handler may
// keep them.
type Request struct {
	Method   string
	Target   string // request-target as sent, e.g. "/ws?x=1"
	Path     string // Target without the query
	RawQuery string
	Proto    string // "HTTP/1.1"
	Host     string
	Header   []HeaderField
	// RemoteAddr is the peer's address, e.g. "127.0.0.1:5000".
	RemoteAddr string
	// Upgrade is true for a WebSocket upgrade request that passed every RFC
	// 6455 check; the handler's Upgrade method decides whether to accept it.
	Upgrade bool
	// Subprotocol is set by Handler.Upgrade to accept the upgrade with one of
	// the subprotocols the client offered (see Protocols): the 101 then
	// carries "Sec-WebSocket-Protocol: <Subprotocol>". Empty: none. A value
	// the client did not offer would make the client fail the connection
	// (RFC 6455 §4.1), so the upgrade is refused with 500 instead.
	Subprotocol string
	key         string

	// Body is a plain request's body (see httpbody.go).
	Body     []byte
	conn     *Conn      // for Defer, Stream and Resume
	deferred bool       // Defer was called: the handler answers later
	streamed bool       // Stream was called: the connection is an event stream
	resume   *resumeReq // Resume was called
}

// HeaderField is one header line.
type HeaderField struct{ Name, Value string }

// Get returns the first value of the header name (case-insensitive), or "".
func (r *Request) Get(name string) string {
	for _, f := range r.Header {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Protocols returns the subprotocols the client offered in
// Sec-WebSocket-Protocol, in its order of preference: every such header line,
// split at commas, blanks trimmed, empty items dropped. Nil when none.
func (r *Request) Protocols() []string {
	return slices.Collect(r.protocols())
}

// protocols iterates over the offered subprotocols without allocating.
func (r *Request) protocols() iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, f := range r.Header {
			if !strings.EqualFold(f.Name, "Sec-WebSocket-Protocol") {
				continue
			}
			for v := f.Value; v != ""; {
				var item string
				item, v, _ = strings.Cut(v, ",")
				if item = strings.Trim(item, " \t"); item != "" && !yield(item) {
					return
				}
			}
		}
	}
}

// offered reports whether the client offered subprotocol p (RFC 6455 values
// are tokens, compared exactly).
func (r *Request) offered(p string) bool {
	if !validToken(p) {
		return false
	}
	for q := range r.protocols() {
		if q == p {
			return true
		}
	}
	return false
}

// Response is what the handler answers a plain request, or a refused upgrade,
// with. The connection is closed after it is written.
type Response struct {
	Status      int
	ContentType string // default "text/plain; charset=utf-8"
	Header      []HeaderField
	Body        []byte
}

// Errors of the request parser; the status is what the client gets.
var (
	errMalformed      = errors.New("malformed request")
	errNotGET         = errors.New("upgrade request is not GET")
	errNoHost         = errors.New("missing Host header")
	errBadConnection  = errors.New("Connection header lacks upgrade")
	errBadKey         = errors.New("invalid Sec-WebSocket-Key")
	errBadVersion     = errors.New("unsupported Sec-WebSocket-Version")
	errHeaderTooLarge = errors.New("request header too large")
	errDupHeader      = errors.New("more than one Host or Origin header")
)

// findHeadEnd returns the index just past "\r\n\r\n" in b, searching from
// from (so repeated calls on a growing buffer do not rescan), or -1.
func findHeadEnd(b []byte, from int) int {
	from = max(from-3, 0)
	if i := bytes.Index(b[from:], []byte("\r\n\r\n")); i >= 0 {
		return from + i + 4
	}
	return -1
}

// parseRequest parses a complete request head (ending in "\r\n\r\n") and
// validates a WebSocket upgrade. It returns the request and, for a request
// that claims to be an upgrade but fails RFC 6455 §4.2.1, an error whose
// status is given by statusFor.
func parseRequest(head []byte) (*Request, error) {
	s := string(head) // one copy; every string below slices it
	line, rest, ok := strings.Cut(s, "\r\n")
	if !ok {
		return nil, errMalformed
	}
	method, rest1, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest1, " ")
	if !ok1 || !ok2 || !validToken(method) || !validTarget(target) ||
		!strings.HasPrefix(proto, "HTTP/1.") || len(proto) != 8 || (proto[7] != '0' && proto[7] != '1') {
		return nil, errMalformed
	}
	r := &Request{Method: method, Target: target, Proto: proto}
	r.Path, r.RawQuery, _ = strings.Cut(target, "?")
	// One allocation for the header lines (not four as append grows them):
	// a connect storm's handshakes are garbage the node holds until a GC.
	r.Header = make([]HeaderField, 0, strings.Count(rest, "\r\n"))
	for {
		var l string
		l, rest, _ = strings.Cut(rest, "\r\n")
		if l == "" {
			break
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || !validToken(name) {
			return nil, errMalformed // also refuses obsolete line folding
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; (c < 0x20 && c != '\t') || c == 0x7F {
				return nil, errMalformed
			}
		}
		r.Header = append(r.Header, HeaderField{name, value})
	}
	// Two Host or two Origin lines are refused, not resolved: we would read
	// the first and a proxy in front of us may read the last, so a request
	// could pass one origin or virtual-host check and mean another (issue
	// 24). RFC 9112 §3.2 requires 400 for a second Host; RFC 6454 §7.3 lets
	// a user agent send one Origin at most.
	if headerCount(r.Header, "Host") > 1 || headerCount(r.Header, "Origin") > 1 {
		return r, errDupHeader
	}
	r.Host = r.Get("Host")

	if !hasToken(r.Get("Upgrade"), "websocket") {
		return r, nil // a plain request, for the handler
	}
	switch {
	case method != "GET" || proto != "HTTP/1.1":
		return r, errNotGET
	case r.Host == "":
		return r, errNoHost
	case !hasToken(r.Get("Connection"), "upgrade"):
		return r, errBadConnection
	case r.Get("Sec-WebSocket-Version") != "13":
		return r, errBadVersion
	}
	key := r.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return r, errBadKey
	}
	r.key = key
	r.Upgrade = true
	return r, nil
}

// headerCount returns how many header lines are named name
// (case-insensitive).
func headerCount(h []HeaderField, name string) int {
	n := 0
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			n++
		}
	}
	return n
}

// statusFor maps a handshake error to its HTTP status.
func statusFor(err error) int {
	switch err {
	case errBadVersion:
		return 426
	case errHeaderTooLarge:
		return 431
	case errNotGET:
		return 400
	}
	return 400
}

// validToken reports whether s is a non-empty RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7F || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validTarget reports whether s is a non-empty request-target without
// whitespace or control bytes (a bare CR or LF would otherwise reach the
// handler inside Target and Path).
func validTarget(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7F {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated header value v contains token
// t, case-insensitively.
func hasToken(v, t string) bool {
	for v != "" {
		var item string
		item, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(item), t) {
			return true
		}
	}
	return false
}

// acceptKey computes Sec-WebSocket-Accept for a client key (RFC 6455 §4.2.2).
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// switchingProtocols is the 101 response accepting an upgrade, with the
// chosen subprotocol if any (already checked against the offer).
func switchingProtocols(key, subprotocol string) []byte {
	b := make([]byte, 0, 160+len(subprotocol))
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = append(b, acceptKey(key)...)
	if subprotocol != "" {
		b = append(b, "\r\nSec-WebSocket-Protocol: "...)
		b = append(b, subprotocol...)
	}
	return append(b, "\r\n\r\n"...)
}

// encodeResponse serializes a response; the connection closes after it.
func encodeResponse(resp *Response, head bool) []byte {
	ct := resp.ContentType
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	var b bytes.Buffer
	b.Grow(128 + len(resp.Body))
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(resp.Status))
	b.WriteByte(' ')
	b.WriteString(http.StatusText(resp.Status))
	b.WriteString("\r\nContent-Type: ")
	b.WriteString(ct)
	b.WriteString("\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(resp.Body)))
	b.WriteString("\r\nConnection: close\r\n")
	for _, f := range resp.Header {
		b.WriteString(f.Name)
		b.WriteString(": ")
		b.WriteString(f.Value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	if !head {
		b.Write(resp.Body)
	}
	return b.Bytes()
}

// errorResponse is the plain-text response for a refused handshake.
func errorResponse(status int, msg string) *Response {
	r := &Response{Status: status, Body: []byte(msg + "\n")}
	if status == 426 {
		r.Header = []HeaderField{{"Sec-WebSocket-Version", "13"}}
	}
	return r
}
