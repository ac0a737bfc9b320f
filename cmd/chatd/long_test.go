package main

import (
	"os"
	"testing"
)

// longTest skips t unless CHATD_LONG_TESTS=1 (CI sets it): the long fault, soak and browser tests run in
// CI, and `go test ./...` stays quick for a newcomer.
func longTest(t *testing.T) {
	t.Helper()
	if os.Getenv("CHATD_LONG_TESTS") != "1" {
		t.Skip("long test: set CHATD_LONG_TESTS=1 to run it (CI does)")
	}
}
