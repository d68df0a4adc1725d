package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
	"github.com/seckill/seckill/loadtest/internal/scratch"
)

// drainMinStock is the least stock of the worker-alone sale.
const drainMinStock = 1_000_000

// drainStock is the stock of the worker-alone sale: comfortably above the
// orders published for it, so the worker keeps every one.
func drainStock(orders int64) int64 { return max(drainMinStock, 2*orders) }

// comparedCeiling is the raw publish run shaped as the api publishes, or
// nil when there was none.
func (r *report) comparedCeiling() *ceilingResult {
	for i := range r.Ceilings {
		if r.Ceilings[i].ComparedToAPI {
			return &r.Ceilings[i]
		}
	}
	return nil
}

// drainPhase measures the persistence stage alone: with the worker
// stopped, -drain-orders orders of a fresh sale go into the order queue,
// shaped as the compared ceiling; then the worker starts again and the
// time until the last row lands is what it takes to persist them.
func (b *bench) drainPhase(ctx context.Context) error {
	o := b.o
	if o.drainOrders <= 0 {
		return nil
	}
	c := b.rep.comparedCeiling()
	if c == nil {
		b.note("worker alone: no api-shaped raw publish run to compare with; not measured")
		return nil
	}
	sale, err := b.newSale(ctx, "bench worker alone", drainStock(o.drainOrders))
	if err != nil {
		return err
	}
	d := &drainResult{SaleID: sale.ID, Batch: c.Batch, InFlight: c.InFlight, CeilingPerSec: c.OrdersPerS}
	b.rep.Drain = d
	b.logf("worker alone: stopping the worker; %s orders of sale %d into the order queue, %d order(s)/message × %d in flight",
		fmtInt(float64(o.drainOrders)), sale.ID, d.Batch, d.InFlight)
	b.worker.Stop(stopGrace)
	if _, werr := b.worker.Exited(); werr != nil {
		b.note("worker alone: the worker stopped with %v on SIGTERM; see %s", werr, b.worker.LogPath())
	}
	top := scratch.Topology(b.queuePrefix)
	deadBefore, err := b.prefill(ctx, d)
	if err != nil {
		return err
	}
	if d.Orders == 0 {
		return errors.New("worker alone: no order was confirmed into the queue")
	}
	m, rows, err := b.timeWorker(ctx, d)
	if err != nil {
		return err
	}
	d.setRows(rows)
	d.CPU = b.cpuOf("worker alone", m, d.Persisted, "order")
	if rows.Done {
		b.logf("  worker start → first row %s, → last row %s; first → last row %s: %s orders persisted/s",
			fmtSeconds(d.FirstRowSeconds), fmtSeconds(d.LastRowSeconds), fmtSeconds(d.SpanSeconds), fmtInt(d.PersistedPerSec))
	}
	b.drainChecks(ctx, d, rows, top.Queue, top.DeadQueue, deadBefore)
	return nil
}

// prefill publishes the worker-alone orders into the order flow's exchange
// and fills d's publishing figures. It returns the dead-letter queue's
// ready messages before, for the checks.
func (b *bench) prefill(ctx context.Context, d *drainResult) (int, error) {
	top := scratch.Topology(b.queuePrefix)
	before, err := scratch.QueuesReady(b.o.amqpURL, top.Queue, top.DeadQueue)
	if err != nil {
		return 0, fmt.Errorf("worker alone: %w", err)
	}
	if before[0] > 0 {
		b.note("worker alone: %d messages were already waiting in %s; the worker persisted them too", before[0], top.Queue)
	}
	cl := ceilingLoad{URL: b.o.amqpURL, Topology: orderFlowTopology(b.queuePrefix), Batch: d.Batch, InFlight: d.InFlight,
		Orders: b.o.drainOrders, SaleID: d.SaleID}
	res, err := cl.run(ctx)
	var all load.Counters
	for _, r := range res.Records {
		all.Add(r.Outcome)
	}
	tot := all.Snapshot()
	d.Orders, d.Messages, d.PublishSeconds = res.ConfirmedOrders, tot.Accepted, res.Elapsed.Seconds()
	b.addCheck("worker alone: publishes confirmed", err == nil && tot.Accepted == tot.Total() && d.Orders == b.o.drainOrders,
		"%s of %s orders in %d confirmed messages; %d nacked, %d failed%s", fmtInt(float64(d.Orders)),
		fmtInt(float64(b.o.drainOrders)), tot.Accepted, tot.ServerError, tot.TransportError, errSuffix(err))
	if err != nil {
		return before[1], fmt.Errorf("worker alone: %w", err)
	}
	b.logf("  %s orders in %s messages confirmed in %s", fmtInt(float64(d.Orders)), fmtInt(float64(d.Messages)),
		fmtSeconds(d.PublishSeconds))
	if after, err := scratch.QueuesReady(b.o.amqpURL, top.Queue); err == nil {
		d.QueuedAtStart = after[0]
	}
	return before[1], nil
}

// timeWorker starts the worker with the run's command and environment and
// waits for d's orders to be in MySQL, reading the CPU from the start to
// the last row.
func (b *bench) timeWorker(ctx context.Context, d *drainResult) (*cpuMeter, rowWait, error) {
	start := time.Now()
	if err := b.startWorker("worker-alone.log"); err != nil {
		return nil, rowWait{}, fmt.Errorf("worker alone: %w", err)
	}
	m := newCPUMeter(b.procFS, b.drainGroups())
	m.begin()
	rows, err := b.waitRows(ctx, d.SaleID, d.Orders, start)
	m.end()
	if err != nil {
		return m, rows, fmt.Errorf("worker alone: %w", err)
	}
	return m, rows, nil
}
