package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

func TestRatio(t *testing.T) {
	tests := []struct{ a, b, want float64 }{
		{30, 60, 0.5}, {0, 10, 0}, {10, 0, 0}, {10, -1, 0},
	}
	for _, tt := range tests {
		if got := ratio(tt.a, tt.b); got != tt.want {
			t.Errorf("ratio(%g, %g) = %g, want %g", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestFormats(t *testing.T) {
	ints := map[float64]string{0: "0", 999.4: "999", 999.5: "1,000", 1234567: "1,234,567", -4321: "-4,321", 100000: "100,000"}
	for v, want := range ints {
		if got := fmtInt(v); got != want {
			t.Errorf("fmtInt(%g) = %q, want %q", v, got, want)
		}
	}
	if got := fmtPct(0.6); got != "60.0%" {
		t.Errorf("fmtPct(0.6) = %q", got)
	}
	mss := map[float64]string{0.123: "0.12 ms", 9.876: "9.88 ms", 12.34: "12.3 ms", 123.4: "123 ms"}
	for v, want := range mss {
		if got := fmtMS(v); got != want {
			t.Errorf("fmtMS(%g) = %q, want %q", v, got, want)
		}
	}
	if got := fmtSeconds(12.3456); got != "12.35 s" {
		t.Errorf("fmtSeconds = %q", got)
	}
}

// sampleReport is a run whose figures meet one target out of seven and
// leave two unmeasured (no CPU figures).
func sampleReport() *report {
	r := &report{
		Machine:  machine{CPUs: 2, CPUModel: "AMD EPYC", GoVersion: "go1.26.8", OS: "linux/amd64", Date: "2026-11-26T00:00:00Z"},
		Settings: settings{Connections: 64, WarmupSeconds: 2, DurationSeconds: 10, PublishBatch: 64, PublishInFlight: 8, PublishLingerMS: 3, PublishFill: 48, WorkerBatch: 128, WorkerPrefetch: 256},
		Phases: []phase{
			{Name: phaseHello, Target: "gin, POST /hello", Expect: "202", Requests: 200000, RPS: 20000, Latency: load.LatencyMS{P50: 2.5, P99: 9}},
			{Name: phaseContended, Target: "distinct users", Expect: "202", Requests: 50000, RPS: 5000, Latency: load.LatencyMS{P50: 11, P99: 42.31}, Errors: 0,
				APIs: []procUsage{{RSSMB: 60, PeakRSSMB: 70, Goroutines: 90, PeakGoroutines: 130}}},
			{Name: phaseSoldOut, Target: "distinct users", Expect: "409 sold_out", Requests: 190000, RPS: 19000, Latency: load.LatencyMS{P50: 2.6, P99: 9.5}, Errors: 3},
		},
		EndToEnd: &endToEnd{Accepted: 60000, LastRowSeconds: 12.5, PersistedPerSec: 4800, OrdersPerMessage: 7.9, Messages: 7595,
			CeilingBatch: 8, CeilingPerSec: 5000, LastAcceptedSeconds: 12.25, LagSeconds: 0.25},
		Drain: &drainResult{SaleIDs: []int64{3}, Workers: 1, Partitions: 1, Orders: 20128, Messages: 2516, Batch: 8, InFlight: 8, PublishSeconds: 4.2, CeilingPerSec: 5000},
		Ceilings: []ceilingResult{
			{Batch: 8, InFlight: 8, MessagesPerS: 625, OrdersPerS: 5000, ComparedToAPI: true, MessageBytes: 1000},
			{Batch: 1, InFlight: 64, MessagesPerS: 3000, OrdersPerS: 3000, MessageBytes: 200},
		},
		Invariants: []load.Check{{Name: "contended: no oversell", OK: true, Detail: "ok"}},
	}
	r.EndToEnd.Ratio = ratio(r.EndToEnd.PersistedPerSec, r.EndToEnd.CeilingPerSec)
	// 20,000 rows in the 5 s from the first poll that saw a row (128 of them) to the last.
	r.Drain.setRows(rowWait{Count: 20128, Seen: true, First: 500 * time.Millisecond, FirstRows: 128, Done: true, Last: 5500 * time.Millisecond})
	r.Drain.Ratio = ratio(r.Drain.PersistedPerSec, r.Drain.CeilingPerSec)
	r.setRatios()
	r.evaluateTargets()
	return r
}

func TestRatiosAndTargets(t *testing.T) {
	r := sampleReport()
	for name, want := range map[string]float64{phaseHello: 1, phaseContended: 0.25, phaseSoldOut: 0.95} {
		if got := r.phaseByName(name).Ratio; got != want {
			t.Errorf("%s ratio %g, want %g", name, got, want)
		}
	}
	want := []struct {
		value      float64
		met, known bool
	}{
		{0.25, false, true}, {0.95, false, true}, {0.96, true, true}, {0.8, false, true},
		{42.31 / 9, false, true}, // contended p99 ÷ the hello-world phase's
		{0, false, false},        // no CPU measured: servers per order
		{0, false, false},        // and the api's ratio unknown
	}
	check := func(r *report) {
		t.Helper()
		if len(r.Targets) != len(want) {
			t.Fatalf("%d targets, want %d", len(r.Targets), len(want))
		}
		for i, w := range want {
			tg := r.Targets[i]
			if math.Abs(tg.Value-w.value) > 1e-9 || tg.Met != w.met || tg.Known != w.known {
				t.Errorf("target %q = %g met %t known %t; want %g met %t known %t", tg.Name, tg.Value, tg.Met, tg.Known, w.value, w.met, w.known)
			}
		}
	}
	check(r)
	// With CPU measured: the servers besides the api against 60 µs, the
	// api's contended order against 1.4 times its sold-out reply.
	share := func(name string, us float64) cpuShare { return cpuShare{Process: name, MicrosPerUnit: us} }
	r.Phases[1].CPU = &cpuUsage{Processes: []cpuShare{share("bench", 40), share("api", 70), share("redis-server", 15),
		share("beam.smp", 20), share("mariadbd", 13), share("worker", 9)}}
	r.Phases[2].CPU = &cpuUsage{Processes: []cpuShare{share("bench", 30), share("api", 35)}}
	r.evaluateTargets()
	want[5] = struct {
		value      float64
		met, known bool
	}{57, true, true}
	want[6] = struct {
		value      float64
		met, known bool
	}{2, false, true}
	check(r)
	r.Settings.Connections = 256 // a crowd: the contended goal is 60%
	r.evaluateTargets()
	if g := r.Targets[0].Goal; g != goalContendedCrowd {
		t.Errorf("contended goal at 256 connections: %g, want %g", g, goalContendedCrowd)
	}
	// The end-to-end line comes first, the persistence stage's next to it.
	if !strings.HasPrefix(r.Targets[2].Name, "orders persisted/s ÷ raw confirmed-publish ceiling") ||
		!strings.HasPrefix(r.Targets[3].Name, "worker-alone persisted/s ÷ raw confirmed-publish ceiling") {
		t.Errorf("targets 3 and 4: %q, %q", r.Targets[2].Name, r.Targets[3].Name)
	}
	// The p99 goal is an upper bound: exactly on it is met.
	r.Phases[1].Latency.P99 = goalP99Ratio * r.Phases[0].Latency.P99
	r.evaluateTargets()
	if !r.Targets[4].Met {
		t.Error("p99 equal to the goal not met")
	}
	// A drain that did not complete has no rate: its target is unknown.
	r.Drain.setRows(rowWait{Count: 10})
	r.Drain.PersistedPerSec, r.Drain.Ratio = 0, 0
	r.evaluateTargets()
	if r.Targets[3].Known {
		t.Error("incomplete drain: target known")
	}
	// Nothing measured: targets are unknown, never met.
	empty := &report{}
	empty.evaluateTargets()
	for _, tg := range empty.Targets {
		if tg.Known || tg.Met || tg.metText() != "not measured" || tg.valueText() != "n/a" {
			t.Errorf("empty report target %+v", tg)
		}
	}
}

func TestMarkdownTable(t *testing.T) {
	var b bytes.Buffer
	sampleReport().writeMarkdown(&b)
	md := b.String()
	wantIn(t, "markdown", md,
		"AMD EPYC · nproc 2 · go1.26.8",
		"SECKILL_PUBLISH_LINGER=3ms, SECKILL_PUBLISH_FILL=48; worker: batch 128",
		"| phase | req/s | ratio to hello-world | p50 | p99 | errors |",
		"| hello-world (gin, POST /hello → 202) | 20,000 | 100.0% | 2.50 ms | 9.00 ms | 0 |",
		"| contended (distinct users → 202) | 5,000 | 25.0% | 11.0 ms | 42.3 ms | 0 |",
		"| sold-out (distinct users → 409 sold_out) | 19,000 | 95.0% | 2.60 ms | 9.50 ms | 3 |",
		"| **orders persisted/s** | **4,800** |",
		"8 order(s)/message × 8 in flight **(compared)** | 5,000 orders/s",
		"| **orders persisted/s ÷ ceiling** | **96.0%** |",
		"| last 202 → last row in MySQL | 0.25 s |",
		"| worker alone (pre-filled queue) | value |",
		"| orders queued while the worker was stopped (8 order(s)/message × 8 in flight, as the compared ceiling) | 20,128 (2,516 messages, confirmed in 4.2 s) |",
		"| worker start → first row | 0.5 s (128 rows) |",
		"| worker start → last row | 5.5 s (3,660 orders/s) |",
		"| first row → last row | 5 s |",
		"| **orders persisted/s (first row → last row)** | **4,000** |",
		"| raw confirmed-publish ceiling (compared) | 5,000 orders/s |",
		"| **worker-alone persisted/s ÷ ceiling** | **80.0%** |",
		"| worker-alone persisted/s ÷ raw confirmed-publish ceiling (persistence stage alone, informational) | 80.0% | ≥ 85.0% | **not met** |",
		"| api | contended | 60 MB | 70 MB | 90 (130) |",
		"| contended req/s ÷ hello-world req/s | 25.0% | ≥ 45.0% | **not met** |",
		"| sold-out req/s ÷ hello-world req/s | 95.0% | ≥ 97.0% | **not met** |",
		"| contended p99 ÷ hello-world p99 | 4.70× | ≤ 2.00× | **not met** |",
		"| api: CPU µs per contended order ÷ per sold-out reply | n/a | ≤ 1.40× | not measured |",
		"Invariants: all 1 hold",
	)
	// Every table row has as many cells as its header.
	var cols int
	for line := range strings.Lines(md) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := strings.Count(line, "|")
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("row %q has %d bars, its header %d", line, n, cols)
		}
	}
}

func TestMarkdownListsFailures(t *testing.T) {
	r := sampleReport()
	r.Invariants = append(r.Invariants, load.Check{Name: "contended: every accepted order persisted", Detail: "persisted 9, expected 10"})
	r.Notes = []string{"tokens ran out"}
	var b bytes.Buffer
	r.writeMarkdown(&b)
	wantIn(t, "markdown", b.String(), "Invariants FAILED", "- contended: every accepted order persisted: persisted 9, expected 10", "Note: tokens ran out")
}

// TestWriteReport: a report is bench.md and bench.json, nothing else, and
// the JSON carries every section with the per-second series.
func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	persisted := 4700.0
	r.Phases[1].Timeline = []second{{T: 0, Width: 1, RPS: 5100, P50MS: 11, P99MS: 40}, {T: 1, Width: 0.5, RPS: 4900, P50MS: 12, P99MS: 44, Errors: 1}}
	r.EndToEnd.Timeline = []flowPoint{{T: 0, Width: 1, AcceptedPerS: 5100, PersistPerS: &persisted}, {T: 1, Width: 1}}
	r.Ceilings[0].Timeline = []second{{T: 0, Width: 1, RPS: 625, P50MS: 3, P99MS: 9}}
	var md bytes.Buffer
	r.writeMarkdown(&md)
	if err := writeReport(dir, md.Bytes(), r); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"bench.json", "bench.md"}) {
		t.Errorf("written %v, want bench.json and bench.md", names)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "bench.md")); err != nil || !bytes.Equal(got, md.Bytes()) {
		t.Errorf("bench.md is not the report (%v)", err)
	}
	js, err := os.ReadFile(filepath.Join(dir, "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"machine", "settings", "phases", "end_to_end", "ceilings", "drain", "targets", "invariants"} {
		if _, ok := back[k]; !ok {
			t.Errorf("bench.json lacks %q", k)
		}
	}
	var series struct {
		Phases   []struct{ Timeline []second }  `json:"phases"`
		EndToEnd struct{ Timeline []flowPoint } `json:"end_to_end"`
		Ceilings []struct{ Timeline []second }  `json:"ceilings"`
	}
	if err := json.Unmarshal(js, &series); err != nil {
		t.Fatal(err)
	}
	if len(series.Phases) != len(r.Phases) || !reflect.DeepEqual(series.Phases[1].Timeline, r.Phases[1].Timeline) ||
		!reflect.DeepEqual(series.EndToEnd.Timeline, r.EndToEnd.Timeline) ||
		len(series.Ceilings) != len(r.Ceilings) || !reflect.DeepEqual(series.Ceilings[0].Timeline, r.Ceilings[0].Timeline) {
		t.Errorf("bench.json does not carry the per-second series:\n%s", js)
	}
}

func TestFlowTimeline(t *testing.T) {
	msec := time.Millisecond
	recs := []load.Record{
		{At: 100 * msec, Outcome: load.Accepted}, {At: 900 * msec, Outcome: load.Accepted},
		{At: 1500 * msec, Outcome: load.Accepted}, {At: 1600 * msec, Outcome: load.SoldOut},
	}
	samples := []sample{
		{At: 0, Inserted: 0}, {At: time.Second, Inserted: 1}, {At: 2 * time.Second, Inserted: 3}, {At: 3 * time.Second, Inserted: 3},
	}
	f := flowTimeline(recs, samples)
	if len(f) != 3 {
		t.Fatalf("%d points, want 3 (through the last sample)", len(f))
	}
	wantAcc := []float64{2, 1, 0}
	wantPer := []float64{1, 2, 0}
	for i := range f {
		if f[i].AcceptedPerS != wantAcc[i] || f[i].PersistPerS == nil || *f[i].PersistPerS != wantPer[i] {
			t.Errorf("second %d: accepted %g persisted %v; want %g and %g", i, f[i].AcceptedPerS, f[i].PersistPerS, wantAcc[i], wantPer[i])
		}
	}
	if flowTimeline(nil, nil) != nil {
		t.Error("no records, no samples: want no timeline")
	}
}

func TestCountsDetail(t *testing.T) {
	if got := countsDetail(load.Counts{Accepted: 3, ServerError: 1}); got != "202 ×3, 5xx ×1" {
		t.Errorf("countsDetail = %q", got)
	}
	if got := countsDetail(load.Counts{}); got != "none" {
		t.Errorf("countsDetail(empty) = %q", got)
	}
}

func TestMarkdownIncompleteDrain(t *testing.T) {
	r := sampleReport()
	r.Drain.setRows(rowWait{Count: 1234, Seen: true, First: time.Second, FirstRows: 5})
	r.EndToEnd.LastRowSeconds = 0 // the contended rows did not all land either
	var b bytes.Buffer
	r.writeMarkdown(&b)
	md := b.String()
	wantIn(t, "markdown", md,
		"| rows in MySQL at the end of the wait (incomplete) | 1,234 |",
		"| last 202 → last row in MySQL | n/a |",
	)
	if strings.Contains(md, "worker start → last row") {
		t.Error("incomplete drain shows a last row")
	}
}

func TestLastOutcome(t *testing.T) {
	msec := time.Millisecond
	recs := []load.Record{
		{At: 300 * msec, Outcome: load.Accepted}, {At: 900 * msec, Outcome: load.SoldOut},
		{At: 700 * msec, Outcome: load.Accepted}, {At: 100 * msec, Outcome: load.Accepted},
	}
	if at, ok := lastOutcome(recs, load.Accepted); !ok || at != 700*msec {
		t.Errorf("last 202 at %s, %t; want 700ms", at, ok)
	}
	if _, ok := lastOutcome(recs, load.ServerError); ok {
		t.Error("no 5xx, yet one found")
	}
	e := &endToEnd{Accepted: 3}
	e.setLastRow(1500*msec, recs)
	if e.LastRowSeconds != 1.5 || e.LastAcceptedSeconds != 0.7 || math.Abs(e.LagSeconds-0.8) > 1e-9 || e.PersistedPerSec != 2 {
		t.Errorf("end to end %+v; want last row 1.5 s, last 202 0.7 s, lag 0.8 s, 2/s", e)
	}
	if got := fmtLag(e); got != "0.8 s" {
		t.Errorf("fmtLag = %q", got)
	}
	none := &endToEnd{}
	none.setLastRow(time.Second, nil)
	if none.LagSeconds != 0 || fmtLag(none) != "n/a" {
		t.Errorf("no 202: lag %g, %q", none.LagSeconds, fmtLag(none))
	}
}

func TestRowWait(t *testing.T) {
	var w rowWait
	msec := time.Millisecond
	for i, p := range []struct {
		at   time.Duration
		n    int64
		done bool
	}{{20 * msec, 0, false}, {40 * msec, 0, false}, {60 * msec, 128, false}, {80 * msec, 512, false}, {100 * msec, 1000, true}, {120 * msec, 1000, true}} {
		if got := w.observe(p.at, p.n, 1000); got != p.done {
			t.Errorf("poll %d: done %t, want %t", i, got, p.done)
		}
	}
	if !w.Seen || w.First != 60*msec || w.FirstRows != 128 || !w.Done || w.Last != 100*msec || w.Count != 1000 {
		t.Errorf("rowWait %+v; want first 60ms with 128 rows, last 100ms", w)
	}
	var none rowWait
	none.observe(time.Second, 0, 10)
	if none.Seen || none.Done {
		t.Errorf("no rows: %+v", none)
	}
}

func TestDrainSetRows(t *testing.T) {
	d := &drainResult{Orders: 1100}
	d.setRows(rowWait{Count: 1100, Seen: true, First: time.Second, FirstRows: 100, Done: true, Last: 3 * time.Second})
	if !d.Complete || d.Persisted != 1100 || d.FirstRowSeconds != 1 || d.LastRowSeconds != 3 || d.SpanSeconds != 2 ||
		d.PersistedPerSec != 500 || math.Abs(d.StartToLastPerSec-1100.0/3) > 1e-9 {
		t.Errorf("drain %+v; want 1,000 rows over the 2 s span = 500/s, 1,100 over 3 s from the start", d)
	}
	inc := &drainResult{Orders: 1100}
	inc.setRows(rowWait{Count: 700, Seen: true, First: time.Second, FirstRows: 100})
	if inc.Complete || inc.Persisted != 700 || inc.PersistedPerSec != 0 || inc.LastRowSeconds != 0 {
		t.Errorf("incomplete drain %+v", inc)
	}
}

func TestComparedCeilingAndStock(t *testing.T) {
	r := sampleReport()
	if c := r.comparedCeiling(); c == nil || c.Batch != 8 || c.InFlight != 8 {
		t.Errorf("compared ceiling %+v", c)
	}
	r.Ceilings[0].ComparedToAPI = false
	if c := r.comparedCeiling(); c != nil {
		t.Errorf("no compared ceiling, got %+v", c)
	}
	for orders, want := range map[int64]int64{100_000: 1_000_000, 0: 1_000_000, 800_000: 1_600_000} {
		if got := drainStock(orders); got != want {
			t.Errorf("drainStock(%d) = %d, want %d", orders, got, want)
		}
	}
}

func TestDrainCPUGrid(t *testing.T) {
	r := sampleReport()
	if _, ok := r.drainCPUGrid(); ok {
		t.Error("no drain CPU measured, yet a grid")
	}
	r.Drain.CPU = &cpuUsage{Units: 20128, CPUs: 2, WindowSeconds: 5.5, BusyFraction: 0.5,
		Processes: []cpuShare{{Process: "worker", Cores: 0.4, MicrosPerUnit: 109}, {Process: "mariadbd", Cores: 0.6, MicrosPerUnit: 164}},
		Machine:   cpuShare{Seconds: 5.5, MicrosPerUnit: 273}}
	g, ok := r.drainCPUGrid()
	if !ok || len(g.Columns) != 1 || len(g.Rows) != 4 || g.Rows[0].Label != "worker" || g.Rows[1].Label != "mariadbd (MariaDB)" {
		t.Fatalf("drain CPU grid %+v", g)
	}
	var b bytes.Buffer
	r.writeMarkdown(&b)
	if !strings.Contains(b.String(), "| CPU per order | worker alone, worker start → last row |") {
		t.Errorf("markdown lacks the drain CPU table:\n%s", b.String())
	}
	r.Drain = nil
	if _, ok := r.drainCPUGrid(); ok {
		t.Error("no drain, yet a grid")
	}
}

// TestBaselineIsTheMeanOfBothHelloPhases: a machine that drifts during the
// run moves the baseline halfway, not the whole way, against every phase.
func TestBaselineIsTheMeanOfBothHelloPhases(t *testing.T) {
	r := &report{Phases: []phase{
		{Name: phaseHello, RPS: 1200},
		{Name: phaseContended, RPS: 250},
		{Name: phaseSoldOut, RPS: 900},
		{Name: phaseHelloEnd, RPS: 800},
	}}
	r.setRatios()
	if r.BaselineRPS != 1000 {
		t.Fatalf("baseline %g, want 1000 (the mean of 1200 and 800)", r.BaselineRPS)
	}
	for name, want := range map[string]float64{phaseHello: 1.2, phaseContended: 0.25, phaseSoldOut: 0.9, phaseHelloEnd: 0.8} {
		if got := r.phaseByName(name).Ratio; math.Abs(got-want) > 1e-9 {
			t.Errorf("%s ratio %g, want %g", name, got, want)
		}
	}
	var md strings.Builder
	r.writeMarkdown(&md)
	if !strings.Contains(md.String(), "hello-world phases run before and after the purchase phases: 1,000 req/s") {
		t.Errorf("the Markdown does not state the baseline:\n%s", md.String())
	}
}

// TestMarkdownSeveralWorkers: with two workers the report names the
// partitions they share and shows the rows each inserted, in the contended
// phase and in the worker alone; bench.json keeps them per worker.
func TestMarkdownSeveralWorkers(t *testing.T) {
	r := sampleReport()
	r.Setup = setup{Redis: redisTarget{Shown: singleRedisURL}, APIs: 1, Workers: 2}
	r.Settings.Partitions = 4
	r.EndToEnd.WorkerInserted = []int64{60000, 0}
	r.Drain.SaleIDs, r.Drain.Workers, r.Drain.Partitions = []int64{5, 6, 7, 8}, 2, 4
	r.Drain.WorkerInserted = []int64{10120, 10008}
	r.Drain.CPU = &cpuUsage{Units: 20128, CPUs: 2, Processes: []cpuShare{{Process: "worker", Pids: 2, Cores: 0.8, MicrosPerUnit: 210}}}
	var b bytes.Buffer
	r.writeMarkdown(&b)
	md := b.String()
	wantIn(t, "markdown", md,
		"Setup: single Redis ("+singleRedisURL+"), 1 api, 2 workers sharing 4 persist partitions.",
		"| rows inserted, by worker (the sale is one persist partition: one worker holds it) | worker1 60,000 · worker2 0 |",
		"| worker alone: 2 workers started together (pre-filled queues) | value |",
		"| orders queued while the workers were stopped (8 order(s)/message × 8 in flight, as the compared ceiling) |",
		"| orders spread over | 4 sales, one per persist partition (4) |",
		"| rows inserted, by worker | worker1 10,120 · worker2 10,008 |",
		"| workers' start → first row | 0.5 s (128 rows) |",
		"| worker, 2 processes summed | 0.80 cores · 210 µs |",
	)
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Settings struct {
			Partitions int `json:"persist_partitions"`
		} `json:"settings"`
		EndToEnd struct {
			Inserted []int64 `json:"worker_inserted"`
		} `json:"end_to_end"`
		Drain struct {
			Sales    []int64 `json:"sale_ids"`
			Workers  int     `json:"workers"`
			Inserted []int64 `json:"worker_inserted"`
		} `json:"drain"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.Settings.Partitions != 4 || len(back.EndToEnd.Inserted) != 2 || back.Drain.Workers != 2 ||
		len(back.Drain.Sales) != 4 || back.Drain.Inserted[1] != 10008 {
		t.Errorf("bench.json %s", js)
	}

	// One worker: no per-worker rows, and the drain shaped as the api
	// published when no ceiling was measured shows no ratio to it.
	one := sampleReport()
	one.Drain.CeilingPerSec, one.Drain.WorkerInserted = 0, []int64{20128}
	b.Reset()
	one.writeMarkdown(&b)
	md = b.String()
	if strings.Contains(md, "rows inserted, by worker") || strings.Contains(md, "worker-alone persisted/s ÷ ceiling") ||
		!strings.Contains(md, "in flight, as the api published)") || !strings.Contains(md, ", 1 api, 1 worker.") {
		t.Errorf("one worker without a ceiling:\n%s", md)
	}
}

func TestInsertedSince(t *testing.T) {
	if got := insertedSince([]float64{10, 0}, []float64{110, 50}); len(got) != 2 || got[0] != 100 || got[1] != 50 {
		t.Errorf("insertedSince = %v", got)
	}
	if got := insertedSince([]float64{1}, []float64{1, 2}); got != nil {
		t.Errorf("mismatched readings = %v, want nil", got)
	}
}

// wantIn fails the test for each of wants that text, the output named
// what, lacks.
func wantIn(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, text)
		}
	}
}
