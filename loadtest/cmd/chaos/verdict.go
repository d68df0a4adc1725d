package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

// row is an order as MySQL holds it.
type row struct {
	Status string
	Reason string
	UserID int64
}

// sameCounts reports whether r and o count the same orders.
func sameCounts(r, o load.Reconcile) bool {
	return r.TotalStock == o.TotalStock && r.Remaining == o.Remaining && r.ReservedInFlight == o.ReservedInFlight &&
		r.Persisted == o.Persisted && r.Cancelled == o.Cancelled
}

// observation is everything a scenario saw from outside once it settled,
// or gave up waiting.
type observation struct {
	totalStock int64
	accepted   []accepted     // every 202 the clients saw
	rows       map[string]row // the sale's orders in MySQL, by order_no
	rec        *load.Reconcile
	recErr     string        // why no reconciliation could be read
	bound      time.Duration // how long a reservation may stay in flight
	dead       int           // dead letters added during the scenario
	deadWant   int           // dead letters the scenario itself caused
	crashed    []string      // processes that exited although nothing stopped them
	faultErrs  []string      // a fault that could not be injected or undone
	settled    bool
	settleTime time.Duration
}

// tally is the table's view of an observation.
type tally struct {
	accepted, persisted, cancelled int // of the 202s: live rows, cancelled rows with a reason
}

func (o observation) tally() tally {
	t := tally{accepted: len(o.accepted)}
	for _, a := range o.accepted {
		r, ok := o.rows[a.OrderNo]
		switch {
		case !ok:
		case r.Status == statusCancelled:
			if r.Reason != "" {
				t.cancelled++
			}
		default:
			t.persisted++
		}
	}
	return t
}

const statusCancelled = "cancelled"

// maxExamples bounds the order numbers a failure names.
const maxExamples = 3

// failures holds o against the contracts and returns every violation, in
// words; none means the scenario passed.
func (o observation) failures() []string {
	var out []string
	fail := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	out = append(out, o.faultErrs...)
	out = append(out, o.crashed...)

	// Every 202 is an order in MySQL: live, or cancelled with a reason.
	seen := map[string]int{}
	var missing, noReason, dupes []string
	for _, a := range o.accepted {
		seen[a.OrderNo]++
		if seen[a.OrderNo] == 2 {
			dupes = append(dupes, a.OrderNo)
		}
		if seen[a.OrderNo] > 1 {
			continue
		}
		r, ok := o.rows[a.OrderNo]
		switch {
		case !ok:
			missing = append(missing, a.OrderNo)
		case r.Status == statusCancelled && r.Reason == "":
			noReason = append(noReason, a.OrderNo)
		}
	}
	if len(missing) > 0 {
		fail("%d of %d accepted orders are not in MySQL (%s)", len(missing), len(o.accepted), examples(missing))
	}
	if len(noReason) > 0 {
		fail("%d accepted orders are cancelled without a reason (%s)", len(noReason), examples(noReason))
	}
	if len(dupes) > 0 {
		fail("%d order numbers were answered in more than one 202 (%s)", len(dupes), examples(dupes))
	}

	// No oversell, one live order per buyer.
	live := 0
	byUser := map[int64]int{}
	var twice []string
	for _, r := range o.rows {
		if r.Status == statusCancelled {
			continue
		}
		live++
		byUser[r.UserID]++
		if byUser[r.UserID] == 2 {
			twice = append(twice, fmt.Sprint(r.UserID))
		}
	}
	if int64(live) > o.totalStock {
		fail("oversold: %d live orders in MySQL, total stock %d", live, o.totalStock)
	}
	if len(twice) > 0 {
		sort.Strings(twice)
		fail("%d users hold two live orders of the sale (users %s)", len(twice), examples(twice))
	}

	// The reconciliation adds up and nothing is stuck in flight.
	if r := o.rec; r == nil {
		fail("no reconciliation: %s", o.recErr)
	} else {
		if sum := r.Remaining + r.ReservedInFlight + r.Persisted; sum != r.TotalStock {
			fail("reconcile: remaining %d + in flight %d + persisted %d = %d, total stock %d",
				r.Remaining, r.ReservedInFlight, r.Persisted, sum, r.TotalStock)
		}
		if !r.Consistent {
			fail("reconcile: consistent false (remaining %d, in flight %d, persisted %d, stock loaded %t)",
				r.Remaining, r.ReservedInFlight, r.Persisted, r.StockLoaded)
		}
		if !r.StockLoaded {
			fail("reconcile: stock not loaded")
		}
		if r.ReservedInFlight > 0 && time.Duration(r.OldestInFlightSeconds*float64(time.Second)) > o.bound {
			fail("reconcile: %d reservations in flight, the oldest for %.0fs (bound %s)",
				r.ReservedInFlight, r.OldestInFlightSeconds, o.bound)
		}
		if int64(live) != r.Persisted {
			fail("reconcile counts %d persisted orders, MySQL holds %d live ones", r.Persisted, live)
		}
	}

	if o.dead != o.deadWant {
		fail("%d dead letters, expected %d", o.dead, o.deadWant)
	}
	if !o.settled && len(out) == 0 {
		fail("did not settle in time")
	}
	return out
}

// examples names up to maxExamples items.
func examples(items []string) string {
	if len(items) <= maxExamples {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:maxExamples], ", ") + ", …"
}
