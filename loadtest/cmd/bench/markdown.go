package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/seckill/seckill/loadtest/internal/load"
)

// writeMarkdown renders the report as Markdown tables.
func (r *report) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "# seckill benchmark\n\n%s\n\n", r.Machine)
	r.writeMarkdownBody(w)
}

// writeMarkdownBody renders the report's tables without the title and the
// machine line, as a section of a longer document.
func (r *report) writeMarkdownBody(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	s := r.Settings
	p("Setup: %s (%s)", r.Setup.Redis.Label(), r.Setup.Redis.Shown)
	if r.Setup.APIs > 1 {
		p(", %d api replicas; the load spreads its connections evenly over their public listeners", r.Setup.APIs)
	} else {
		p(", 1 api")
	}
	p(", %s.\n\n", workersText(r.Setup.Workers, s.Partitions))
	p("Closed loop: %d connections, each with its own keep-alive connection sending back to back; "+
		"%s warm-up + %s measured per phase. api: SECKILL_PUBLISH_BATCH=%d, SECKILL_PUBLISH_INFLIGHT=%d, "+
		"SECKILL_PUBLISH_MAX_INFLIGHT=%d, SECKILL_PUBLISH_LINGER=%gms, SECKILL_PUBLISH_FILL=%d; "+
		"worker: batch %d, prefetch %d.\n\n",
		s.Connections, fmtSeconds(s.WarmupSeconds), fmtSeconds(s.DurationSeconds), s.PublishBatch, s.PublishInFlight,
		s.PublishMaxInFlight, s.PublishLingerMS, s.PublishFill, s.WorkerBatch, s.WorkerPrefetch)

	if r.BaselineRPS > 0 {
		p("Ratios are to the mean of the hello-world phases run before and after the purchase phases: %s req/s.\n\n",
			fmtInt(r.BaselineRPS))
	}
	p("| phase | req/s | ratio to hello-world | p50 | p99 | errors |\n")
	p("|---|---:|---:|---:|---:|---:|\n")
	for _, ph := range r.Phases {
		p("| %s (%s → %s) | %s | %s | %s | %s | %d |\n", ph.Name, ph.Target, ph.Expect, fmtInt(ph.RPS),
			fmtPct(ph.Ratio), fmtMS(ph.Latency.P50), fmtMS(ph.Latency.P99), ph.Errors)
	}
	p("\n")
	if g, ok := r.phaseCPUGrid(); ok {
		writeCPUGrid(w, g)
	}
	if b, ok := r.contendedBound(); ok {
		p("**Bound on this machine.** A hello-world reply costs the whole machine %s; a contended order costs "+
			"Redis, RabbitMQ, MariaDB and the worker alone %s. Even with the api and the load generator free, "+
			"contended purchases could reach at most %s of hello-world here.",
			fmtMicros(b.HelloMachineMicros, 1), fmtMicros(b.ServersMicros, 1), fmtPct(b.Ratio))
		if b.FloorRatio > 0 {
			p(" With the api spending on a purchase only what it spends on a sold-out reply (%s) and the load generator "+
				"only what a hello-world reply costs it (%s), at most %s.",
				fmtMicros(b.APIMicros, 1), fmtMicros(b.LoadMicros, 1), fmtPct(b.FloorRatio))
		}
		p("\n\n")
	}

	if e := r.EndToEnd; e != nil {
		p("| end to end (contended sale) | value |\n|---|---:|\n")
		p("| orders accepted (202, warm-up included) | %s |\n", fmtInt(float64(e.Accepted)))
		p("| first request → last row in MySQL | %s |\n", fmtSeconds(e.LastRowSeconds))
		p("| last 202 → last row in MySQL | %s |\n", fmtLag(e))
		p("| **orders persisted/s** | **%s** |\n", fmtInt(e.PersistedPerSec))
		p("| api orders per confirmed message | %.1f (%s messages, publish → confirm %.2f ms on average) |\n", e.OrdersPerMessage, fmtInt(float64(e.Messages)), e.ConfirmMillis)
		if e.ReserveCalls > 0 {
			p("| api reservations per stock backend call | %.1f (%s calls, %.2f ms each on average) |\n", e.ReservationsPerCall, fmtInt(float64(e.ReserveCalls)), e.ReserveMillis)
		}
		if e.HandlerMillis > 0 {
			p("| purchase: mean time in the api's handler / mean latency seen by the load generator | %.2f ms / %.2f ms |\n", e.HandlerMillis, e.ClientMillis)
		}
		if len(e.WorkerInserted) > 1 {
			p("| rows inserted, by worker (the sale is one persist partition: one worker holds it) | %s |\n", byWorker(e.WorkerInserted))
		}
		for _, c := range r.Ceilings {
			mark := ""
			if c.ComparedToAPI {
				mark = " **(compared)**"
			}
			p("| raw confirmed-publish ceiling, %d order(s)/message × %d in flight%s | %s orders/s (%s msg/s, %d B/msg, confirm p50 %s p99 %s) |\n",
				c.Batch, c.InFlight, mark, fmtInt(c.OrdersPerS), fmtInt(c.MessagesPerS), c.MessageBytes,
				fmtMS(c.ConfirmP50MS), fmtMS(c.ConfirmP99MS))
		}
		if e.CeilingPerSec > 0 {
			p("| **orders persisted/s ÷ ceiling** | **%s** |\n", fmtPct(e.Ratio))
		}
		p("\n")
	}
	if g, ok := r.ceilingCPUGrid(); ok {
		writeCPUGrid(w, g)
	}
	if d := r.Drain; d != nil {
		writeDrain(w, d)
	}
	if g, ok := r.drainCPUGrid(); ok {
		writeCPUGrid(w, g)
	}

	p("| process | phase | RSS | peak RSS (VmHWM) | goroutines (peak) |\n|---|---|---:|---:|---:|\n")
	for _, ph := range r.Phases {
		for _, pu := range ph.usages() {
			p("| %s | %s | %.0f MB | %.0f MB | %d (%d) |\n", pu.Name, ph.Name, pu.RSSMB, pu.PeakRSSMB,
				pu.Goroutines, pu.PeakGoroutines)
		}
	}
	p("\n")

	p("| target | value | goal | met |\n|---|---:|---:|---|\n")
	for _, t := range r.Targets {
		p("| %s | %s | %s | %s |\n", t.Name, t.valueText(), t.goalText(), t.metText())
	}
	p("\n")

	failed := load.Failed(r.Invariants)
	if len(failed) == 0 {
		p("Invariants: all %d hold (no errors or 5xx, no oversell, every accepted order persisted, reconciliation consistent).\n", len(r.Invariants))
	} else {
		p("Invariants FAILED:\n\n")
		for _, c := range failed {
			p("- %s: %s\n", c.Name, c.Detail)
		}
	}
	for _, n := range r.Notes {
		p("\nNote: %s\n", n)
	}
}

// namedUsage is a binary's memory and goroutines over a phase, with its
// name in the report.
type namedUsage struct {
	Name string
	procUsage
}

// usages are the phase's apis and worker, in the report's order.
func (ph phase) usages() []namedUsage {
	var out []namedUsage
	for i, u := range ph.APIs {
		out = append(out, namedUsage{replicaName("api", i, len(ph.APIs)), u})
	}
	for i, u := range ph.Workers {
		out = append(out, namedUsage{replicaName("worker", i, len(ph.Workers)), u})
	}
	return out
}

// workersText describes the workers and the persist partitions: "1
// worker", "2 workers sharing 4 persist partitions".
func workersText(workers, partitions int) string {
	workers = max(workers, 1) // a report from before -workers
	switch {
	case partitions <= 1:
		return plural(workers, "worker")
	case workers == 1:
		return fmt.Sprintf("1 worker holding all %d persist partitions", partitions)
	}
	return fmt.Sprintf("%d workers sharing %d persist partitions", workers, partitions)
}

// byWorker shows a count per worker: "worker1 50,112 · worker2 49,888".
func byWorker(ns []int64) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = replicaName("worker", i, len(ns)) + " " + fmtInt(float64(n))
	}
	return strings.Join(parts, " · ")
}

// fmtLag shows the last 202 → last row lag: n/a when the rows did not all
// land or no request was accepted.
func fmtLag(e *endToEnd) string {
	if e.LastRowSeconds <= 0 || e.LastAcceptedSeconds <= 0 {
		return "n/a"
	}
	return fmtSeconds(e.LagSeconds)
}

// writeDrain renders the worker-alone drain as a Markdown table.
func writeDrain(w io.Writer, d *drainResult) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	shape := "as the compared ceiling"
	if d.CeilingPerSec <= 0 {
		shape = "as the api published"
	}
	stopped, start := "the worker was stopped", "worker start"
	if d.Workers > 1 {
		stopped, start = "the workers were stopped", "workers' start"
		p("| worker alone: %d workers started together (pre-filled queues) | value |\n|---|---:|\n", d.Workers)
	} else {
		p("| worker alone (pre-filled queue) | value |\n|---|---:|\n")
	}
	p("| orders queued while %s (%d order(s)/message × %d in flight, %s) | %s (%s messages, confirmed in %s) |\n",
		stopped, d.Batch, d.InFlight, shape, fmtInt(float64(d.Orders)), fmtInt(float64(d.Messages)), fmtSeconds(d.PublishSeconds))
	if len(d.SaleIDs) > 1 {
		p("| orders spread over | %d sales, one per persist partition (%d) |\n", len(d.SaleIDs), d.Partitions)
	}
	if !d.Complete {
		p("| rows in MySQL at the end of the wait (incomplete) | %s |\n\n", fmtInt(float64(d.Persisted)))
		return
	}
	p("| %s → first row | %s (%s rows) |\n", start, fmtSeconds(d.FirstRowSeconds), fmtInt(float64(d.FirstRows)))
	p("| %s → last row | %s (%s orders/s) |\n", start, fmtSeconds(d.LastRowSeconds), fmtInt(d.StartToLastPerSec))
	p("| first row → last row | %s |\n", fmtSeconds(d.SpanSeconds))
	p("| **orders persisted/s (first row → last row)** | **%s** |\n", fmtInt(d.PersistedPerSec))
	if len(d.WorkerInserted) > 1 {
		p("| rows inserted, by worker | %s |\n", byWorker(d.WorkerInserted))
	}
	if d.CeilingPerSec > 0 {
		p("| raw confirmed-publish ceiling (compared) | %s orders/s |\n", fmtInt(d.CeilingPerSec))
		p("| **worker-alone persisted/s ÷ ceiling** | **%s** |\n", fmtPct(d.Ratio))
	}
	p("\n")
}

// writeCPUGrid renders g as a Markdown table with its note.
func writeCPUGrid(w io.Writer, g cpuGrid) {
	fmt.Fprintf(w, "%s\n\n| %s | %s |\n|---|%s\n", g.Note, g.Title, strings.Join(g.Columns, " | "),
		strings.Repeat("---:|", len(g.Columns)))
	for _, row := range g.Rows {
		fmt.Fprintf(w, "| %s | %s |\n", row.Label, strings.Join(row.Cells, " | "))
	}
	fmt.Fprintln(w)
}
