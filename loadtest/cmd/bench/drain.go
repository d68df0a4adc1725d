package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
	"github.com/seckill/seckill/loadtest/internal/scratch"
)

// drainMinStock is the least stock of a worker-alone sale.
const drainMinStock = 1_000_000

// drainStock is the stock of each worker-alone sale: comfortably above the
// orders published in all, so the workers keep every one.
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

// drainPhase measures the persistence stage alone: with the workers
// stopped, -drain-orders orders of fresh sales, one per persist
// partition, go into the order queues, shaped as the compared ceiling (as
// the api published in the contended phase when the ceiling was not
// measured); then the setup's workers start together and the time until
// the last row lands is what it takes them to persist them.
func (b *bench) drainPhase(ctx context.Context) error {
	o := b.o
	if o.drainOrders <= 0 {
		return nil
	}
	d := &drainResult{Workers: b.rep.Setup.Workers, Partitions: o.partitions}
	if c := b.rep.comparedCeiling(); c != nil {
		d.Batch, d.InFlight, d.CeilingPerSec = c.Batch, c.InFlight, c.OrdersPerS
	} else {
		d.Batch, d.InFlight = b.apiShape()
	}
	sales, err := b.partitionSales(ctx, drainStock(o.drainOrders))
	if err != nil {
		return err
	}
	d.SaleIDs = sales
	b.rep.Drain = d
	b.logf("worker alone: stopping the workers; %s orders of sales %v into the order queues (%s), "+
		"%d order(s)/message × %d in flight", fmtInt(float64(o.drainOrders)), sales, plural(o.partitions, "partition"), d.Batch, d.InFlight)
	b.stopWorkers()
	top := b.topology()
	deadBefore, err := b.prefill(ctx, d)
	if err != nil {
		return err
	}
	if d.Orders == 0 {
		return errors.New("worker alone: no order was confirmed into the queue")
	}
	m, rows, err := b.timeWorkers(ctx, d)
	if err != nil {
		return err
	}
	d.setRows(rows)
	d.CPU = b.cpuOf("worker alone", m, d.Persisted, "order")
	if rows.Done {
		b.logf("  %s started → first row %s, → last row %s; first → last row %s: %s orders persisted/s; inserted by worker %v",
			plural(d.Workers, "worker"), fmtSeconds(d.FirstRowSeconds), fmtSeconds(d.LastRowSeconds), fmtSeconds(d.SpanSeconds),
			fmtInt(d.PersistedPerSec), d.WorkerInserted)
	}
	b.drainChecks(ctx, d, rows, top.PersistQueues(), top.DeadQueue, deadBefore)
	return nil
}

// partitionSales creates a sale of stock units for each persist
// partition: sales are created until every partition has one, so that
// each partition, and every worker holding one, has work. Sale ids come
// in order, so it takes about as many sales as partitions.
func (b *bench) partitionSales(ctx context.Context, stock int64) ([]int64, error) {
	top := b.topology()
	n := b.o.partitions
	byPartition := make([]int64, n)
	var out []int64
	for made := 0; len(out) < n; made++ {
		if made == 4*n {
			return nil, fmt.Errorf("worker alone: %d sales cover %d of %d persist partitions", made, len(out), n)
		}
		s, err := b.newSale(ctx, fmt.Sprintf("bench worker alone %d", made+1), stock)
		if err != nil {
			return nil, err
		}
		if k := top.PartitionOf(s.ID); byPartition[k] == 0 {
			byPartition[k] = s.ID
			out = append(out, s.ID)
		}
	}
	return out, nil
}

// prefill publishes the worker-alone orders into the order flow's exchange
// and fills d's publishing figures. It returns the dead-letter queue's
// ready messages before, for the checks.
func (b *bench) prefill(ctx context.Context, d *drainResult) (int, error) {
	top := b.topology()
	queues := top.PersistQueues()
	waiting, deadBefore, err := b.queueDepths(queues, top.DeadQueue)
	if err != nil {
		return 0, fmt.Errorf("worker alone: %w", err)
	}
	if waiting > 0 {
		b.note("worker alone: %d messages were already waiting in the persist queues; the workers persisted them too", waiting)
	}
	cl := ceilingLoad{URL: b.o.amqpURL, Topology: orderFlowTopology(top), Batch: d.Batch, InFlight: d.InFlight,
		Orders: b.o.drainOrders, SaleIDs: d.SaleIDs}
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
		return deadBefore, fmt.Errorf("worker alone: %w", err)
	}
	b.logf("  %s orders in %s messages confirmed in %s", fmtInt(float64(d.Orders)), fmtInt(float64(d.Messages)),
		fmtSeconds(d.PublishSeconds))
	if after, err := scratch.QueuesReady(b.o.amqpURL, queues...); err == nil {
		d.QueuedAtStart = sum(after)
	}
	return deadBefore, nil
}

// timeWorkers starts the setup's workers together with the run's command
// and environment and waits for d's orders to be in MySQL, reading the CPU
// from the start to the last row, then how many rows each worker inserted.
func (b *bench) timeWorkers(ctx context.Context, d *drainResult) (*cpuMeter, rowWait, error) {
	start := time.Now()
	if err := b.startWorkers(ctx, d.Workers, "-alone"); err != nil {
		return nil, rowWait{}, fmt.Errorf("worker alone: %w", err)
	}
	m := newCPUMeter(b.procFS, b.drainGroups())
	m.begin()
	rows, err := b.waitRows(ctx, d.SaleIDs, d.Orders, start)
	m.end()
	if err != nil {
		return m, rows, fmt.Errorf("worker alone: %w", err)
	}
	// The workers started afresh: their counters count this drain alone.
	if n, err := b.workerCounts(ctx, refInserted); err == nil {
		d.WorkerInserted = insertedSince(make([]float64, len(n)), n)
	} else {
		b.note("worker alone: rows inserted by each worker not read: %v", err)
	}
	return m, rows, nil
}

func sum(ns []int) int {
	t := 0
	for _, n := range ns {
		t += n
	}
	return t
}
