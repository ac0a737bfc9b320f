package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chatd/chatd/server/api"
)

// fakeBackend answers every call with err (or a fixed result).
type fakeBackend struct{ err error }

func (f *fakeBackend) Publish(context.Context, *api.PublishRequest) (*api.Published, error) {
	return &api.Published{RoomID: "r"}, f.err
}
func (f *fakeBackend) Rooms(context.Context, string, string, int) (*api.RoomsPage, error) {
	return &api.RoomsPage{Rooms: []api.Room{}}, f.err
}
func (f *fakeBackend) Members(ctx context.Context, _ string, _ int) (*api.Members, error) {
	if f.err == context.DeadlineExceeded {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &api.Members{}, f.err
}
func (f *fakeBackend) Disconnect(context.Context, string) (*api.Disconnected, error) {
	return &api.Disconnected{}, f.err
}

const key = "0123456789abcdef"

func call(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	if ct := w.Result().Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	return w.Code, string(b)
}

// Backend errors: an *api.Error as it is, a timeout as 503, anything else
// as a 500 that says nothing of its cause; a backend without history
// answers the history endpoints 501.
func TestErrorsAndStatuses(t *testing.T) {
	if _, err := api.New(&fakeBackend{}, api.Options{Key: "short"}); err == nil {
		t.Fatal("short key accepted")
	}
	fb := &fakeBackend{}
	h, err := api.New(fb, api.Options{Key: key, Timeout: 50e6})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := call(t, h, "GET", "/api/rooms", ""); code != 200 || body != "{\"rooms\":[]}\n" {
		t.Fatalf("rooms: %d %s", code, body)
	}
	fb.err = errors.New("secret internal detail")
	if code, body := call(t, h, "POST", "/api/users/u/disconnect", ""); code != 500 || strings.Contains(body, "secret") ||
		!strings.Contains(body, `"code":"internal"`) {
		t.Fatalf("internal error: %d %s", code, body)
	}
	fb.err = api.Errorf(404, "no_room", "No room %q", "x")
	if code, body := call(t, h, "POST", "/api/publish", `{"roomId":"x","content":"c"}`); code != 404 ||
		body != `{"error":{"code":"no_room","message":"No room \"x\""}}`+"\n" {
		t.Fatalf("backend error: %d %s", code, body)
	}
	fb.err = context.DeadlineExceeded
	if code, body := call(t, h, "GET", "/api/rooms/r/members", ""); code != 503 || !strings.Contains(body, "cluster_unavailable") {
		t.Fatalf("timeout: %d %s", code, body)
	}
	for _, m := range []string{"GET", "DELETE"} {
		if code, body := call(t, h, m, "/api/rooms/r/history", ""); code != 501 || !strings.Contains(body, "not_implemented") {
			t.Fatalf("%s history: %d %s", m, code, body)
		}
	}
}
