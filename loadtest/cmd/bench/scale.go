package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/seckill/seckill/loadtest/internal/load"
)

// scaleReport is a run over several setups: one row each of the figures
// that tell whether scaling out keeps the cost per order and the
// invariants, written as bench.json and at the head of bench.md; each
// setup's whole report is in a directory of its own.
type scaleReport struct {
	Machine machine    `json:"machine"`
	Rows    []scaleRow `json:"setups"`
	OK      bool       `json:"ok"` // every setup ran and kept every invariant
}

// scaleRow is one setup's figures. Ratios are to that setup's own
// hello-world baseline; CPU is over the contended phase's measured window,
// per 202 complete in it. A CPU figure is nil when it was not measured.
type scaleRow struct {
	Setup           setup    `json:"setup"`
	Dir             string   `json:"dir"` // its bench.md and bench.json, relative to the run's directory
	ContendedRPS    float64  `json:"contended_rps"`
	ContendedRatio  float64  `json:"contended_ratio_to_hello"`
	ContendedP99MS  float64  `json:"contended_p99_ms"`
	SoldOutRPS      float64  `json:"sold_out_rps"`
	SoldOutRatio    float64  `json:"sold_out_ratio_to_hello"`
	SoldOutP99MS    float64  `json:"sold_out_p99_ms"`
	APIMicros       *float64 `json:"api_us_per_order"`   // every replica's CPU summed
	RedisMicros     *float64 `json:"redis_us_per_order"` // every process of the Redis under test summed
	PersistedPerSec float64  `json:"persisted_per_sec"`
	// AlonePerSec is the worker alone's persisted/s (first row → last
	// row), its workers started together; AloneInserted each worker's rows
	// of it. Zero and nil when it was not measured.
	AlonePerSec   float64 `json:"worker_alone_persisted_per_sec,omitempty"`
	AloneInserted []int64 `json:"worker_alone_inserted,omitempty"`
	// OtherCores is the machine's busy time in the contended window that
	// no listed process used, in cores: other load on the machine.
	OtherCores *float64 `json:"unaccounted_cores"`
	Checks     int      `json:"invariants"`
	Failed     int      `json:"invariants_failed"`
	measured   [2]bool  // the contended and the sold-out phase ran
}

// scaleOf summarises the setups' reports.
func scaleOf(m machine, reports []report) scaleReport {
	s := scaleReport{Machine: m, OK: len(reports) > 0}
	for i := range reports {
		row := scaleRowOf(&reports[i])
		s.OK = s.OK && reports[i].OK && row.Failed == 0
		s.Rows = append(s.Rows, row)
	}
	return s
}

// scaleRowOf is the row of one setup's report.
func scaleRowOf(r *report) scaleRow {
	row := scaleRow{Setup: r.Setup, Dir: r.Setup.Slug(), Checks: len(r.Invariants), Failed: len(load.Failed(r.Invariants))}
	if c := r.phaseByName(phaseContended); c != nil {
		row.measured[0] = true
		row.ContendedRPS, row.ContendedRatio, row.ContendedP99MS = c.RPS, c.Ratio, c.Latency.P99
		row.APIMicros = microsOf(c.CPU, "api")
		row.RedisMicros = microsOf(c.CPU, "redis-server")
		if c.CPU != nil {
			v := c.CPU.Unaccounted.Cores
			row.OtherCores = &v
		}
	}
	if so := r.phaseByName(phaseSoldOut); so != nil {
		row.measured[1] = true
		row.SoldOutRPS, row.SoldOutRatio, row.SoldOutP99MS = so.RPS, so.Ratio, so.Latency.P99
	}
	if r.EndToEnd != nil {
		row.PersistedPerSec = r.EndToEnd.PersistedPerSec
	}
	if d := r.Drain; d != nil && d.Complete {
		row.AlonePerSec, row.AloneInserted = d.PersistedPerSec, d.WorkerInserted
	}
	return row
}

// microsOf is the named group's CPU µs per unit of u; nil when u was not
// measured, has no such group or no unit.
func microsOf(u *cpuUsage, name string) *float64 {
	if u == nil || u.Units <= 0 {
		return nil
	}
	for _, s := range u.Processes {
		if s.Process == name {
			v := s.MicrosPerUnit
			return &v
		}
	}
	return nil
}

// scaleNote explains the scaling-out table.
const scaleNote = "Each row is one setup of the same run, measured as `make bench` measures one: hello-world before and " +
	"after its purchase phases, the ratios to the mean of the two. With several apis the load generator's connections " +
	"are spread evenly over their public listeners. CPU per order: utime + stime over the contended phase's measured " +
	"window ÷ the 202s complete in it; api sums every replica, Redis every redis-server process of the Redis under " +
	"test (on the cluster its six nodes, replicas included). Persisted/s: the contended phase's orders ÷ the time " +
	"from its first request to its last row in MySQL (the sale is one persist partition, so one worker persists it). " +
	"Worker alone, when the setups differ in workers: orders queued while the workers were stopped, spread over one " +
	"sale per persist partition, ÷ the time from the first row to the last once the setup's workers started together, " +
	"and the rows each worker inserted. Other load: the machine's busy time in the contended window " +
	"that none of the listed processes used (kernel work, anything else running), in cores of the machine's; " +
	"a row where it is high was measured while something else ran."

// writeScaleTable renders the rows as a Markdown table, with the worker
// alone's columns when any setup measured it.
func writeScaleTable(w io.Writer, rows []scaleRow) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	alone := slices.ContainsFunc(rows, func(r scaleRow) bool { return r.AlonePerSec > 0 })
	head, rule := "", ""
	if alone {
		head, rule = " worker alone persisted/s | rows by worker |", "---:|---|"
	}
	p("| setup | contended req/s | ratio | p99 | sold-out req/s | ratio | p99 | api CPU per order | Redis CPU per order | persisted/s |%s other load | invariants |\n", head)
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|%s---:|---|\n", rule)
	for _, r := range rows {
		c := [3]string{"n/a", "n/a", "n/a"}
		if r.measured[0] {
			c = [3]string{fmtInt(r.ContendedRPS), fmtPct(r.ContendedRatio), fmtMS(r.ContendedP99MS)}
		}
		so := [3]string{"n/a", "n/a", "n/a"}
		if r.measured[1] {
			so = [3]string{fmtInt(r.SoldOutRPS), fmtPct(r.SoldOutRatio), fmtMS(r.SoldOutP99MS)}
		}
		persisted := "n/a"
		if r.PersistedPerSec > 0 {
			persisted = fmtInt(r.PersistedPerSec)
		}
		other := "n/a"
		if r.OtherCores != nil {
			other = strconv.FormatFloat(*r.OtherCores, 'f', 2, 64) + " cores"
		}
		if alone {
			a, by := "n/a", "n/a"
			if r.AlonePerSec > 0 {
				a = fmtInt(r.AlonePerSec)
			}
			if len(r.AloneInserted) > 0 {
				by = byWorker(r.AloneInserted)
			}
			persisted += " | " + a + " | " + by
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Setup, c[0], c[1], c[2], so[0], so[1], so[2],
			fmtOptMicros(r.APIMicros), fmtOptMicros(r.RedisMicros), persisted, other, invariantsCell(r.Checks, r.Failed))
	}
	p("\n")
}

func fmtOptMicros(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmtMicros(*v, 1)
}

// invariantsCell says whether a setup's invariants held: "all 23 hold",
// "2 of 23 FAILED".
func invariantsCell(checks, failed int) string {
	if failed > 0 {
		return fmt.Sprintf("**%d of %d FAILED**", failed, checks)
	}
	return fmt.Sprintf("all %d hold", checks)
}

// writeMarkdown renders the scaling-out table, then every setup's report
// as a section.
func (s scaleReport) writeMarkdown(w io.Writer, reports []report) {
	fmt.Fprintf(w, "# seckill benchmark: scaling out\n\n%s\n\n## Scaling out\n\n%s\n\n", s.Machine, scaleNote)
	writeScaleTable(w, s.Rows)
	for i := range reports {
		fmt.Fprintf(w, "## %s\n\n", reports[i].Setup)
		reports[i].writeMarkdownBody(w)
		fmt.Fprintln(w)
	}
}
