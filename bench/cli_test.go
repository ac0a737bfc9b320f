package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestMainUsageAndErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "usage") {
		t.Fatalf("no args: code %d, %q", code, errOut.String())
	}
	if code := Main([]string{"nope"}, &out, &errOut); code != 2 {
		t.Fatalf("unknown workload: code %d", code)
	}
	if code := Main([]string{"fanout", "-h"}, &out, &errOut); code != 0 {
		t.Fatalf("-h: code %d", code)
	}
	if code := Main([]string{"fanout", "-clients", "50000"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "-procs") {
		t.Fatalf("over the file limit: code %d, %q", code, errOut.String())
	}
}

func TestMainJSONAndExitCode(t *testing.T) {
	for _, misbehave := range []bool{false, true} {
		fs := newFakeServer(t, misbehave)
		var out, errOut bytes.Buffer
		code := Main([]string{"storm", "-url", fs.url(), "-clients", "6", "-rate", "500", "-count", "20",
			"-warmup", "0", "-duration", "1m", "-drain", "1m", "-progress", "0", "-json"}, &out, &errOut)
		var res Result
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("misbehave %v: JSON line: %v\n%s", misbehave, err, out.String())
		}
		wantCode := 0
		if misbehave {
			wantCode = 1
		}
		if code != wantCode || res.Pass == misbehave || res.Sent != 120 || !strings.Contains(errOut.String(), "result") {
			t.Fatalf("misbehave %v: code %d pass %v sent %d\n%s", misbehave, code, res.Pass, res.Sent, errOut.String())
		}
	}
}
