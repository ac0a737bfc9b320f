package backendhttp_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatd/chatd/server/internal/backendhttp"
)

// A redirect comes back as the answer: the secret never reaches where it
// points. The headers are what every call carries.
func TestClientKeepsTheSecretHome(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	var got http.Header
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		http.Redirect(w, r, other.URL, http.StatusTemporaryRedirect)
	}))
	defer backend.Close()
	c := backendhttp.Client(2, time.Second, time.Second)
	req, _ := http.NewRequest(http.MethodPost, backend.URL, nil)
	req.Header = backendhttp.Header("s3cret-s3cret-s3cret", "chatd-test", "publish", "n1")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || elsewhere.Load() != 0 {
		t.Fatalf("status %d, %d calls elsewhere: want the redirect as the answer and none", resp.StatusCode, elsewhere.Load())
	}
	want := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer s3cret-s3cret-s3cret",
		"User-Agent": "chatd-test", "X-Chatd-Hook": "publish", "X-Chatd-Node": "n1"}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s: %q, want %q", k, got.Get(k), v)
		}
	}
	if h := backendhttp.Header("x", "a", "sink", ""); h.Get("X-Chatd-Node") != "" {
		t.Errorf("X-Chatd-Node %q without a node id", h.Get("X-Chatd-Node"))
	}
}
