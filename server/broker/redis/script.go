package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// script is a Lua script called by its SHA1 (EVALSHA), with its source at
// hand for a Redis that does not know it yet (NOSCRIPT: a restarted Redis,
// a new master). Only scripts whose calls may be re-sent out of order with
// the other commands of their pipeline are called this way: the store
// script (one call per room per publish batch, so nothing of that room is
// behind it in the pipeline, and the next batch waits for the retry) and
// the reads. The join and leave scripts, several of which may go for one
// room in one pipeline, stay EVAL (evalCmd), which a restarted Redis cannot
// refuse.
type script struct {
	src, sha string
}

func newScript(src string) *script {
	h := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(h[:])}
}

// cmd is EVALSHA of s, for send (then sendScripts) or for a client.
func (s *script) cmd(ctx context.Context, keys []string, args ...any) *goredis.Cmd {
	a := make([]any, 0, 3+len(keys)+len(args))
	a = append(a, "evalsha", s.sha, len(keys))
	for _, k := range keys {
		a = append(a, k)
	}
	a = append(a, args...)
	return goredis.NewCmd(ctx, a...)
}

// run calls s through the broker's client (reads: any order will do):
// EVALSHA, and EVAL if Redis does not know the script.
func (b *Broker) runScript(ctx context.Context, s *script, keys []string, args ...any) *goredis.Cmd {
	c := s.cmd(ctx, keys, args...)
	_ = b.client.Process(ctx, c)
	if isNoScript(c.Err()) {
		c = b.evalOf(ctx, c)
		_ = b.client.Process(ctx, c)
	}
	return c
}

// sendScripts is send for commands among which some are EVALSHA calls of
// scripts: the ones Redis refused with NOSCRIPT (they did not run) are sent
// again as EVAL, in their order, and their results copied back.
func (b *Broker) sendScripts(ctx context.Context, cmds []rcmd) {
	b.send(ctx, cmds)
	var again []rcmd
	var orig []*goredis.Cmd
	for _, c := range cmds {
		if sc, ok := c.cmd.(*goredis.Cmd); ok && isNoScript(sc.Err()) {
			again = append(again, rcmd{c.slot, b.evalOf(ctx, sc)})
			orig = append(orig, sc)
		}
	}
	if len(again) == 0 {
		return
	}
	b.stats.scriptLoads.Add(int64(len(again)))
	b.send(ctx, again)
	for i, c := range again {
		v := c.cmd.(*goredis.Cmd)
		orig[i].SetVal(v.Val())
		orig[i].SetErr(v.Err())
	}
}

// evalOf turns an EVALSHA command of a known script into its EVAL.
func (b *Broker) evalOf(ctx context.Context, c *goredis.Cmd) *goredis.Cmd {
	args := append([]any(nil), c.Args()...)
	sha, _ := args[1].(string)
	src, ok := scriptsBySHA[sha]
	if !ok {
		return c
	}
	args[0], args[1] = "eval", src
	return goredis.NewCmd(ctx, args...)
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// The scripts called by SHA (history.go).
var (
	scStore = newScript(srcStore)
	scRead  = newScript(srcRead)

	scriptsBySHA = map[string]string{scStore.sha: scStore.src, scRead.sha: scRead.src}
)
