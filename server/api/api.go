// Package api is chatd's server API: HTTP + JSON for a backend to publish
// into rooms as the system, list rooms and members, disconnect users and
// (with history) read or delete a room's history. It does HTTP only —
// routing, the bearer key, JSON in and out, errors with fitting statuses —
// and calls a Backend (the chat node) for the work. It imports nothing of
// the chat; the chat node implements Backend.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults (server/defaults.go repeats them by name).
const (
	MinKeyBytes         = 16               // a shorter key is refused: it could be guessed
	DefaultMaxBodyBytes = 64 << 10         // largest request body; larger gets 413
	DefaultTimeout      = 10 * time.Second // a request that needs the cluster fails (503) after this
)

// Backend does the work of the API. Errors that are an *Error reach the
// caller as they are; any other error is a 500 (logged by the backend).
type Backend interface {
	// Publish sends a message to a room as the system user: stored and
	// delivered like any member's message, on every node.
	Publish(ctx context.Context, p *PublishRequest) (*Published, error)
	// Rooms returns one page of the cluster's rooms, by id.
	Rooms(ctx context.Context, after, prefix string, limit int) (*RoomsPage, error)
	// Members lists up to limit of a room's members, cluster-wide (limit 0:
	// the backend's maximum).
	Members(ctx context.Context, roomID string, limit int) (*Members, error)
	// Disconnect closes every connection of a user, on every node.
	Disconnect(ctx context.Context, userID string) (*Disconnected, error)
}

// HistoryBackend is the part of a Backend that needs stored history. The
// history endpoints answer 501 until the Backend implements it.
type HistoryBackend interface {
	// History returns up to limit stored messages before the offset before
	// (0: from the newest), oldest first.
	History(ctx context.Context, roomID string, before uint64, limit int) (*HistoryPage, error)
	// DeleteHistory deletes a room's stored messages.
	DeleteHistory(ctx context.Context, roomID string) (*Deleted, error)
}

// PublishRequest is the body of POST /api/publish.
type PublishRequest struct {
	RoomID  string `json:"roomId"`
	Content string `json:"content"`
	Name    string `json:"name,omitempty"` // the sender's display name; empty: the backend's default
}

// Published answers POST /api/publish.
type Published struct {
	RoomID    string `json:"roomId"`
	UserID    string `json:"userId"`
	Name      string `json:"name"`
	Offset    uint64 `json:"offset,omitempty"` // with history: the message's offset in the room
	Timestamp string `json:"timestamp"`
}

// Room is one entry of a rooms page.
type Room struct {
	RoomID      string `json:"roomId"`
	Name        string `json:"name"`
	MemberCount int    `json:"memberCount"`
	CreatedAt   string `json:"createdAt"`
}

// RoomsPage answers GET /api/rooms.
type RoomsPage struct {
	Rooms []Room `json:"rooms"`
	Next  string `json:"next,omitempty"` // the after of the next page; absent on the last
}

// Member is one member of a room.
type Member struct {
	UserID string `json:"userId"`
	Name   string `json:"name"`
}

// Members answers GET /api/rooms/{id}/members.
type Members struct {
	RoomID      string   `json:"roomId"`
	MemberCount int      `json:"memberCount"`
	Members     []Member `json:"members"`
	Truncated   bool     `json:"truncated,omitempty"`
}

// Disconnected answers POST /api/users/{id}/disconnect.
type Disconnected struct {
	UserID string `json:"userId"`
}

// HistoryPage answers GET /api/rooms/{id}/history: messages in the shape of
// the v2 message push, oldest first.
type HistoryPage struct {
	RoomID   string `json:"roomId"`
	Messages any    `json:"messages"`
}

// Deleted answers DELETE /api/rooms/{id}/history.
type Deleted struct {
	RoomID string `json:"roomId"`
}

// Error is a refused request: its status, a stable code and a clear message.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf makes an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Options configures the API.
type Options struct {
	// Key is the bearer key callers must send; at least MinKeyBytes.
	Key string
	// MaxBodyBytes bounds a request body. Zero: DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Timeout bounds one request. Zero: DefaultTimeout.
	Timeout time.Duration
	// Observe, if set, is told each answered request's endpoint and status.
	Observe func(endpoint string, status int)
}

// handler serves the API.
type handler struct {
	b    Backend
	o    Options
	key  [sha256.Size]byte
	mux  *http.ServeMux
	hist HistoryBackend // nil until the backend has history
}

// New returns the API's handler, for paths under /api/.
func New(b Backend, o Options) (http.Handler, error) {
	if len(o.Key) < MinKeyBytes {
		return nil, fmt.Errorf("api: key is %d bytes, want at least %d", len(o.Key), MinKeyBytes)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	h := &handler{b: b, o: o, key: sha256.Sum256([]byte(o.Key)), mux: http.NewServeMux()}
	h.hist, _ = b.(HistoryBackend)
	h.route("/api/publish", map[string]endpoint{"POST": {"publish", h.publish}})
	h.route("/api/rooms", map[string]endpoint{"GET": {"rooms", h.rooms}})
	h.route("/api/rooms/{id}/members", map[string]endpoint{"GET": {"members", h.members}})
	h.route("/api/rooms/{id}/history", map[string]endpoint{"GET": {"history", h.history},
		"DELETE": {"delete_history", h.deleteHistory}})
	h.route("/api/users/{id}/disconnect", map[string]endpoint{"POST": {"disconnect", h.disconnect}})
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.write(w, "unknown", nil, Errorf(http.StatusNotFound, "not_found", "No API endpoint at %s", r.URL.Path))
	})
	return h, nil
}

// endpoint is one method of one path: its metric name and its function.
type endpoint struct {
	name string
	fn   func(*http.Request) (any, error)
}

// route registers a path's methods; other methods get a JSON 405.
func (h *handler) route(pattern string, methods map[string]endpoint) {
	var allow []string
	for m := range methods {
		allow = append(allow, m)
	}
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		ep, ok := methods[r.Method]
		if !ok {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			h.write(w, "unknown", nil, Errorf(http.StatusMethodNotAllowed, "method_not_allowed",
				"%s is not allowed here (allowed: %s)", r.Method, strings.Join(allow, ", ")))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.o.Timeout)
		defer cancel()
		v, err := ep.fn(r.WithContext(ctx))
		h.write(w, ep.name, v, err)
	})
}

// ServeHTTP checks the key, then routes. Every answer is JSON.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chatd"`)
		h.write(w, "unknown", nil, Errorf(http.StatusUnauthorized, "unauthorized",
			"Send the API key as Authorization: Bearer <key>"))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// authorized compares the bearer key in constant time (hashes of equal
// length, so not even the key's length leaks).
func (h *handler) authorized(r *http.Request) bool {
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	return subtle.ConstantTimeCompare(sum[:], h.key[:]) == 1
}

// write answers v (200) or err as JSON.
func (h *handler) write(w http.ResponseWriter, name string, v any, err error) {
	status := http.StatusOK
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = Errorf(http.StatusInternalServerError, "internal", "Internal error")
		}
		if errors.Is(err, context.DeadlineExceeded) {
			e = Errorf(http.StatusServiceUnavailable, "cluster_unavailable", "The cluster did not answer in time")
		}
		status = e.Status
		v = struct {
			Error *Error `json:"error"`
		}{e}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	if h.o.Observe != nil {
		h.o.Observe(name, status)
	}
}

// decode reads a JSON body into v: one object, no unknown fields.
func (h *handler) decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, h.o.MaxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooBig):
		return Errorf(http.StatusRequestEntityTooLarge, "too_large", "Request body over %d bytes", h.o.MaxBodyBytes)
	case errors.Is(err, io.EOF):
		return Errorf(http.StatusBadRequest, "invalid_json", "Request body must be a JSON object")
	}
	return Errorf(http.StatusBadRequest, "invalid_json", "Request body is not the expected JSON: %v", err)
}

// required refuses a blank field.
func required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return Errorf(http.StatusBadRequest, "missing_field", "Field %q is required", field)
	}
	return nil
}

// intParam reads a non-negative integer query parameter (0 when absent).
func intParam(r *http.Request, name string) (uint64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, Errorf(http.StatusBadRequest, "bad_field", "Parameter %q must be a non-negative integer", name)
	}
	return n, nil
}

func (h *handler) publish(r *http.Request) (any, error) {
	var p PublishRequest
	if err := h.decode(r, &p); err != nil {
		return nil, err
	}
	if err := required("roomId", p.RoomID); err != nil {
		return nil, err
	}
	if p.Content == "" {
		return nil, Errorf(http.StatusBadRequest, "bad_content", `Field "content" must be a non-empty string`)
	}
	return h.b.Publish(r.Context(), &p)
}

func (h *handler) rooms(r *http.Request) (any, error) {
	limit, err := intParam(r, "limit")
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	return h.b.Rooms(r.Context(), q.Get("after"), q.Get("prefix"), int(min(limit, 1<<30)))
}

func (h *handler) members(r *http.Request) (any, error) {
	limit, err := intParam(r, "limit")
	if err != nil {
		return nil, err
	}
	return h.b.Members(r.Context(), r.PathValue("id"), int(min(limit, 1<<30)))
}

func (h *handler) disconnect(r *http.Request) (any, error) {
	if err := required("userId", r.PathValue("id")); err != nil {
		return nil, err
	}
	return h.b.Disconnect(r.Context(), r.PathValue("id"))
}

func (h *handler) history(r *http.Request) (any, error) {
	if h.hist == nil {
		return nil, errNoHistory
	}
	before, err := intParam(r, "before")
	if err != nil {
		return nil, err
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return nil, err
	}
	return h.hist.History(r.Context(), r.PathValue("id"), before, int(min(limit, 1<<30)))
}

func (h *handler) deleteHistory(r *http.Request) (any, error) {
	if h.hist == nil {
		return nil, errNoHistory
	}
	return h.hist.DeleteHistory(r.Context(), r.PathValue("id"))
}

var errNoHistory = Errorf(http.StatusNotImplemented, "not_implemented", "This server keeps no message history")
