package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
)

// The HTTP streaming flags reach the config, from the command line or the environment, with the
// defaults of server/defaults.go; bad values are refused.
func TestStreamFlags(t *testing.T) {
	o, err := parseFlags(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.NoStream || c.StreamResume != server.DefaultStreamResume || c.StreamReplayBytes != server.DefaultStreamReplayBytes ||
		c.StreamBatch != server.DefaultStreamBatch {
		t.Fatalf("defaults: off %v resume %v replay %d batch %d", c.NoStream, c.StreamResume, c.StreamReplayBytes, c.StreamBatch)
	}
	o, err = parseFlags([]string{"-http-stream=false", "-stream-resume", "-1s", "-stream-batch", "8"},
		env(map[string]string{"CHATD_STREAM_REPLAY_BYTES": "1048576", "CHATD_STREAM_BATCH": "99"}))
	if err != nil {
		t.Fatal(err)
	}
	c = o.cfg
	if !c.NoStream || c.StreamResume != -time.Second || c.StreamReplayBytes != 1<<20 || c.StreamBatch != 8 {
		t.Fatalf("set: off %v resume %v replay %d batch %d", c.NoStream, c.StreamResume, c.StreamReplayBytes, c.StreamBatch)
	}
	if o, err := parseFlags(nil, env(map[string]string{"CHATD_HTTP_STREAM": "false"})); err != nil || !o.cfg.NoStream {
		t.Fatalf("CHATD_HTTP_STREAM=false: %v %v", err, o)
	}
	for _, bad := range [][]string{{"-stream-batch", "0"}, {"-stream-batch", "2000"}, {"-http-stream=maybe"}} {
		if _, err := parseFlags(bad, env(nil)); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(strings.Split(bad[0], "=")[0], "")) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
