package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// periodic runs one pass of background work every interval until its
// context ends. A pass is bounded by timeout, so a stuck backend cannot
// pile passes up; what one pass did not finish the next one does. A failed
// pass is counted in failures and logged once per run of failures.
type periodic struct {
	name     string // what a pass is, for the log: "expiry sweep"
	interval time.Duration
	timeout  time.Duration
	failures prometheus.Counter
	log      *slog.Logger
	pass     func(ctx context.Context) error
	failing  bool
}

func (p *periodic) run(ctx context.Context) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		p.once(ctx)
	}
}

// once runs one pass.
func (p *periodic) once(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	err := p.pass(pctx)
	switch {
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		// Shutdown: the next start finishes the work.
	case err != nil:
		p.failures.Inc()
		if !p.failing {
			p.failing = true
			p.log.WarnContext(ctx, p.name+" failed; retrying every interval", "interval", p.interval, "err", err)
		}
	case p.failing:
		p.failing = false
		p.log.InfoContext(ctx, p.name+" succeeded again")
	}
}
