package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// TestMainJSONAndExitCode runs the CLI against a fake server that misdelivers each way in
// turn: the verdict names exactly the faults the server committed (its own record counts them),
// in the JSON result, on the summary's result line and in the exit status.
func TestMainJSONAndExitCode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults fault
		code   int
	}{
		{"clean", faultsNone, ExitPass},
		{"loses", faultDrop, ExitFail | ExitLost},
		{"duplicates", faultDup, ExitFail | ExitDuplicated},
		{"reorders", faultHold, ExitFail | ExitReordered},
		{"all three", faultsAll, ExitFail | ExitLost | ExitDuplicated | ExitReordered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServerWith(t, tc.faults)
			var out, errOut bytes.Buffer
			const clients, count = 6, 20
			code := Main([]string{"storm", "-url", fs.url(), "-clients", fmt.Sprint(clients), "-rate", "500", "-count", fmt.Sprint(count),
				"-warmup", "0", "-duration", "1m", "-drain", "1m", "-progress", "0", "-json"}, &out, &errOut)
			var res Result
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("JSON line: %v\n%s", err, out.String())
			}
			// What the server did, from its own record: one room, every member sends count.
			o := fs.oracle()
			lost := uint64(clients*count*(clients-1)) - o.delivered
			var want []string
			for _, f := range []struct {
				n    uint64
				what string
			}{{lost, "messages lost"}, {o.duplicated, "messages duplicated"}, {o.outOfOrder, "messages out of order"}} {
				if f.n > 0 {
					want = append(want, fmt.Sprintf("%d %s", f.n, f.what))
				}
			}
			// Each fault the server was set to commit happened, and no other.
			if (tc.faults&faultDrop != 0) != (lost > 0) || (tc.faults&faultDup != 0) != (o.duplicated > 0) ||
				(tc.faults&faultHold != 0) != (o.outOfOrder > 0) {
				t.Fatalf("the fake server's pattern: lost %d, duplicated %d, out of order %d", lost, o.duplicated, o.outOfOrder)
			}
			line := "result    PASS"
			if len(want) > 0 {
				line = "result    FAIL: " + strings.Join(want, "; ")
			}
			if code != tc.code || res.Pass != (tc.code == ExitPass) || res.Sent != clients*count ||
				strings.Join(res.Failures, "; ") != strings.Join(want, "; ") || !strings.Contains(errOut.String(), line+"\n") {
				t.Fatalf("exit status %d (want %d), pass %v, sent %d, failures %q (want %q)\n%s",
					code, tc.code, res.Pass, res.Sent, res.Failures, want, errOut.String())
			}
		})
	}
}
