package main

import (
	"math"
	"strconv"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

// report is the result of a run: written as bench.json, rendered as
// bench.md (also printed).
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
	// PublishMaxInFlight is how far full messages widen the window.
	PublishMaxInFlight int `json:"api_publish_max_inflight"`
	// PublishLingerMS and PublishFill: how long a message waits for how
	// many orders once messages carry several.
	PublishLingerMS float64 `json:"api_publish_linger_ms"`
	PublishFill     int     `json:"api_publish_fill"`
	Partitions      int     `json:"persist_partitions"` // SECKILL_PERSIST_PARTITIONS of the apis and workers
	WorkerBatch     int     `json:"worker_batch"`
	WorkerPrefetch  int     `json:"worker_prefetch"`
	ContendedStock  int64   `json:"contended_stock"`
	SoldOutStock    int64   `json:"soldout_stock"`
	TicketUsers     int     `json:"ticket_users,omitempty"` // users of the sold-out-with-tickets phase, in turn
}

// Phase names.
const (
	phaseHello     = "hello-world"
	phaseHelloEnd  = "hello-world again"
	phaseContended = "contended"
	phaseSoldOut   = "sold-out"
	// phaseSoldOutTickets is the sold-out phase of a sale with admission:
	// every purchase carries a valid ticket.
	phaseSoldOutTickets = "sold-out with tickets"
)

// phase is one closed-loop load at one target.
type phase struct {
	Name     string         `json:"name"`
	Target   string         `json:"target"`
	Expect   string         `json:"expect"`
	Requests int64          `json:"requests"` // complete inside the measured window
	RPS      float64        `json:"rps"`
	Ratio    float64        `json:"ratio_to_hello"` // RPS ÷ the hello-world RPS of the run
	Latency  load.LatencyMS `json:"latency_ms"`
	Errors   int64          `json:"errors"` // replies in the window other than Expect
	Counts   load.Counts    `json:"counts"` // replies in the window by outcome
	// Total counts every reply of the phase, warm-up and the requests
	// finishing after the window included.
	Total    load.Counts `json:"counts_all"`
	Window   float64     `json:"window_seconds"`    // measured seconds; shorter than the duration when tokens ran out
	APIs     []procUsage `json:"apis,omitempty"`    // one per api, in their order
	Workers  []procUsage `json:"workers,omitempty"` // one per worker, in their order
	CPU      *cpuUsage   `json:"cpu,omitempty"`     // per reply complete inside the window
	Timeline []second    `json:"timeline"`
}

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

// replicaName is the name of replica i of n of a kind ("api", "worker")
// in the report: the kind alone when it is the only one, else api1,
// api2, …
func replicaName(kind string, i, n int) string {
	if n == 1 {
		return kind
	}
	return kind + strconv.Itoa(i+1)
}

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
	OrdersPerMessage float64 `json:"api_orders_per_message"`
	Messages         int64   `json:"api_messages_confirmed"`
	// ConfirmMillis is the api's mean time from a message's publish to its
	// confirm, over the phase.
	ConfirmMillis float64 `json:"api_confirm_mean_ms"`
	// ReservationsPerCall is the api's average over the phase: reservations
	// decided ÷ stock backend calls (script calls on Redis), each call
	// taking ReserveMillis on average.
	ReservationsPerCall float64 `json:"api_reservations_per_call"`
	ReserveCalls        int64   `json:"api_reserve_calls"`
	ReserveMillis       float64 `json:"api_reserve_call_mean_ms"`
	// HandlerMillis is the api's mean time in its handlers of the
	// purchases over the phase (seckill_http_request_duration_seconds:
	// from the request read to the reply buffered), ClientMillis the load
	// generator's mean latency of the same requests (warm-up included,
	// like the api's counters). The difference is spent outside the api's
	// handlers: in the network stacks, in reading the request and writing
	// the reply, waiting for a core, and in the load generator.
	HandlerMillis float64 `json:"api_handler_mean_ms"`
	ClientMillis  float64 `json:"client_mean_ms"`
	// WorkerInserted is each worker's rows inserted from the phase's start
	// to the last row (seckill_worker_orders_total{outcome="inserted"}),
	// in the workers' order; nil when it could not be read. The sale is
	// one partition, so one worker holds it.
	WorkerInserted []int64     `json:"worker_inserted,omitempty"`
	CeilingBatch   int         `json:"ceiling_batch"`          // orders per message of the ceiling compared with
	CeilingPerSec  float64     `json:"ceiling_orders_per_sec"` // that ceiling, in orders per second
	Ratio          float64     `json:"ratio_to_ceiling"`       // PersistedPerSec ÷ CeilingPerSec
	Timeline       []flowPoint `json:"timeline"`
}

// setAPIFlow fills the publish and reservation figures from the api's
// apiFlowRefs before and after the phase.
func (e *endToEnd) setAPIFlow(before, after []float64) {
	d := make([]float64, len(after))
	for i := range after {
		d[i] = after[i] - before[i]
	}
	e.Messages = int64(d[0])
	e.OrdersPerMessage = ratio(float64(e.Accepted), d[0])
	e.ConfirmMillis = 1000 * ratio(d[1], d[0])
	e.ReserveCalls = int64(d[2])
	e.ReservationsPerCall = ratio(d[3], d[2])
	e.ReserveMillis = 1000 * ratio(d[5], d[4])
	e.HandlerMillis = 1000 * ratio(d[7], d[6])
}

// setClientMean sets ClientMillis, the mean latency of recs.
func (e *endToEnd) setClientMean(recs []load.Record) {
	var sum time.Duration
	for _, r := range recs {
		sum += r.Latency
	}
	e.ClientMillis = 1000 * ratio(sum.Seconds(), float64(len(recs)))
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
// sized to the batch) without the HTTP stage in front of it. With several
// workers they start together and share the partitions. Times run from
// the workers' start.
type drainResult struct {
	// SaleIDs are the sales the orders are spread over, message by
	// message: one per persist partition, so every partition has work.
	SaleIDs        []int64 `json:"sale_ids"`
	Workers        int     `json:"workers"`
	Partitions     int     `json:"persist_partitions"`
	Orders         int64   `json:"orders"`   // published and confirmed
	Messages       int64   `json:"messages"` // confirmed
	Batch          int     `json:"batch"`    // orders per message, as the compared ceiling (or as the api published)
	InFlight       int     `json:"inflight"` // messages awaiting a confirm at once, likewise
	PublishSeconds float64 `json:"publish_seconds"`
	QueuedAtStart  int     `json:"queue_ready_at_worker_start"` // messages ready in the persist queues
	Persisted      int64   `json:"persisted"`                   // rows of the sales at the end of the wait
	// WorkerInserted is each worker's rows inserted from its start to the
	// last row (seckill_worker_orders_total{outcome="inserted"}), in the
	// workers' order; nil when it could not be read.
	WorkerInserted []int64 `json:"worker_inserted,omitempty"`
	Complete       bool    `json:"complete"` // every order persisted within -drain-timeout
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
	CeilingPerSec     float64   `json:"ceiling_orders_per_sec"`    // the compared ceiling, in orders per second; 0 when not measured
	Ratio             float64   `json:"ratio_to_ceiling"`          // PersistedPerSec ÷ CeilingPerSec
	CPU               *cpuUsage `json:"cpu,omitempty"`             // workers' start → last row, per order persisted
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
	Batch         int            `json:"batch"`    // orders per message
	InFlight      int            `json:"inflight"` // publishers, each waiting for its own confirm
	Messages      int64          `json:"messages"` // confirmed inside the window
	MessagesPerS  float64        `json:"messages_per_sec"`
	OrdersPerS    float64        `json:"orders_per_sec"`
	ConfirmP50MS  float64        `json:"confirm_p50_ms"`
	ConfirmP99MS  float64        `json:"confirm_p99_ms"`
	Errors        int64          `json:"errors"` // nacks, returns, failures
	MessageBytes  int            `json:"message_bytes"`
	ComparedToAPI bool           `json:"compared_to_api"` // the api-shaped one the ratio uses
	CPU           *cpuUsage      `json:"cpu,omitempty"`   // per order confirmed inside the window
	Timeline      []second       `json:"timeline"`
	Latency       load.LatencyMS `json:"latency_ms"`
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
	r.BaselineRPS = r.helloMean(func(h *phase) (float64, bool) { return h.RPS, h.RPS > 0 })
	if r.BaselineRPS <= 0 {
		return
	}
	for i := range r.Phases {
		r.Phases[i].Ratio = ratio(r.Phases[i].RPS, r.BaselineRPS)
	}
}
