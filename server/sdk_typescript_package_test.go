package server_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server/internal/redistest"
)

// What the TypeScript client ships and shows: the bundle chatd serves, the npm package, its API
// reference, and the README's example (run as written, from a fresh copy of the repository).

// TestJSClientBundleFresh fails when server/web/chatd-client.js (committed: chatd embeds it) is
// not what clients/js/src builds to.
func TestJSClientBundleFresh(t *testing.T) {
	dir := jsToolsOrSkip(t)
	out := filepath.Join(t.TempDir(), "chatd-client.js")
	jsRun(t, dir, time.Minute, "node", "scripts/build.mjs", "web", "--out", out)
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("web/chatd-client.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("server/web/chatd-client.js (%d bytes) is out of date with clients/js/src (builds to %d bytes): "+
			"run `npm run build:web` in clients/js and commit it", len(got), len(want))
	}
}

// jsPackFiles are the files of the npm package, and nothing else: no tests, sources or maps.
var jsPackFiles = func() []string {
	files := []string{"package.json", "README.md", "docs/API.md"}
	for _, m := range []string{"backoff", "client", "emitter", "errors", "host", "index", "node", "room", "stream", "token", "transport", "wire"} {
		files = append(files, "dist/"+m+".js", "dist/"+m+".d.ts")
	}
	slices.Sort(files)
	return files
}()

// Bounds of the package, with room to grow: a package several times larger has taken in
// something it should not.
const (
	jsMaxPackedBytes   = 40 << 10
	jsMaxUnpackedBytes = 200 << 10
)

// TestJSClientPackage packs the client as npm would publish it: its file list and size are
// checked, no file carries a source map or a path of this machine, the package's entry points
// load in Node, and its declarations compile under tsc --strict in a consumer project (a Node one
// without the DOM library, and a browser one).
func TestJSClientPackage(t *testing.T) {
	longTest(t)
	dir := jsToolsOrSkip(t)
	tmp := t.TempDir()
	out := jsRun(t, dir, 3*time.Minute, "npm", "pack", "--json", "--pack-destination", tmp)
	var packs []struct {
		Filename     string `json:"filename"`
		Size         int    `json:"size"`
		UnpackedSize int    `json:"unpackedSize"`
		Files        []struct {
			Path string `json:"path"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "["):]), &packs); err != nil || len(packs) != 1 {
		t.Fatalf("npm pack --json: %v\n%s", err, out)
	}
	p := packs[0]
	var files []string
	for _, f := range p.Files {
		files = append(files, f.Path)
	}
	slices.Sort(files)
	if !slices.Equal(files, jsPackFiles) {
		t.Fatalf("package files:\n  %s\nwant:\n  %s", strings.Join(files, "\n  "), strings.Join(jsPackFiles, "\n  "))
	}
	t.Logf("%s: %d bytes packed, %d unpacked, %d files", p.Filename, p.Size, p.UnpackedSize, len(files))
	if p.Size > jsMaxPackedBytes || p.UnpackedSize > jsMaxUnpackedBytes {
		t.Fatalf("package of %d bytes (%d unpacked), over %d (%d)", p.Size, p.UnpackedSize, jsMaxPackedBytes, jsMaxUnpackedBytes)
	}

	// Unpack it where a consumer's npm install would, and look inside.
	consumer := filepath.Join(tmp, "consumer")
	pkgDir := filepath.Join(consumer, "node_modules", "@chatd", "client")
	jsUntar(t, filepath.Join(tmp, p.Filename), pkgDir)
	repo, _ := filepath.Abs("..")
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(pkgDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("sourceMappingURL")) || bytes.Contains(b, []byte(repo)) || bytes.Contains(b, []byte("/home/")) {
			t.Errorf("%s names a source map or a path of this machine", f)
		}
	}
	// ws for the /node entry, as a consumer would install it.
	if err := os.Symlink(filepath.Join(dir, "node_modules", "ws"), filepath.Join(consumer, "node_modules", "ws")); err != nil {
		t.Fatal(err)
	}
	jsWrite(t, filepath.Join(consumer, "package.json"), `{"name": "consumer", "private": true, "type": "module"}`)
	jsWrite(t, filepath.Join(consumer, "load.mjs"), `
import * as web from '@chatd/client';
import * as node from '@chatd/client/node';
for (const m of [web, node]) if (typeof m.connect !== 'function' || typeof m.ChatClient !== 'function') throw new Error('missing exports');
if (web.SUBPROTOCOL !== 'chatd.v2' || node.LocalErrorCode.Timeout !== 'timeout') throw new Error('bad constants');
const c = new web.ChatClient({ url: 'ws://127.0.0.1:1/ws', name: 'x' });
c.on('state', (s) => console.log('state', s.state, s.error && s.error.code));
c.connect(); // Node 20: no global WebSocket, and none given: HTTP streaming (to nothing) then
setTimeout(() => c.close(), 200); // it would retry for ever
console.log('loaded');
`)
	if out := jsRun(t, consumer, time.Minute, "node", "load.mjs"); !strings.Contains(out, "loaded") ||
		(!strings.Contains(out, "no_websocket") && !strings.Contains(out, "state connecting")) {
		t.Fatalf("loading the package: %s", out)
	}

	jsWrite(t, filepath.Join(consumer, "app.ts"), jsConsumerTS)
	tsc := filepath.Join(dir, "node_modules", "typescript", "bin", "tsc")
	for name, opts := range map[string]string{
		"node":    `"module": "NodeNext", "moduleResolution": "NodeNext", "lib": ["ES2022"], "types": []`,
		"browser": `"module": "ESNext", "moduleResolution": "Bundler", "lib": ["ES2022", "DOM"], "types": []`,
	} {
		cfg := filepath.Join(consumer, "tsconfig."+name+".json")
		jsWrite(t, cfg, `{"compilerOptions": {"strict": true, "noEmit": true, "target": "ES2022", "skipLibCheck": false,
			"exactOptionalPropertyTypes": true, "noUncheckedIndexedAccess": true, `+opts+`}, "files": ["app.ts"]}`)
		jsRun(t, consumer, 3*time.Minute, "node", tsc, "-p", cfg)
	}
}

// jsConsumerTS uses the client's public types as an application would, under tsc --strict.
const jsConsumerTS = `
import { connect, ChatClient, ChatError, LocalErrorCode, webSocketTransport, SUBPROTOCOL } from '@chatd/client';
import type { ClientOptions, StateEvent, Room, Message, GapEvent, RecoveredEvent, TypingEvent, MemberEvent,
  Position, JoinResult, PublishResult, PresenceResult, RoomPage, Transport, TransportFactory, WebSocketConstructor } from '@chatd/client';
import { connect as connectNode } from '@chatd/client/node';

// No console: the Node project has neither the DOM library nor @types/node, and needs neither.
const log = (...a: unknown[]): void => { void a; };

const transport: TransportFactory = (url, h) => {
  const t: Transport = { name: 'test', send(text: string) { h.message(text); }, close() { h.close(1000, url); } };
  h.open();
  return t;
};
const options: ClientOptions = { url: ['ws://a/ws', 'ws://b/ws'], getToken: async () => 'jwt', transport,
  requestTimeoutMs: 5000, reconnect: { minDelayMs: 100, maxDelayMs: 2000 } };
const client: ChatClient = connect(options);
client.on('state', (s: StateEvent) => { const code: number | undefined = s.code; void code; });
client.on('error', (e: ChatError) => { if (e.code === LocalErrorCode.Timeout) log(e.request); });
const room: Room = client.room('general');
room.on('message', (m: Message) => log(m.offset ?? 0, m.content.toUpperCase()));
room.on('gap', (g: GapEvent) => log(g.reason, g.previous.offset, g.messages.length));
room.on('recovered', (r: RecoveredEvent) => log(r.count));
room.on('typing', (t: TypingEvent) => log(t.typers.map((u) => u.name)));
room.on('joined', (m: MemberEvent) => log(m.memberCount));
async function main(): Promise<void> {
  const res: JoinResult = await room.join({ history: 10, since: { epoch: 'e', offset: 3 } });
  const pos: Position | undefined = room.position;
  const sent: PublishResult = await room.publish('hi');
  const older: Message[] = await room.history({ before: sent.offset ?? res.offset, limit: 10 });
  const who: PresenceResult = await room.presence();
  const page: RoomPage = await client.listRooms({ prefix: 'team-', limit: 50 });
  for await (const p of client.roomPages({ limit: 100 })) log(p.rooms.length, p.next);
  room.typing();
  await room.leave();
  log(pos, older.length, who.members.length, page.next, SUBPROTOCOL);
  client.close();
}
void main();
const ws: WebSocketConstructor | undefined = undefined;
void webSocketTransport;
void ws;
const n: ChatClient = connectNode({ url: 'ws://localhost:8080/ws', name: 'bot' });
n.close();
`

// jsUntar extracts an npm tarball's package/ directory into dst.
func jsUntar(t *testing.T, tgz, dst string) {
	t.Helper()
	f, err := os.Open(tgz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		name, ok := strings.CutPrefix(h.Name, "package/")
		if !ok || h.Typeflag != tar.TypeReg || strings.Contains(name, "..") {
			t.Fatalf("unexpected tarball entry %q", h.Name)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		jsWrite(t, filepath.Join(dst, name), string(b))
	}
}

func jsWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestJSClientAPIDocs fails when clients/js/docs/API.md is not what TypeDoc makes of the types.
func TestJSClientAPIDocs(t *testing.T) {
	longTest(t)
	dir := jsToolsOrSkip(t)
	out := t.TempDir()
	jsRun(t, dir, 3*time.Minute, "node", filepath.Join("node_modules", "typedoc", "bin", "typedoc"), "--out", out)
	want, err := os.ReadFile(filepath.Join(out, "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("clients/js/docs/API.md is out of date with the types: run `npm run docs` in clients/js and commit it")
	}
}

// TestJSClientReadmeExample runs the README's TypeScript client example as written, from a fresh
// copy of the repository (its tracked files: no node_modules, no dist): the README shows the file
// clients/js/examples/quickstart.mjs verbatim and the commands that run it (npm ci, npm run build,
// node examples/quickstart.mjs against a node of that copy's chatd).
func TestJSClientReadmeExample(t *testing.T) {
	longTest(t)
	jsToolsOrSkip(t)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	if i := strings.Index(section, "### TypeScript (browsers and Node 20+)"); i >= 0 {
		section = section[i:]
	} else {
		t.Fatal("README has no TypeScript client section")
	}
	if i := strings.Index(section[4:], "\n## "); i >= 0 {
		section = section[:i+4]
	}
	blocks := regexp.MustCompile("(?s)```(\\w+)\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 2 || blocks[0][1] != "sh" || blocks[1][1] != "js" {
		t.Fatalf("want a sh block of commands, then the js example, in the TypeScript client section")
	}
	example, err := os.ReadFile("../clients/js/examples/quickstart.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if blocks[1][2] != string(example) {
		t.Fatalf("the README's example is not clients/js/examples/quickstart.mjs verbatim")
	}
	var cmds []string
	for _, line := range strings.Split(blocks[0][2], "\n") {
		if c, _, _ := strings.Cut(line, "#"); strings.TrimSpace(c) != "" {
			cmds = append(cmds, strings.TrimSpace(c))
		}
	}
	wantCmds := []string{"go run ./cmd/chatd &", "cd clients/js && npm ci && npm run build", "node examples/quickstart.mjs"}
	if !slices.Equal(cmds, wantCmds) {
		t.Fatalf("README commands %q, want %q (this test runs those)", cmds, wantCmds)
	}

	// A fresh copy: the repository's tracked files only.
	fresh := filepath.Join(t.TempDir(), "chatd")
	tracked := jsRun(t, "..", time.Minute, "git", "ls-files", "-z")
	for _, f := range strings.Split(strings.TrimRight(tracked, "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree, not yet committed
			}
			t.Fatal(err)
		}
		jsWrite(t, filepath.Join(fresh, f), string(b))
	}
	// go run ./cmd/chatd, on a free port (8080 may be taken on a shared machine).
	bin := filepath.Join(t.TempDir(), "chatd")
	jsRun(t, fresh, 5*time.Minute, "go", "build", "-o", bin, "./cmd/chatd")
	n := &jsNode{t: t, bin: bin, name: "readme", addr: fmt.Sprintf("127.0.0.1:%d", redistest.FreePort(t)), logs: t.TempDir()}
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.kill() })
	js := filepath.Join(fresh, "clients", "js")
	jsRun(t, js, 5*time.Minute, "npm", "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error")
	jsRun(t, js, 5*time.Minute, "npm", "run", "build")
	cmd := exec.Command("node", "examples/quickstart.mjs")
	cmd.Dir = js
	cmd.Env = append(os.Environ(), "CHATD_URL=ws://"+n.addr+"/ws")
	done := make(chan struct{})
	var outB []byte
	go func() { outB, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the example did not end within a minute")
	}
	out := string(outB)
	t.Logf("node examples/quickstart.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("the example failed: %v", err)
	}
	for _, want := range []string{"alice's message is #1 in general", `bob got "hello from alice" from alice`, "members: alice, bob"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the example's output lacks %q", want)
		}
	}
}
