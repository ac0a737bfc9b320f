package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The k6 scripts are plain JavaScript for users' own k6 (k6 is not a
// dependency); the least they must do is parse. node --check does that.
// Without node the test skips, unless CHATD_REQUIRE_BROWSER=1 (CI, which
// installs node for the browser test) makes that a failure.
func TestK6ScriptsParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CHATD_REQUIRE_BROWSER") == "1" {
			t.Fatal("node is required (CHATD_REQUIRE_BROWSER=1) but missing")
		}
		t.Skip("node missing")
	}
	scripts, _ := filepath.Glob("k6/*.js")
	if len(scripts) < 3 {
		t.Fatalf("k6 scripts missing: %v", scripts)
	}
	for _, s := range scripts {
		if out, err := exec.Command(node, "--check", s).CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", s, err, out)
		}
	}
}
