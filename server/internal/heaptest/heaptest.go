// Package heaptest runs a test that measures the heap in a process of its
// own. A package's other tests leave goroutines behind (brokers, connection
// pools, timers) that allocate and free while the test reads
// runtime.MemStats, and its figures moved by tens of bytes per member with
// them: a bound near the real figure failed at random, and one far from it
// guarded nothing.
package heaptest

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
)

const env = "CHATD_HEAPTEST_ALONE"

// Alone reports whether the calling test runs by itself, in a child
// process of the test binary: then it measures. Otherwise Alone runs it so,
// logs the child's output, fails if the child failed, and returns false:
// the caller returns at once.
func Alone(t *testing.T) bool {
	t.Helper()
	if os.Getenv(env) == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("in a process of its own:\n%s", out)
	if err != nil {
		t.Fatalf("the test alone: %v", err)
	}
	return false
}
