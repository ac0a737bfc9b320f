package eventloop

import (
	"context"
	"fmt"
	"log/slog"
	"os"
)

// gnetLogger routes gnet's own logs to slog. gnet's debug chatter is kept at
// debug level; its errors are real (e.g. accept failures at the file limit).
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.log(slog.LevelDebug, f, a) }
func (g gnetLogger) Infof(f string, a ...any)  { g.log(slog.LevelDebug, f, a) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.log(slog.LevelWarn, f, a) }
func (g gnetLogger) Errorf(f string, a ...any) { g.log(slog.LevelError, f, a) }
func (g gnetLogger) Fatalf(f string, a ...any) {
	g.log(slog.LevelError, f, a)
	os.Exit(1)
}

func (g gnetLogger) log(lv slog.Level, f string, a []any) {
	if g.l.Enabled(context.Background(), lv) {
		g.l.Log(context.Background(), lv, fmt.Sprintf(f, a...), "component", "gnet")
	}
}
