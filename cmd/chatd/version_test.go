package main

import (
	"bufio"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFormatVersion(t *testing.T) {
	vcs := func(kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
		for i := 0; i+1 < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	rev := "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		v    string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"dev", vcs("vcs.revision", rev, "vcs.time", "2026-01-02T03:04:05Z", "vcs.modified", "false"), true,
			"chatd dev, revision " + rev + " (2026-01-02T03:04:05Z), go"},
		{"dev", vcs("vcs.revision", rev, "vcs.modified", "true"), true, "chatd dev, revision " + rev + " (modified), go"},
		{"v1.4.0", vcs("vcs.revision", rev), true, "chatd v1.4.0, revision " + rev + ", go"},
		{"dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}, true, "chatd v1.3.0, no VCS revision"},
		{"v2.0.0", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}, true, "chatd v2.0.0, no VCS revision"},
		{"dev", vcs(), true, "chatd dev, no VCS revision"},
		{"dev", nil, false, "chatd dev, no VCS revision"},
	} {
		if got := formatVersion(tc.v, tc.bi, tc.ok); !strings.HasPrefix(got, tc.want) {
			t.Errorf("got %q, want it to start with %q", got, tc.want)
		}
	}
}

// A plain `go build` of a git checkout reports its commit in -version; and
// CHATD_VERSION / CHATD_HELP in the environment do not stop it from serving.
//
// The build runs in a fresh git repository holding a copy of this source
// tree: Go stamps no revision in a git worktree (.git is a file there), and
// the copy also covers uncommitted changes. -buildvcs=true overrides a
// GOFLAGS=-buildvcs=false in the developer's go env. Without git it skips,
// unless CHATD_REQUIRE_GIT=1 (CI sets it) makes that a failure.
func TestGoBuildVersionShowsRevision(t *testing.T) {
	longTest(t)
	git, err := exec.LookPath("git")
	if err != nil {
		if os.Getenv("CHATD_REQUIRE_GIT") == "1" {
			t.Fatalf("git is required (CHATD_REQUIRE_GIT=1) but missing: %v", err)
		}
		t.Skip("git is not installed: go build cannot stamp a revision without it (set CHATD_REQUIRE_GIT=1 to fail instead)")
	}
	dir := t.TempDir()
	copyTree(t, "../..", dir)
	if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
		t.Fatal("the copy has a .git: git would work on the original repository")
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		// GIT_CEILING_DIRECTORIES: never let git find a repository above dir.
		cmd.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(git, "init", "-q")
	run(git, "add", "-A")
	run(git, "commit", "-q", "-m", "snapshot")
	head := run(git, "rev-parse", "HEAD")
	bin := filepath.Join(dir, "chatd-bin")
	run("go", "build", "-buildvcs=true", "-o", bin, "./cmd/chatd")

	out := run(bin, "-version")
	if !strings.Contains(out, "revision "+head) || strings.Contains(out, "modified") {
		t.Fatalf("-version printed %q, want revision %s, unmodified", out, head)
	}

	// The same binary, with CHATD_VERSION and CHATD_HELP set, serves.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "CHATD_VERSION=1", "CHATD_HELP=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "chatd node listening") {
			break
		}
	}
	if !strings.Contains(log.String(), "chatd node listening") {
		_ = cmd.Wait()
		t.Fatalf("chatd with CHATD_VERSION=1 CHATD_HELP=1 did not serve:\n%s", log.String())
	}
	for _, want := range []string{"CHATD_VERSION is ignored", "CHATD_HELP is ignored", head} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("start-up log lacks %q:\n%s", want, log.String())
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("chatd did not stop cleanly on SIGTERM: %v", err)
	}
}

// copyTree copies the source tree at src to dst, without version control
// (.git is a file in a git worktree: skipped too), build output and
// installed node modules.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	skip := map[string]bool{".git": true, "tmp": true, "bin": true, "node_modules": true}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.Name() == ".git" && !d.IsDir() {
			return nil
		}
		if d.IsDir() {
			if skip[d.Name()] && rel != "." {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(filepath.Join(dst, rel), b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}
