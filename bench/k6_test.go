package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The k6 scripts are plain JavaScript for users' own k6 (k6 is not a dependency). They must parse
// (node --check, below), and they run in the tests under bench/k6/shim, a Node stand-in for the
// k6 APIs they import (k6_live_test.go, k6_v2_test.go, k6_shim_test.go).
//
// Without node the tests skip, unless CHATD_REQUIRE_NODE=1 (CI sets it) makes that a failure;
// CHATD_REQUIRE_BROWSER=1 implies it for the parse check, as the browser test needs node too.
func TestK6ScriptsParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CHATD_REQUIRE_NODE") == "1" || os.Getenv("CHATD_REQUIRE_BROWSER") == "1" {
			t.Fatal("node is required (CHATD_REQUIRE_NODE=1 or CHATD_REQUIRE_BROWSER=1) but missing")
		}
		t.Skip("node missing")
	}
	scripts, _ := filepath.Glob("k6/*.js")
	if len(scripts) < 4 {
		t.Fatalf("k6 scripts missing: %v", scripts)
	}
	for _, s := range scripts {
		if out, err := exec.Command(node, "--check", s).CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", s, err, out)
		}
	}
}

// k6P99 is the latency threshold (the scripts' P99_MS) for the tests' runs. The tests judge
// delivery, not speed: with two runs in parallel on a busy two-CPU machine the default 100 ms
// failed (p99 148 ms). A stall of a second still fails the run.
//
// The runs' other timings: JOIN_WAIT bounds the time for every VU to connect and join before
// sending starts (joins take milliseconds on loopback); DRAIN is the wait for the last deliveries.
const k6P99 = "1000"

// k6Node returns node's path if the shim can run: node is there and the shim's npm dependencies
// are installed (npm ci in bench/k6/shim). Otherwise the test skips, or fails under
// CHATD_REQUIRE_NODE=1.
func k6Node(t *testing.T) string {
	t.Helper()
	missing := ""
	node, err := exec.LookPath("node")
	if err != nil {
		missing = "node"
	} else if _, err := os.Stat(filepath.Join("k6", "shim", "node_modules", "ws", "package.json")); err != nil {
		missing = "bench/k6/shim/node_modules (run npm ci there)"
	}
	if missing != "" {
		if os.Getenv("CHATD_REQUIRE_NODE") == "1" {
			t.Fatalf("k6 shim required (CHATD_REQUIRE_NODE=1) but %s is missing", missing)
		}
		t.Skipf("k6 shim: %s missing (set CHATD_REQUIRE_NODE=1 to fail instead)", missing)
	}
	return node
}

// k6Result is what one shim run left: its exit status and output, and the summary data the
// script's handleSummary wrote to SUMMARY_JSON (k6's shape: metrics, root_group.checks).
type k6Result struct {
	exit    int
	output  string
	Metrics map[string]struct {
		Type       string             `json:"type"`
		Values     map[string]float64 `json:"values"`
		Thresholds map[string]struct {
			OK bool `json:"ok"`
		} `json:"thresholds"`
	} `json:"metrics"`
	RootGroup struct {
		Checks []struct {
			Name   string `json:"name"`
			Passes int    `json:"passes"`
			Fails  int    `json:"fails"`
		} `json:"checks"`
	} `json:"root_group"`
}

// count is a counter's total; a counter never added to is absent from k6's summary data: 0.
func (r *k6Result) count(name string) float64 {
	return r.Metrics[name].Values["count"]
}

// runShim runs script (relative to bench/) under the shim with env as its -e variables, bounded
// in time, and returns its exit status and output.
func runShim(t *testing.T, node, script string, env map[string]string) (exit int, output string) {
	t.Helper()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []string{filepath.Join("k6", "shim", "k6.mjs"), "run"}
	for _, k := range keys {
		args = append(args, "-e", k+"="+env[k])
	}
	args = append(args, script)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	// k6 puts the process environment in __ENV too: keep it to PATH, so that a URL or DURATION
	// in the caller's environment cannot change the run.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s under the shim did not finish in time:\n%s", script, out)
	case errors.As(err, &ee):
		exit = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s under the shim: %v", script, err)
	}
	return exit, string(out)
}

// runK6 runs script under the shim and reads the summary data its handleSummary writes to
// SUMMARY_JSON.
func runK6(t *testing.T, node, script string, env map[string]string) *k6Result {
	t.Helper()
	summary := filepath.Join(t.TempDir(), "summary.json")
	env["SUMMARY_JSON"] = summary
	r := &k6Result{}
	r.exit, r.output = runShim(t, node, script, env)
	b, err := os.ReadFile(summary)
	if err != nil {
		t.Fatalf("%s wrote no summary data (exit %d): %v\n%s", script, r.exit, err, r.output)
	}
	if err := json.Unmarshal(b, r); err != nil {
		t.Fatalf("summary data of %s: %v", script, err)
	}
	return r
}

// requirePass fails the test unless the run passed: shim exit 0, every check passed at least
// once and never failed, every threshold held.
func (r *k6Result) requirePass(t *testing.T, wantChecks ...string) {
	t.Helper()
	var bad []string
	if r.exit != 0 {
		bad = append(bad, fmt.Sprintf("shim exit status %d", r.exit))
	}
	seen := map[string]bool{}
	for _, c := range r.RootGroup.Checks {
		seen[c.Name] = true
		if c.Fails != 0 || c.Passes == 0 {
			bad = append(bad, fmt.Sprintf("check %q: %d passed, %d failed", c.Name, c.Passes, c.Fails))
		}
	}
	for _, name := range wantChecks {
		if !seen[name] {
			bad = append(bad, fmt.Sprintf("check %q never ran", name))
		}
	}
	for metric, m := range r.Metrics {
		for expr, th := range m.Thresholds {
			if !th.OK {
				bad = append(bad, fmt.Sprintf("threshold %s %s failed", metric, expr))
			}
		}
	}
	if len(bad) > 0 {
		t.Fatalf("%s\n%s", strings.Join(bad, "\n"), r.output)
	}
}
