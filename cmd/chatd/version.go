package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=..." (the
// Dockerfile does); otherwise the module version Go stamped, if any.
var version = "dev"

// versionString is what -version prints and the first log line says: the
// version, and the commit the binary was built from as Go records it in
// every build made inside a git checkout (go build, go install, go run).
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	return formatVersion(version, bi, ok)
}

// formatVersion renders the version from its parts, so that every form is
// testable.
func formatVersion(v string, bi *debug.BuildInfo, ok bool) string {
	settings := map[string]string{}
	if ok {
		// go build in a checkout stamps e.g. v1.2.0 or a pseudo-version;
		// "(devel)" means it knew nothing.
		if m := bi.Main.Version; v == "dev" && m != "" && m != "(devel)" {
			v = m
		}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
	}
	var b strings.Builder
	b.WriteString("chatd " + v + ", ")
	if rev := settings["vcs.revision"]; rev != "" {
		b.WriteString("revision " + rev)
		var extra []string
		if t := settings["vcs.time"]; t != "" {
			extra = append(extra, t)
		}
		if settings["vcs.modified"] == "true" {
			extra = append(extra, "modified")
		}
		if len(extra) > 0 {
			b.WriteString(" (" + strings.Join(extra, ", ") + ")")
		}
	} else {
		b.WriteString("no VCS revision (not stamped: go run without -buildvcs=true, a git worktree, a build outside a git clone, or -buildvcs=false)")
	}
	b.WriteString(", " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH)
	return b.String()
}
