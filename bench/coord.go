package bench

import (
	"context"
	"io"
	"time"
)

// localCoordinator coordinates a single-process run with itself; it also samples the servers at
// the phase boundaries and prints the progress line.
type localCoordinator struct {
	ss     *serverSampler
	prog   *progressPrinter
	failed []int
}

// startDelay separates "everyone is ready" from the first send, so that every process (and
// every loop) has armed its schedule before the first message is due.
const startDelay = 100 * time.Millisecond

func newLocalCoordinator(cfg *Config, ss *serverSampler, progress io.Writer) *localCoordinator {
	return &localCoordinator{ss: ss, prog: newProgressPrinter(progress)}
}

func (c *localCoordinator) Joined(_ context.Context, failed []int) ([]int, error) {
	c.failed = failed
	return failed, nil
}

func (c *localCoordinator) Settled(context.Context, int64, bool) (int64, error) {
	c.ss.start = c.ss.sample()
	return wallNow() + int64(startDelay), nil
}

func (c *localCoordinator) Drained(context.Context) error {
	c.ss.end = c.ss.sample()
	return nil
}

func (c *localCoordinator) Progress(s *Snapshot) {
	c.prog.print([]*Snapshot{s}, c.ss.tick())
}

// RunLocal runs the whole workload in this process and returns the final result.
func RunLocal(ctx context.Context, cfg *Config, progress io.Writer) (*Result, error) {
	ss := newServerSampler(cfg.Pids)
	co := newLocalCoordinator(cfg, ss, progress)
	raw, err := Run(ctx, cfg, co)
	if raw == nil {
		return nil, err
	}
	res := finalize(cfg, mergeRaw([]*Raw{raw}, cfg.Rooms), co.failed, ss)
	return res, err
}
