// Command abuse replays the attacks of issue 24 against a chatd binary on
// loopback and writes what each did as one JSON file, so that a build from
// before the fixes (fe394d1) and one after can be set side by side
// (BENCHMARKS.md §Abuse; scripts/measure/abuse/run-all.sh runs them all).
//
//	go run ./scripts/measure/abuse <attack> -chatd BIN -label before|after|... [-out FILE] [-small]
//	go run ./scripts/measure/abuse table FILE...        # a Markdown table of results
//
// Attacks (each starts its own private redis-server and nodes, with chatd's
// default flags unless the attack needs one, and stops them at the end):
//
//	slots      a: v2 upgrades that never say hello, -auth required: slots held, for how long, a real user's chance
//	userrate   b: publish and presence across 50 connections of one user (two nodes)
//	churn      c: join/leave churn of 10 connections in a 2,000-member room: a probe's p99 (two nodes)
//	presence   d: presence at the rate limit by 10 connections in that room: a probe's p99 (two nodes)
//	slowread   e: 400 non-reading members, two publishers of 60 KB messages: node RSS, how readers are closed
//	headers    f: duplicate Host / Origin headers on the upgrade: the status
//	expstring  g: a token whose exp is a string: refused or not
//	roomlist   h: the room list for tokens with rooms [] and ["general"] (v2 rooms, v1 getRoomList; two nodes)
//	listcost   i: the room list rebuild with 50,400 rooms: node CPU with one client asking every 2 s (two nodes)
//	history    j: Redis used_memory after 10 connections x 64 rooms publish 65,000-byte messages; bytes per one-message room (two nodes)
//
// Every load loop is bounded in count and time; -small shrinks the counts for a quick check.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// result is one attack against one build, as written to the JSON file.
type result struct {
	Attack   string         `json:"attack"`
	Label    string         `json:"label"`
	Chatd    string         `json:"chatd"`
	Commit   string         `json:"commit,omitempty"`
	Date     string         `json:"date"`
	Small    bool           `json:"small,omitempty"`
	Setup    string         `json:"setup"`
	LoadAvg  [2]string      `json:"loadavg"` // /proc/loadavg before and after: the box is shared
	Seconds  float64        `json:"seconds"`
	Figures  map[string]any `json:"figures"`
	Summary  string         `json:"summary"` // one line for the table
	ErrorMsg string         `json:"error,omitempty"`
}

type env struct {
	chatd string
	small bool
	dir   string // scratch folder, removed at the end
	res   *result
	extra []string // -chatd-flags
}

// fig records one figure of the result.
func (e *env) fig(k string, v any) { e.res.Figures[k] = v }

type attack struct {
	letter, what string
	run          func(*env) error
}

var attacks = map[string]attack{
	"slots":     {"a", "hello-less slot holders, -auth required", runSlots},
	"userrate":  {"b", "publish/presence over 50 connections of one user", runUserRate},
	"churn":     {"c", "join/leave churn in a 2,000-member room: probe p99", runChurn},
	"presence":  {"d", "presence at the rate limit by 10 connections: probe p99", runPresence},
	"slowread":  {"e", "400 non-readers, two 60 KB publishers: node RSS", runSlowRead},
	"headers":   {"f", "duplicate Host / Origin", runHeaders},
	"expstring": {"g", "exp as a string", runExpString},
	"roomlist":  {"h", "room list for rooms [] / [\"general\"]", runRoomList},
	"listcost":  {"i", "room list rebuild, 50,400 rooms", runListCost},
	"history":   {"j", "history filling Redis", runHistory},
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	name := os.Args[1]
	if name == "table" {
		if err := printTable(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "abuse table:", err)
			os.Exit(1)
		}
		return
	}
	a, ok := attacks[name]
	if !ok {
		usage()
	}
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	chatd := fs.String("chatd", "bin/chatd", "chatd binary to attack")
	label := fs.String("label", "after", "the build's label in the result (before, after, history, ...)")
	out := fs.String("out", "", "write the JSON result here (default: stdout)")
	commit := fs.String("commit", "", "the commit the binary was built from (recorded in the result)")
	extra := fs.String("chatd-flags", "", "more chatd flags for every node, space-separated (recorded in the setup)")
	small := fs.Bool("small", os.Getenv("SMALL") == "1", "smaller counts, for a quick check")
	_ = fs.Parse(os.Args[2:])
	bin, err := filepath.Abs(*chatd)
	if err != nil {
		fatal(err)
	}
	dir, err := os.MkdirTemp("", "abuse-"+name)
	if err != nil {
		fatal(err)
	}
	res := &result{Attack: a.letter + " " + name, Label: *label, Chatd: bin, Commit: *commit, Date: time.Now().UTC().Format(time.RFC3339),
		Small: *small, Figures: map[string]any{}}
	e := &env{chatd: bin, small: *small, dir: dir, res: res, extra: strings.Fields(*extra)}
	res.LoadAvg[0] = loadavg()
	start := time.Now()
	runErr := a.run(e)
	res.Seconds = time.Since(start).Seconds()
	res.LoadAvg[1] = loadavg()
	os.RemoveAll(dir)
	if runErr != nil {
		res.ErrorMsg = runErr.Error()
		fmt.Fprintf(os.Stderr, "abuse %s (%s): %v\n", name, *label, runErr)
	}
	fmt.Fprintf(os.Stderr, "abuse %s (%s): %s\n", name, *label, res.Summary)
	b, _ := json.MarshalIndent(res, "", "  ")
	b = append(b, '\n')
	if *out == "" {
		_, _ = os.Stdout.Write(b)
	} else if err := os.WriteFile(*out, b, 0o644); err != nil {
		fatal(err)
	}
	if runErr != nil {
		os.Exit(1)
	}
}

func usage() {
	var names []string
	for n, a := range attacks {
		names = append(names, a.letter+" "+n+": "+a.what)
	}
	fmt.Fprintf(os.Stderr, "usage: abuse <attack> -chatd BIN -label L [-out FILE] [-small] | abuse table FILE...\nattacks:\n  %s\n",
		strings.Join(sortStrings(names), "\n  "))
	os.Exit(2)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "abuse:", err)
	os.Exit(1)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
