package load

import (
	"fmt"
	"strings"
)

// Facts are what a flash-sale run observed, as far as its invariants care.
type Facts struct {
	RemainingAtStart int64     // the sale's remaining stock before the release
	Before           Reconcile // reconciliation read before the release
	Counts           Counts    // purchase replies
	After            Reconcile // reconciliation after the drain wait
	AfterErr         error     // why After could not be read, if it could not
	Drained          bool      // reserved_in_flight reached 0 within the drain timeout
}

// Check is one invariant and whether it held.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Checks evaluates the invariants of a flash-sale run:
//   - no oversell: no more 202s than the stock remaining at the start;
//   - every accepted order persisted: persisted after the drain equals
//     persisted before plus the 202s (orders moved from persisted to
//     cancelled during the run are added back);
//   - the reconciliation is consistent;
//   - no 5xx and no transport error;
//   - every answer one a flash sale gives: 202, 409 or 429 (a 401, 403 or
//     404 means the run was aimed wrong and proved nothing);
//   - the queue drained within the timeout.
func Checks(f Facts) []Check {
	c := f.Counts
	var out []Check
	add := func(name string, ok bool, format string, args ...any) {
		out = append(out, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}

	add("no oversell", c.Accepted <= f.RemainingAtStart,
		"%d accepted, %d remaining at start", c.Accepted, f.RemainingAtStart)

	if f.AfterErr != nil {
		add("every accepted order persisted", false, "reconcile unreadable: %v", f.AfterErr)
		add("reconcile consistent", false, "reconcile unreadable: %v", f.AfterErr)
	} else {
		ok, cancelled := AllPersisted(f.Before, f.After, c.Accepted)
		want := f.Before.Persisted + c.Accepted
		detail := fmt.Sprintf("persisted %d, expected %d = %d before + %d accepted",
			f.After.Persisted, want, f.Before.Persisted, c.Accepted)
		if cancelled != 0 {
			detail += fmt.Sprintf(" (%d cancelled during the run counted as persisted)", cancelled)
		}
		add("every accepted order persisted", ok, "%s", detail)
		add("reconcile consistent", f.After.Consistent,
			"total_stock %d = remaining %d + reserved_in_flight %d + persisted %d (gap %d, orphans %d, stock loaded %t)",
			f.After.TotalStock, f.After.Remaining, f.After.ReservedInFlight, f.After.Persisted,
			f.After.Gap, f.After.Orphans, f.After.StockLoaded)
	}

	add("no 5xx or transport error", c.ServerError == 0 && c.TransportError == 0,
		"%d 5xx, %d transport errors", c.ServerError, c.TransportError)

	add("only sale answers", c.OtherClient == 0 && c.OtherStatus == 0,
		"%d other 4xx, %d other statuses", c.OtherClient, c.OtherStatus)

	switch {
	case f.Drained:
		add("queue drained", true, "reserved_in_flight 0")
	case f.AfterErr != nil:
		add("queue drained", false, "reconcile unreadable")
	default:
		add("queue drained", false, "reserved_in_flight still %d at the drain timeout", f.After.ReservedInFlight)
	}
	return out
}

// AllPersisted reports whether the orders persisted after a run are the
// ones persisted before plus the accepted ones. Orders cancelled during the
// run left the persisted count for the cancelled one, so they are added
// back; cancelled is how many that were.
func AllPersisted(before, after Reconcile, accepted int64) (ok bool, cancelled int64) {
	cancelled = after.Cancelled - before.Cancelled
	return after.Persisted+cancelled == before.Persisted+accepted, cancelled
}

// Failed returns the checks that did not hold.
func Failed(cs []Check) []Check {
	var out []Check
	for _, c := range cs {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// InvariantError reports the invariants a run broke.
type InvariantError struct {
	Failed []Check
}

func (e *InvariantError) Error() string {
	parts := make([]string, len(e.Failed))
	for i, c := range e.Failed {
		parts[i] = c.Name + " (" + c.Detail + ")"
	}
	return "invariants failed: " + strings.Join(parts, "; ")
}
