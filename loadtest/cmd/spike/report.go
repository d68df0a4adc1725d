package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/loadtest/internal/load"
)

// report is the summary of a run, printed as text and optionally written as
// JSON.
type report struct {
	Sale        saleInfo       `json:"sale"`
	Users       int            `json:"users"`
	UserBase    int64          `json:"user_base"`
	Concurrency int            `json:"concurrency"`
	Tokens      string         `json:"tokens"`
	Before      load.Reconcile `json:"reconcile_before"`

	Requests        int64            `json:"requests"`
	NotSent         int64            `json:"not_sent"`
	Counts          load.Counts      `json:"counts"`
	Detail          map[string]int64 `json:"detail,omitempty"`
	TransportErrors []string         `json:"transport_error_samples,omitempty"`
	ElapsedSeconds  float64          `json:"elapsed_seconds"`
	ThroughputRPS   float64          `json:"throughput_rps"`
	LatencyMS       load.LatencyMS   `json:"latency_ms"`
	SoldOutAfterMS  *float64         `json:"sold_out_after_ms"`
	SoldOutBy       string           `json:"sold_out_by,omitempty"`
	FirstSoldOutMS  *float64         `json:"first_sold_out_ms"`
	LastUnitMS      *float64         `json:"last_unit_ms"`

	// Admission is what the buyers met at the door, with -admission.
	Admission *admissionResult `json:"admission,omitempty"`

	After        *load.Reconcile `json:"reconcile_after"`
	AfterError   string          `json:"reconcile_after_error,omitempty"`
	Drained      bool            `json:"drained"`
	DrainSeconds float64         `json:"drain_seconds"`
	Interrupted  bool            `json:"interrupted"`
	Invariants   []load.Check    `json:"invariants"`
	OK           bool            `json:"ok"`
	Notes        []string        `json:"notes,omitempty"`

	fire fireResult
}

type saleInfo struct {
	ID               int64                 `json:"id"`
	Name             string                `json:"name"`
	Status           string                `json:"status"`
	TotalStock       int64                 `json:"total_stock"`
	RemainingAtStart int64                 `json:"remaining_at_start"`
	Admission        httpapi.AdmissionJSON `json:"admission"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// msPtr is ms(d), or nil for 0 (the event did not happen).
func msPtr(d time.Duration) *float64 {
	if d == 0 {
		return nil
	}
	v := ms(d)
	return &v
}

// complete fills the report from the firing result and the final facts.
func (r *report) complete(f load.Facts) {
	fr := r.fire
	r.Requests = fr.sent
	r.NotSent = int64(r.Users) - fr.sent
	if fr.admission != nil {
		// Only buyers with a ticket buy; the door turned the rest away or
		// they gave up waiting.
		r.Admission = fr.admission
		r.NotSent = fr.admission.GaveUp
	}
	r.Counts = fr.counts
	r.Detail = fr.detail
	r.TransportErrors = fr.errSamples
	r.ElapsedSeconds = fr.elapsed.Seconds()
	if fr.elapsed > 0 {
		r.ThroughputRPS = float64(fr.counts.Total()) / fr.elapsed.Seconds()
	}
	r.LatencyMS = fr.latency.MS()
	if at, by := soldOutAt(fr, r.Sale.RemainingAtStart); by != "" {
		r.SoldOutAfterMS, r.SoldOutBy = msPtr(at), by
	}
	r.FirstSoldOutMS, r.LastUnitMS = msPtr(fr.firstSold), msPtr(fr.stockGone)
	if f.AfterErr != nil {
		r.AfterError = f.AfterErr.Error()
	} else {
		after := f.After
		r.After = &after
	}
	r.Drained = f.Drained
	r.Invariants = load.Checks(f)
	if r.Admission != nil {
		r.Invariants = append(r.Invariants, r.Admission.checks(fr.counts, fr.detail)...)
	}
	r.OK = len(load.Failed(r.Invariants)) == 0 && !r.Interrupted
	r.Notes = notes(r)
}

// soldOutAt is the time from the release to the first 409 sold_out or to
// the 202 that took the last unit remaining at the start, whichever came
// first, and which one it was ("" when neither happened).
func soldOutAt(fr fireResult, remaining int64) (time.Duration, string) {
	switch {
	case fr.firstSold == 0 && fr.stockGone == 0:
		return 0, ""
	case fr.stockGone == 0 || (fr.firstSold != 0 && fr.firstSold < fr.stockGone):
		return fr.firstSold, "first 409 sold_out"
	}
	return fr.stockGone, "202 number " + strconv.FormatInt(remaining, 10)
}

// notes explain replies and states that do not break an invariant but that
// a reader should not miss.
func notes(r *report) []string {
	var out []string
	c := r.Counts
	if r.Sale.Status != "active" {
		out = append(out, fmt.Sprintf("the sale was %s at the start", r.Sale.Status))
	}
	switch {
	case r.NotSent > 0 && r.Admission != nil && !r.Interrupted:
		out = append(out, fmt.Sprintf("%d users gave up waiting for a ticket: the -duration bound passed", r.NotSent))
	case r.NotSent > 0 && !r.Interrupted:
		out = append(out, fmt.Sprintf("%d users were not sent: the -duration bound passed", r.NotSent))
	}
	if r.Admission == nil && (r.Sale.Admission.RatePerSecond > 0 || r.Sale.Admission.PowBits > 0) {
		out = append(out, "the sale admits buyers with a ticket only: run with -admission to walk its waiting room")
	}
	if c.RateLimited > 0 {
		out = append(out, fmt.Sprintf("%d purchases got 429: every user comes from one address, so the api's per-IP limit "+
			"(SECKILL_RATE_IP_RPS, SECKILL_RATE_IP_BURST) applies to the whole crowd", c.RateLimited))
	}
	if n := r.Detail["401 unauthorized"]; n > 0 {
		out = append(out, fmt.Sprintf("%d tokens were rejected (401): with -secret or SECKILL_JWT_SECRET it must be the api's secret", n))
	}
	if c.SoldOut > 0 && c.Accepted < r.Sale.RemainingAtStart && c.RateLimited+c.ServerError+c.TransportError == 0 {
		out = append(out, fmt.Sprintf("only %d of %d remaining units were sold although %d users were told sold_out",
			c.Accepted, r.Sale.RemainingAtStart, c.SoldOut))
	}
	return out
}

// writeText prints the summary as an aligned block.
func (r *report) writeText(w io.Writer) {
	c := r.Counts
	row := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-24s %s\n", label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "summary")
	switch {
	case r.Admission != nil:
		row("purchases", "%d of %d users, each with its ticket", r.Requests, r.Users)
	case r.NotSent > 0:
		row("requests", "%d of %d users (%d not sent)", r.Requests, r.Users, r.NotSent)
	default:
		row("requests", "%d", r.Requests)
	}
	row("202 accepted", "%d", c.Accepted)
	row("409 sold_out", "%d", c.SoldOut)
	row("409 already_purchased", "%d", c.AlreadyPurchased)
	row("429 rate_limited", "%d", c.RateLimited)
	row("other 4xx", "%d%s", c.OtherClient, r.detailOf(400, 499))
	row("5xx", "%d%s", c.ServerError, r.detailOf(500, 599))
	if c.OtherStatus > 0 {
		row("other status", "%d%s", c.OtherStatus, r.detailOf(100, 399))
	}
	if len(r.TransportErrors) > 0 {
		row("transport errors", "%d (first: %s)", c.TransportError, r.TransportErrors[0])
	} else {
		row("transport errors", "%d", c.TransportError)
	}
	row("throughput", "%.0f req/s (%d replies in %s)", r.ThroughputRPS, c.Total(), round(r.fire.elapsed))
	l := r.fire.latency
	row("latency p50", "%s", round(l.P50))
	row("latency p90", "%s", round(l.P90))
	row("latency p99", "%s", round(l.P99))
	row("latency max", "%s", round(l.Max))
	if at, by := soldOutAt(r.fire, r.Sale.RemainingAtStart); by != "" {
		row("time until sold out", "%s (%s)", round(at), by)
		if r.fire.firstSold != 0 && r.fire.stockGone != 0 {
			row("", "first 409 sold_out at %s, 202 number %d at %s",
				round(r.fire.firstSold), r.Sale.RemainingAtStart, round(r.fire.stockGone))
		}
	} else {
		row("time until sold out", "not sold out")
	}
	if r.Admission != nil {
		r.Admission.writeText(w, row)
	}

	fmt.Fprintln(w)
	if r.After == nil {
		fmt.Fprintf(w, "reconcile: unreadable: %s\n", r.AfterError)
	} else {
		a := r.After
		switch {
		case r.Interrupted:
			fmt.Fprintln(w, "reconcile (interrupted: read once, without waiting for the drain)")
		case r.Drained:
			fmt.Fprintf(w, "reconcile (drained in %s)\n", round(time.Duration(r.DrainSeconds*float64(time.Second))))
		default:
			fmt.Fprintf(w, "reconcile (NOT drained after %s)\n", round(time.Duration(r.DrainSeconds*float64(time.Second))))
		}
		row("consistent", "%s", yesNo(a.Consistent))
		row("total_stock", "%d", a.TotalStock)
		row("remaining", "%d", a.Remaining)
		row("persisted", "%d", a.Persisted)
		row("reserved_in_flight", "%d", a.ReservedInFlight)
		if a.Cancelled != 0 {
			row("cancelled", "%d", a.Cancelled)
		}
		ok, _ := load.AllPersisted(r.Before, *a, c.Accepted)
		row("persisted = accepted?", "%s (%d = %d before + %d accepted)", yesNo(ok), a.Persisted, r.Before.Persisted, c.Accepted)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "invariants")
	for _, ch := range r.Invariants {
		mark := "ok  "
		if !ch.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s  %-32s %s\n", mark, ch.Name, ch.Detail)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	switch {
	case r.OK:
		fmt.Fprintln(w, "result: every invariant holds")
	case r.Interrupted && len(load.Failed(r.Invariants)) == 0:
		fmt.Fprintln(w, "result: interrupted")
	default:
		fmt.Fprintln(w, "result: FAILED")
	}
}

// detailOf lists the "status code" counts with status in [lo, hi], e.g.
// " (401 unauthorized 20000)".
func (r *report) detailOf(lo, hi int) string {
	var parts []string
	for k, v := range r.Detail {
		status, _, _ := strings.Cut(k, " ")
		if s, err := strconv.Atoi(status); err == nil && s >= lo && s <= hi {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	slices.Sort(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}

// writeJSON writes the report to path.
func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}
