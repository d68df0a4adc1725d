package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

// report is the result of a run: written as bench.json, rendered as
// bench.md (also printed) and bench.html.
type report struct {
	Machine  machine  `json:"machine"`
	Setup    setup    `json:"setup"` // the Redis and the api replicas measured
	Settings settings `json:"settings"`
	Phases   []phase  `json:"phases"`
	// BaselineRPS is what every ratio to hello-world divides by: the mean
	// of the hello-world phases, one before the purchase phases and one
	// after them, so a machine that slows down or speeds up during the run
	// biases no phase's ratio more than the baseline.
	BaselineRPS float64         `json:"baseline_rps"`
	EndToEnd    *endToEnd       `json:"end_to_end,omitempty"`
	Ceilings    []ceilingResult `json:"ceilings,omitempty"`
	Drain       *drainResult    `json:"drain,omitempty"`
	// Bound is the most the contended phase could reach on this machine
	// with the api and the load generator free (set by finish).
	Bound      *bound       `json:"contended_bound,omitempty"`
	Targets    []target     `json:"targets"`
	Invariants []load.Check `json:"invariants"`
	Profiles   []string     `json:"profiles,omitempty"`
	Notes      []string     `json:"notes,omitempty"`
	OK         bool         `json:"ok"`
}

// settings are the knobs the numbers depend on.
type settings struct {
	Connections     int     `json:"connections"`
	WarmupSeconds   float64 `json:"warmup_seconds"`
	DurationSeconds float64 `json:"duration_seconds"`
	Tokens          int     `json:"tokens_minted"`
	PublishBatch    int     `json:"api_publish_batch"`
	PublishInFlight int     `json:"api_publish_inflight"`
	WorkerBatch     int     `json:"worker_batch"`
	WorkerPrefetch  int     `json:"worker_prefetch"`
	ContendedStock  int64   `json:"contended_stock"`
	SoldOutStock    int64   `json:"soldout_stock"`
}

// Phase names.
const (
	phaseHello     = "hello-world"
	phaseHelloEnd  = "hello-world again"
	phaseContended = "contended"
	phaseSoldOut   = "sold-out"
)

// phase is one closed-loop load at one target.
type phase struct {
	Name     string      `json:"name"`
	Target   string      `json:"target"`
	Expect   string      `json:"expect"`
	Requests int64       `json:"requests"` // complete inside the measured window
	RPS      float64     `json:"rps"`
	Ratio    float64     `json:"ratio_to_hello"` // RPS ÷ the hello-world RPS of the run
	Latency  latencyMS   `json:"latency_ms"`
	Errors   int64       `json:"errors"` // replies in the window other than Expect
	Counts   load.Counts `json:"counts"` // replies in the window by outcome
	// Total counts every reply of the phase, warm-up and the requests
	// finishing after the window included.
	Total    load.Counts `json:"counts_all"`
	Window   float64     `json:"window_seconds"` // measured seconds; shorter than the duration when tokens ran out
	APIs     []procUsage `json:"apis,omitempty"` // one per api, in their order
	Worker   *procUsage  `json:"worker,omitempty"`
	CPU      *cpuUsage   `json:"cpu,omitempty"` // per reply complete inside the window
	Timeline []second    `json:"timeline"`
}

// latencyMS are percentiles in milliseconds.
type latencyMS struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func latencyOf(l load.Latency) latencyMS {
	return latencyMS{P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), Max: ms(l.Max), Mean: ms(l.Mean)}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// second is one second of a measured window.
type second struct {
	T      float64 `json:"t"`     // start, seconds since the window's start
	Width  float64 `json:"width"` // seconds: 1, less for a last partial second
	RPS    float64 `json:"rps"`
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
	Errors int64   `json:"errors"`
}

func timelineOf(bs []load.Bucket) []second {
	out := make([]second, len(bs))
	for i, b := range bs {
		out[i] = second{T: b.Start.Seconds(), Width: b.Width.Seconds(), RPS: b.RPS, P50MS: ms(b.P50), P99MS: ms(b.P99), Errors: b.Errors}
	}
	return out
}

// procUsage is a binary's memory and goroutines over a phase.
type procUsage struct {
	RSSMB          float64 `json:"rss_mb"`      // VmRSS at the last sample under load
	PeakRSSMB      float64 `json:"peak_rss_mb"` // VmHWM: the highest RSS since the process started
	Goroutines     int     `json:"goroutines"`  // at the last sample under load
	PeakGoroutines int     `json:"peak_goroutines"`
}

// usageOf summarises the samples taken until the load ended (at end, since
// the phase's start); pick chooses the binary.
func usageOf(samples []sample, end time.Duration, pick func(sample) usage) *procUsage {
	var u procUsage
	found := false
	for _, s := range samples {
		if s.At > end && found {
			break
		}
		x := pick(s)
		u.RSSMB = kbToMB(x.Mem.RSSKB)
		u.PeakRSSMB = kbToMB(x.Mem.HWMKB)
		u.Goroutines = x.Goroutines
		u.PeakGoroutines = max(u.PeakGoroutines, x.Goroutines)
		found = true
	}
	if !found {
		return nil
	}
	return &u
}

// apiUsages summarises the samples of each of n apis, as usageOf; nil
// when there were none.
func apiUsages(samples []sample, end time.Duration, n int) []procUsage {
	var out []procUsage
	for i := range n {
		u := usageOf(samples, end, func(s sample) usage {
			if i < len(s.APIs) {
				return s.APIs[i]
			}
			return usage{}
		})
		if u == nil {
			return nil
		}
		out = append(out, *u)
	}
	return out
}

// apiName is the name of api i of n in the report: "api" when it is the
// only one, else api1, api2, …
func apiName(i, n int) string {
	if n == 1 {
		return "api"
	}
	return "api" + strconv.Itoa(i+1)
}

func kbToMB(kb int64) float64 { return float64(kb) / 1024 }

// endToEnd is the contended phase seen from MySQL.
type endToEnd struct {
	Accepted        int64   `json:"accepted"`          // 202s of the contended phase, warm-up included
	Persisted       int64   `json:"persisted"`         // rows of the sale in MySQL at the end of the wait
	LastRowSeconds  float64 `json:"last_row_seconds"`  // first request → the count reached Accepted
	PersistedPerSec float64 `json:"persisted_per_sec"` // Accepted ÷ LastRowSeconds
	// LastAcceptedSeconds is from the first request to the last 202's
	// reply; LagSeconds from that reply to the last row (LastRowSeconds −
	// LastAcceptedSeconds), to the 20 ms of the row polls.
	LastAcceptedSeconds float64 `json:"last_accepted_seconds"`
	LagSeconds          float64 `json:"last_accepted_to_last_row_seconds"`
	// OrdersPerMessage is the api's average: 202s ÷ confirmed messages.
	OrdersPerMessage float64     `json:"api_orders_per_message"`
	Messages         int64       `json:"api_messages_confirmed"`
	CeilingBatch     int         `json:"ceiling_batch"`          // orders per message of the ceiling compared with
	CeilingPerSec    float64     `json:"ceiling_orders_per_sec"` // that ceiling, in orders per second
	Ratio            float64     `json:"ratio_to_ceiling"`       // PersistedPerSec ÷ CeilingPerSec
	Timeline         []flowPoint `json:"timeline"`
}

// setLastRow records that the last row landed last after the first request,
// and how long after the last accepted request of recs that was.
func (e *endToEnd) setLastRow(last time.Duration, recs []load.Record) {
	e.LastRowSeconds = last.Seconds()
	e.PersistedPerSec = ratio(float64(e.Accepted), e.LastRowSeconds)
	if at, ok := lastOutcome(recs, load.Accepted); ok {
		e.LastAcceptedSeconds = at.Seconds()
		e.LagSeconds = (last - at).Seconds()
	}
}

// lastOutcome is when the last reply of recs with outcome want completed;
// false when none had it.
func lastOutcome(recs []load.Record, want load.Outcome) (time.Duration, bool) {
	var last time.Duration
	found := false
	for _, r := range recs {
		if r.Outcome == want && (!found || r.At > last) {
			last, found = r.At, true
		}
	}
	return last, found
}

// drainResult is the worker alone persisting orders put in its queue while
// it was stopped: the persistence stage (batched transactions, prefetch
// sized to the batch) without the HTTP stage in front of it. Times run from
// the worker's start.
type drainResult struct {
	SaleID         int64   `json:"sale_id"`
	Orders         int64   `json:"orders"`   // published and confirmed
	Messages       int64   `json:"messages"` // confirmed
	Batch          int     `json:"batch"`    // orders per message, as the compared ceiling
	InFlight       int     `json:"inflight"` // messages awaiting a confirm at once, as the compared ceiling
	PublishSeconds float64 `json:"publish_seconds"`
	QueuedAtStart  int     `json:"queue_ready_at_worker_start"` // messages ready in the persist queue
	Persisted      int64   `json:"persisted"`                   // rows of the sale at the end of the wait
	Complete       bool    `json:"complete"`                    // every order persisted within -drain-timeout
	// FirstRowSeconds is when a poll first saw a row; FirstRows is how
	// many it saw.
	FirstRowSeconds float64 `json:"first_row_seconds"`
	FirstRows       int64   `json:"first_rows"`
	LastRowSeconds  float64 `json:"last_row_seconds"`          // when a poll first saw every order
	SpanSeconds     float64 `json:"first_to_last_row_seconds"` // LastRowSeconds − FirstRowSeconds
	// PersistedPerSec is (Orders − FirstRows) ÷ SpanSeconds: the rows
	// committed between the two polls over the time between them.
	PersistedPerSec   float64   `json:"persisted_per_sec"`
	StartToLastPerSec float64   `json:"start_to_last_row_per_sec"` // Orders ÷ LastRowSeconds
	CeilingPerSec     float64   `json:"ceiling_orders_per_sec"`    // the compared ceiling, in orders per second
	Ratio             float64   `json:"ratio_to_ceiling"`          // PersistedPerSec ÷ CeilingPerSec
	CPU               *cpuUsage `json:"cpu,omitempty"`             // worker start → last row, per order persisted
}

// setRows fills the times and rates from the polls of the sale's rows.
// Without every row in, only the count is known.
func (d *drainResult) setRows(w rowWait) {
	d.Persisted, d.Complete = w.Count, w.Done
	if !w.Done {
		return
	}
	d.FirstRowSeconds, d.FirstRows = w.First.Seconds(), w.FirstRows
	d.LastRowSeconds = w.Last.Seconds()
	d.SpanSeconds = (w.Last - w.First).Seconds()
	d.PersistedPerSec = ratio(float64(d.Orders-w.FirstRows), d.SpanSeconds)
	d.StartToLastPerSec = ratio(float64(d.Orders), d.LastRowSeconds)
}

// flowPoint is one second of the contended phase and its drain.
type flowPoint struct {
	T            float64  `json:"t"`     // seconds since the first request
	Width        float64  `json:"width"` // seconds: 1, less for a last partial second
	AcceptedPerS float64  `json:"accepted_per_s"`
	PersistPerS  *float64 `json:"persisted_per_s,omitempty"` // worker inserts, from its /metrics; nil: no sample
}

// ceilingResult is one run of the raw confirmed publisher.
type ceilingResult struct {
	Batch         int       `json:"batch"`    // orders per message
	InFlight      int       `json:"inflight"` // publishers, each waiting for its own confirm
	Messages      int64     `json:"messages"` // confirmed inside the window
	MessagesPerS  float64   `json:"messages_per_sec"`
	OrdersPerS    float64   `json:"orders_per_sec"`
	ConfirmP50MS  float64   `json:"confirm_p50_ms"`
	ConfirmP99MS  float64   `json:"confirm_p99_ms"`
	Errors        int64     `json:"errors"` // nacks, returns, failures
	MessageBytes  int       `json:"message_bytes"`
	ComparedToAPI bool      `json:"compared_to_api"` // the api-shaped one the ratio uses
	CPU           *cpuUsage `json:"cpu,omitempty"`   // per order confirmed inside the window
	Timeline      []second  `json:"timeline"`
	Latency       latencyMS `json:"latency_ms"`
}

// cpuUsage is where the machine's CPU went over a measured window: the CPU
// time (utime + stime) of each watched process and the machine's busy time,
// read when the window began and when it ended.
type cpuUsage struct {
	WindowSeconds float64    `json:"window_seconds"` // wall time between the two readings
	Per           string     `json:"per"`            // what the µs are per: "reply" or "order"
	Units         int64      `json:"units"`          // replies or orders complete inside the window
	CPUs          int        `json:"nproc"`          // CPUs of /proc/stat
	Processes     []cpuShare `json:"processes"`
	Machine       cpuShare   `json:"machine_busy"`          // all CPUs' time neither idle nor waiting for I/O
	BusyFraction  float64    `json:"machine_busy_fraction"` // of all CPUs' time
	// Unaccounted is the machine's busy time minus the processes': kernel
	// threads, softirq work not charged to a listed process, and every
	// other process. (With tick-based CPU accounting a softirq's time is
	// charged to the process it interrupted.) It can come out slightly
	// negative: a process's time is its exact run time, the machine's is
	// sampled at each tick.
	Unaccounted cpuShare `json:"unaccounted"`
}

// cpuShare is the CPU time of one process, one server's processes, or the
// machine over a window.
type cpuShare struct {
	Process       string  `json:"process"`
	Pids          int     `json:"pids,omitempty"` // processes summed
	Seconds       float64 `json:"cpu_seconds"`
	Cores         float64 `json:"cores"`       // Seconds ÷ the window: cores used on average
	MicrosPerUnit float64 `json:"us_per_unit"` // CPU µs ÷ the window's replies or orders; 0 when there were none
}

// target is a goal a figure is held against; reported, never failed.
type target struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Goal   float64 `json:"goal"`
	Unit   string  `json:"unit"`    // "%" (Value and Goal are ratios) or "ms"
	AtMost bool    `json:"at_most"` // met when Value ≤ Goal; else when Value ≥ Goal
	Met    bool    `json:"met"`
	Known  bool    `json:"known"` // false when the figure could not be measured
}

// ratio is a ÷ b, or 0 when b is not positive.
func ratio(a, b float64) float64 {
	if b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return 0
	}
	return a / b
}

// phaseByName returns the phase named, or nil.
func (r *report) phaseByName(name string) *phase {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			return &r.Phases[i]
		}
	}
	return nil
}

// setRatios fills the baseline, the mean req/s of the hello-world phases
// measured, and each phase's ratio to it.
func (r *report) setRatios() {
	var sum float64
	var n int
	for _, name := range []string{phaseHello, phaseHelloEnd} {
		if h := r.phaseByName(name); h != nil && h.RPS > 0 {
			sum += h.RPS
			n++
		}
	}
	if n == 0 {
		return
	}
	r.BaselineRPS = sum / float64(n)
	for i := range r.Phases {
		r.Phases[i].Ratio = ratio(r.Phases[i].RPS, r.BaselineRPS)
	}
}

// Goals of issue 6, held against the figures of the same run.
const (
	goalContended = 0.60 // contended req/s ÷ hello req/s
	goalSoldOut   = 0.90 // sold-out req/s ÷ hello req/s
	goalPersisted = 0.85 // orders persisted/s ÷ raw confirmed-publish ceiling
	goalDrain     = 0.85 // worker-alone orders persisted/s ÷ raw confirmed-publish ceiling
	goalP99MS     = 10.0 // contended p99 at 64 connections
)

// evaluateTargets holds the run's figures against the goals.
func (r *report) evaluateTargets() {
	mk := func(name string, value, goal float64, unit string, atMost, known bool) target {
		t := target{Name: name, Value: value, Goal: goal, Unit: unit, AtMost: atMost, Known: known}
		if known {
			t.Met = value >= goal
			if atMost {
				t.Met = value <= goal
			}
		}
		return t
	}
	c, s := r.phaseByName(phaseContended), r.phaseByName(phaseSoldOut)
	var ts []target
	ts = append(ts, mk("contended req/s ÷ hello-world req/s", ratioOf(c), goalContended, "%", false, c != nil && c.Requests > 0))
	ts = append(ts, mk("sold-out req/s ÷ hello-world req/s", ratioOf(s), goalSoldOut, "%", false, s != nil && s.Requests > 0))
	e := r.EndToEnd
	ts = append(ts, mk("orders persisted/s ÷ raw confirmed-publish ceiling", func() float64 {
		if e == nil {
			return 0
		}
		return e.Ratio
	}(), goalPersisted, "%", false, e != nil && e.CeilingPerSec > 0 && e.PersistedPerSec > 0))
	d := r.Drain
	ts = append(ts, mk("worker-alone persisted/s ÷ raw confirmed-publish ceiling (persistence stage alone, informational)", func() float64 {
		if d == nil {
			return 0
		}
		return d.Ratio
	}(), goalDrain, "%", false, d != nil && d.CeilingPerSec > 0 && d.PersistedPerSec > 0))
	p99 := 0.0
	if c != nil {
		p99 = c.Latency.P99
	}
	ts = append(ts, mk(fmt.Sprintf("contended p99 at %d connections (goal set at 64)", r.Settings.Connections),
		p99, goalP99MS, "ms", true, c != nil && c.Requests > 0))
	r.Targets = ts
}

func ratioOf(p *phase) float64 {
	if p == nil {
		return 0
	}
	return p.Ratio
}

// writeJSON writes the report as indented JSON.
func (r *report) writeJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

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
	p(".\n\n")
	p("Closed loop: %d connections, each with its own keep-alive connection sending back to back; "+
		"%s warm-up + %s measured per phase. api: SECKILL_PUBLISH_BATCH=%d, SECKILL_PUBLISH_INFLIGHT=%d; "+
		"worker: batch %d, prefetch %d.\n\n",
		s.Connections, fmtSeconds(s.WarmupSeconds), fmtSeconds(s.DurationSeconds), s.PublishBatch, s.PublishInFlight,
		s.WorkerBatch, s.WorkerPrefetch)

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
			"contended purchases could reach at most %s of hello-world here.\n\n",
			fmtMicros(b.HelloMachineMicros, 1), fmtMicros(b.ServersMicros, 1), fmtPct(b.Ratio))
	}

	if e := r.EndToEnd; e != nil {
		p("| end to end (contended sale) | value |\n|---|---:|\n")
		p("| orders accepted (202, warm-up included) | %s |\n", fmtInt(float64(e.Accepted)))
		p("| first request → last row in MySQL | %s |\n", fmtSeconds(e.LastRowSeconds))
		p("| last 202 → last row in MySQL | %s |\n", fmtLag(e))
		p("| **orders persisted/s** | **%s** |\n", fmtInt(e.PersistedPerSec))
		p("| api orders per confirmed message | %.1f (%s messages) |\n", e.OrdersPerMessage, fmtInt(float64(e.Messages)))
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
		for _, pu := range ph.Usages() {
			p("| %s | %s | %.0f MB | %.0f MB | %d (%d) |\n", pu.Name, ph.Name, pu.RSSMB, pu.PeakRSSMB,
				pu.Goroutines, pu.PeakGoroutines)
		}
	}
	p("\n")

	p("| target | value | goal | met |\n|---|---:|---:|---|\n")
	for _, t := range r.Targets {
		p("| %s | %s | %s | %s |\n", t.Name, t.ValueText(), t.GoalText(), t.MetText())
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

// Usages are the phase's apis and worker, in the report's order.
func (ph phase) Usages() []namedUsage {
	var out []namedUsage
	for i, u := range ph.APIs {
		out = append(out, namedUsage{apiName(i, len(ph.APIs)), u})
	}
	if ph.Worker != nil {
		out = append(out, namedUsage{"worker", *ph.Worker})
	}
	return out
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
	p("| worker alone (pre-filled queue) | value |\n|---|---:|\n")
	p("| orders queued while the worker was stopped (%d order(s)/message × %d in flight, as the compared ceiling) | %s (%s messages, confirmed in %s) |\n",
		d.Batch, d.InFlight, fmtInt(float64(d.Orders)), fmtInt(float64(d.Messages)), fmtSeconds(d.PublishSeconds))
	for _, row := range drainRows(d) {
		p("| %s | %s |\n", row[0], row[1])
	}
	p("\n")
}

// drainRows are the worker-alone table's rows after the first, label and
// value; the bold ones are Markdown.
func drainRows(d *drainResult) [][2]string {
	if !d.Complete {
		return [][2]string{{"rows in MySQL at the end of the wait (incomplete)", fmtInt(float64(d.Persisted))}}
	}
	return [][2]string{
		{"worker start → first row", fmtSeconds(d.FirstRowSeconds) + " (" + fmtInt(float64(d.FirstRows)) + " rows)"},
		{"worker start → last row", fmtSeconds(d.LastRowSeconds) + " (" + fmtInt(d.StartToLastPerSec) + " orders/s)"},
		{"first row → last row", fmtSeconds(d.SpanSeconds)},
		{"**orders persisted/s (first row → last row)**", "**" + fmtInt(d.PersistedPerSec) + "**"},
		{"raw confirmed-publish ceiling (compared)", fmtInt(d.CeilingPerSec) + " orders/s"},
		{"**worker-alone persisted/s ÷ ceiling**", "**" + fmtPct(d.Ratio) + "**"},
	}
}

// cpuNote explains the CPU tables.
const cpuNote = "CPU time (utime + stime of /proc/<pid>/stat) over each measured window: cores used on average " +
	"(CPU seconds ÷ window seconds) · CPU µs per %s complete in the window. Machine busy: all CPUs' time " +
	"neither idle nor in iowait (/proc/stat); unaccounted: machine busy minus the processes listed " +
	"(kernel threads, softirq work charged to no listed process, every other process). A process's time is " +
	"its exact run time, the machine's is sampled at each clock tick: the two can differ by a few percent, " +
	"and unaccounted can come out slightly negative."

// cpuGrid is a table of CPU use: a column per measured window, a row per
// process, then the machine's busy time and what the processes leave
// unaccounted.
type cpuGrid struct {
	Title   string // the corner cell, e.g. "CPU per reply"
	Note    string
	Columns []string
	Rows    []cpuRow
}

// cpuRow is one line of a cpuGrid.
type cpuRow struct {
	Label string
	Cells []string
}

// cpuLabels describe the processes of the CPU tables.
var cpuLabels = map[string]string{
	"bench":        "bench (load generator)",
	"hello":        "hello-world server",
	"redis-server": "redis-server (Redis)",
	"beam.smp":     "beam.smp (RabbitMQ)",
	"mariadbd":     "mariadbd (MariaDB)",
	"mysqld":       "mysqld (MySQL)",
}

func cpuLabel(name string) string {
	if l, ok := cpuLabels[name]; ok {
		return l
	}
	return name
}

// phaseCPUGrid is the phases' CPU per reply; false when none was measured.
func (r *report) phaseCPUGrid() (cpuGrid, bool) {
	var cols []string
	var us []*cpuUsage
	for _, ph := range r.Phases {
		cols, us = append(cols, ph.Name), append(us, ph.CPU)
	}
	return cpuGridOf("CPU per reply", "reply", cols, us)
}

// ceilingCPUGrid is the raw publish runs' CPU per order; false when none
// was measured.
func (r *report) ceilingCPUGrid() (cpuGrid, bool) {
	var cols []string
	var us []*cpuUsage
	for _, c := range r.Ceilings {
		cols = append(cols, fmt.Sprintf("raw publish, %d order(s)/message × %d in flight", c.Batch, c.InFlight))
		us = append(us, c.CPU)
	}
	return cpuGridOf("CPU per order", "order", cols, us)
}

// drainCPUGrid is the worker-alone drain's CPU per order; false when it
// was not measured.
func (r *report) drainCPUGrid() (cpuGrid, bool) {
	if r.Drain == nil {
		return cpuGrid{}, false
	}
	return cpuGridOf("CPU per order", "order", []string{"worker alone, worker start → last row"}, []*cpuUsage{r.Drain.CPU})
}

// cpuGridOf lays out the usages, one column each (nil: not measured), with
// the processes of any of them as rows in their first order.
func cpuGridOf(title, per string, cols []string, us []*cpuUsage) (cpuGrid, bool) {
	note := fmt.Sprintf(cpuNote, per)
	if per != "reply" { // the phases' table comes first and explains them all
		note = "The same CPU accounting, per " + per + " complete in the window."
	}
	g := cpuGrid{Title: title, Note: note, Columns: cols}
	var names []string
	cpus, measured := 0, false
	for _, u := range us {
		if u == nil {
			continue
		}
		measured = true
		cpus = max(cpus, u.CPUs)
		for _, s := range u.Processes {
			if !slices.Contains(names, s.Process) {
				names = append(names, s.Process)
			}
		}
	}
	if !measured {
		return g, false
	}
	for _, name := range names {
		row := cpuRow{Label: cpuLabel(name)}
		if n := maxPids(us, name); n > 1 {
			row.Label += fmt.Sprintf(", %d processes summed", n)
		}
		for _, u := range us {
			row.Cells = append(row.Cells, processCell(u, name))
		}
		g.Rows = append(g.Rows, row)
	}
	busy := cpuRow{Label: fmt.Sprintf("machine busy (share of %d cores)", cpus)}
	rest := cpuRow{Label: "unaccounted (kernel softirq, other processes)"}
	for _, u := range us {
		if u == nil {
			busy.Cells, rest.Cells = append(busy.Cells, "–"), append(rest.Cells, "–")
			continue
		}
		busy.Cells = append(busy.Cells, fmtPct(u.BusyFraction)+" · "+fmtMicros(u.Machine.MicrosPerUnit, u.Units))
		rest.Cells = append(rest.Cells, shareCell(u.Unaccounted, u.Units))
	}
	g.Rows = append(g.Rows, busy, rest)
	return g, true
}

// maxPids is the most processes the named group summed in any of us.
func maxPids(us []*cpuUsage, name string) int {
	n := 0
	for _, u := range us {
		if u == nil {
			continue
		}
		for _, s := range u.Processes {
			if s.Process == name {
				n = max(n, s.Pids)
			}
		}
	}
	return n
}

// processCell shows the named process's share of u, "–" when u does not
// have it.
func processCell(u *cpuUsage, name string) string {
	if u == nil {
		return "–"
	}
	for _, s := range u.Processes {
		if s.Process == name {
			return shareCell(s, u.Units)
		}
	}
	return "–"
}

// shareCell shows cores and µs per unit: "0.61 cores · 92 µs".
func shareCell(s cpuShare, units int64) string {
	return strconv.FormatFloat(s.Cores, 'f', 2, 64) + " cores · " + fmtMicros(s.MicrosPerUnit, units)
}

// fmtMicros shows µs with three significant digits, thousands grouped; "–"
// when there were no units to divide by.
func fmtMicros(v float64, units int64) string {
	switch {
	case units <= 0:
		return "– µs"
	case math.Abs(v) >= 100:
		return fmtInt(v) + " µs"
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " µs"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " µs"
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

// ValueText shows the value in its unit.
func (t target) ValueText() string {
	switch {
	case !t.Known:
		return "n/a"
	case t.Unit == "%":
		return fmtPct(t.Value)
	}
	return fmtMS(t.Value)
}

// GoalText shows the goal with its direction.
func (t target) GoalText() string {
	op := "≥"
	if t.AtMost {
		op = "≤"
	}
	if t.Unit == "%" {
		return op + " " + fmtPct(t.Goal)
	}
	return op + " " + fmtMS(t.Goal)
}

// MetText says whether the goal was met.
func (t target) MetText() string {
	switch {
	case !t.Known:
		return "not measured"
	case t.Met:
		return "met"
	}
	return "**not met**"
}

// fmtInt rounds v and groups its digits by thousands: 12345.6 → "12,346".
func fmtInt(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtPct shows a ratio as a percentage with one decimal: 0.6 → "60.0%".
func fmtPct(r float64) string { return strconv.FormatFloat(r*100, 'f', 1, 64) + "%" }

// fmtMS shows milliseconds with three significant digits at most.
func fmtMS(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
}

// fmtSeconds shows seconds with two decimals at most: 12.3456 → "12.35 s".
func fmtSeconds(s float64) string {
	return strconv.FormatFloat(math.Round(s*100)/100, 'f', -1, 64) + " s"
}

func itoa(n int) string { return strconv.Itoa(n) }

// bound is the most the contended phase could reach on the run's machine
// if the api and the load generator cost nothing: the CPU of a hello-world
// reply (all of the machine's) over what the other servers spend per
// contended order.
type bound struct {
	HelloMachineMicros float64 `json:"hello_machine_us_per_reply"`
	ServersMicros      float64 `json:"servers_us_per_contended_order"`
	Ratio              float64 `json:"ratio"`
}

// boundServers are the processes a contended order needs besides the api
// and the load generator.
var boundServers = []string{"redis-server", "beam.smp", "mariadbd", "mysqld", "memcached", "worker"}

// contendedBound computes the bound from the phases' CPU; false when they
// were not measured.
func (r *report) contendedBound() (bound, bool) {
	var hello float64
	var n int
	for _, name := range []string{phaseHello, phaseHelloEnd} {
		if h := r.phaseByName(name); h != nil && h.CPU != nil && h.CPU.Machine.MicrosPerUnit > 0 {
			hello += h.CPU.Machine.MicrosPerUnit
			n++
		}
	}
	c := r.phaseByName(phaseContended)
	if n == 0 || c == nil || c.CPU == nil {
		return bound{}, false
	}
	var servers float64
	for _, sh := range c.CPU.Processes {
		if slices.Contains(boundServers, sh.Process) {
			servers += sh.MicrosPerUnit
		}
	}
	if servers <= 0 {
		return bound{}, false
	}
	b := bound{HelloMachineMicros: hello / float64(n), ServersMicros: servers}
	b.Ratio = b.HelloMachineMicros / b.ServersMicros
	return b, true
}
