package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker/memory"
	"github.com/chatd/chatd/server/hooks"
	"github.com/chatd/chatd/server/internal/redistest"
	"github.com/chatd/chatd/server/sink"
)

// The README's example backend (scripts/examples/sinkbackend: Go, SQLite)
// run for real: its publish hook refuses the banned word, and the sink
// fills its database with every other message, once, in order, also when
// a batch is delivered twice. Its module (a pure-Go SQLite driver) comes
// from the Go module proxy: without it the test skips, unless
// CHATD_REQUIRE_EXAMPLES=1 (CI), where that is a failure.
func TestExampleSinkBackend(t *testing.T) {
	longTest(t)
	bin := buildExampleBackend(t)
	addr := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	cmd := exec.Command(bin, "-addr", addr, "-db", filepath.Join(t.TempDir(), "chat.db"), "-ban", "spam")
	cmd.Env = append(os.Environ(), "CHATD_HOOK_SECRET="+sinkSecret)
	out, err := os.Create(filepath.Join(t.TempDir(), "backend.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("backend log:\n%s", b)
		}
	})
	base := "http://" + addr
	waitFor(t, 10*time.Second, "the example backend up", func() bool {
		resp, err := http.Get(base + "/messages?roomId=x")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized // (no secret)
	})

	s := startServer(t, func(c *server.Config) {
		c.Broker = memory.New(memory.Options{Sink: sink.NewMemory(0, 0)})
		c.Hooks.Publish = hooks.Endpoint{URL: base + "/publish"}
		c.Hooks.Secret = sinkSecret
		c.Sink = sink.Config{URL: base + "/sink", Poll: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	})
	v2 := connectV2(t, s.Addr(), "bob")
	v2.join("lobby")
	v2.publish("lobby", "hello")
	if e := v2.callError(map[string]any{"type": "publish", "roomId": "lobby", "content": "buy SPAM now"}, "banned_word"); e.str("message") != "That word is not allowed here" {
		t.Fatalf("refusal %v", e)
	}
	v2.publish("lobby", "bye, spammers") // not the whole word
	v1 := dialChat(t, s.Addr())
	v1.join("den", "alice")
	sendChat(v1, "from v1")

	type row struct {
		Epoch    string `json:"epoch"`
		Offset   int    `json:"offset"`
		UserID   string `json:"userId"`
		Username string `json:"username"`
		Content  string `json:"content"`
	}
	rows := func(room string) []row {
		req, _ := http.NewRequest("GET", base+"/messages?roomId="+room, nil)
		req.Header.Set("Authorization", "Bearer "+sinkSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []row
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	waitFor(t, 10*time.Second, "the database to hold the messages", func() bool {
		return len(rows("lobby")) == 2 && len(rows("den")) == 1
	})
	lobby := rows("lobby")
	if lobby[0].Content != "hello" || lobby[0].Offset != 1 || lobby[1].Content != "bye, spammers" || lobby[1].Offset != 2 ||
		lobby[0].UserID != v2.userID || lobby[0].Username != "bob" {
		t.Fatalf("lobby rows %+v", lobby)
	}
	if den := rows("den"); den[0].Content != "from v1" || den[0].Username != "alice" {
		t.Fatalf("den rows %+v", den)
	}

	// A batch delivered again (chatd delivers at least once) is
	// de-duplicated by the database's key.
	again := `{"node":"n","messages":[{"roomId":"lobby","epoch":"` + lobby[0].Epoch + `","offset":1,` +
		`"storedAt":"2026-12-06T14:50:14.060Z","message":{"type":"message","content":"hello","username":"bob","userId":"` +
		v2.userID + `","timestamp":"2026-12-06T14:50:14.056Z"}}]}`
	req, _ := http.NewRequest("POST", base+"/sink", strings.NewReader(again))
	req.Header.Set("Authorization", "Bearer "+sinkSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || len(rows("lobby")) != 2 {
		t.Fatalf("a repeated batch: %d, %d rows", resp.StatusCode, len(rows("lobby")))
	}
	// Callers without the secret are refused.
	resp, err = http.Post(base+"/sink", "application/json", strings.NewReader(again))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no secret: %d", resp.StatusCode)
	}
}

// buildExampleBackend builds scripts/examples/sinkbackend (its own Go
// module) into a temporary directory.
func buildExampleBackend(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "sinkbackend")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "scripts", "examples", "sinkbackend")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CHATD_REQUIRE_EXAMPLES") == "1" {
			t.Fatalf("build the example backend: %v\n%s", err, out)
		}
		t.Skipf("cannot build the example backend (its SQLite module may be out of reach): %v\n%s", err, out)
	}
	t.Logf("built the example backend in %v", time.Since(start).Round(time.Millisecond))
	return bin
}
