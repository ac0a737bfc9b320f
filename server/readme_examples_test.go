package server_test

import (
	"os"
	"strings"
	"testing"
)

// The README's client examples are the files the tests run: a block that
// drifted from its file would show users code nobody ran.
func TestReadmeExamplesAreTheFiles(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ fence, file string }{
		{"```go\n", "../clients/go/examples/echobot/main.go"},
		{"```js\n", "../clients/js/examples/quickstart.mjs"},
	} {
		want, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		block := tc.fence + strings.TrimRight(string(want), "\n") + "\n```\n"
		if !strings.Contains(string(readme), block) {
			t.Errorf("README.md has no %s block equal to %s", strings.TrimSpace(tc.fence), tc.file)
		}
	}
}
