package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"

	"github.com/seckill/seckill/loadtest/internal/proc"
)

// startWorkers starts n workers together with the run's command and
// environment, the setup's stock prefix and an admin listener each on a
// free address, and watches them. Each one's output goes to
// <name><logSuffix>.log in the setup's directory. It does not wait for
// them to be ready.
func (b *bench) startWorkers(ctx context.Context, n int, logSuffix string) error {
	addrs, err := proc.FreeAddrs(ctx, n)
	if err != nil {
		return err
	}
	b.workers, b.workerWatch, b.workerAdmins = nil, nil, nil
	for i, addr := range addrs {
		name := replicaName("worker", i, n)
		env := append(slices.Clone(b.workerEnv), "SECKILL_STOCK_PREFIX="+b.setupPrefix, "SECKILL_ADMIN_ADDR="+addr)
		p, err := proc.Start(name, b.workerBin, nil, env, filepath.Join(b.setupDir, name+logSuffix+".log"))
		if err != nil {
			return err
		}
		admin := "http://" + addr
		b.workers = append(b.workers, p)
		b.workerAdmins = append(b.workerAdmins, admin)
		b.workerWatch = append(b.workerWatch, watched{pid: p.Pid(), metrics: admin + "/metrics"})
	}
	return nil
}

// waitWorkers waits until every worker answers its health check.
func (b *bench) waitWorkers(ctx context.Context) error {
	for i, p := range b.workers {
		if err := proc.WaitHTTP(ctx, p, readyTimeout, proc.ExpectStatus(b.ops, http.MethodGet, b.workerAdmins[i]+"/healthz", http.StatusOK)); err != nil {
			return err
		}
	}
	return nil
}

// stopWorkers stops the current workers, all at once, and notes any that
// did not stop cleanly on SIGTERM.
func (b *bench) stopWorkers() {
	stopAll(b.workers)
	for _, p := range b.workers {
		if _, err := p.Exited(); err != nil {
			b.note("%s stopped with %v on SIGTERM; see %s", p.Name, err, p.LogPath())
		}
	}
	b.workers = nil
}

// exitedWorker is an error naming a worker that exited, or nil while every
// one runs.
func (b *bench) exitedWorker() error {
	for _, p := range b.workers {
		if gone, err := p.Exited(); gone {
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("%s exited (%w); see %s", p.Name, err, p.LogPath())
		}
	}
	return nil
}

// workerCounts reads one number from every worker's /metrics, in the
// workers' order.
func (b *bench) workerCounts(ctx context.Context, ref metricRef) ([]float64, error) {
	out := make([]float64, len(b.workerWatch))
	for i, w := range b.workerWatch {
		ms, err := scrape(ctx, b.ops, w.metrics)
		if err != nil {
			return nil, err
		}
		v, ok := ms.value(ref)
		if !ok {
			return nil, fmt.Errorf("%s has no %s", w.metrics, ref)
		}
		out[i] = v
	}
	return out, nil
}

// insertedSince is each worker's rows inserted between two readings of
// workerCounts(refInserted).
func insertedSince(before, after []float64) []int64 {
	if len(before) != len(after) {
		return nil
	}
	out := make([]int64, len(after))
	for i := range after {
		out[i] = int64(after[i] - before[i])
	}
	return out
}
