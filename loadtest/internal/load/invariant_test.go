package load_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/seckill/seckill/loadtest/internal/load"
)

func TestChecks(t *testing.T) {
	// good is a clean sell-out of 100 remaining units over 40 persisted before.
	good := func() load.Facts {
		return load.Facts{
			RemainingAtStart: 100,
			Before:           load.Reconcile{TotalStock: 140, Remaining: 100, Persisted: 40, Consistent: true},
			Counts:           load.Counts{Accepted: 100, SoldOut: 900},
			After:            load.Reconcile{TotalStock: 140, Remaining: 0, Persisted: 140, Consistent: true},
			Drained:          true,
		}
	}
	tests := []struct {
		name   string
		edit   func(*load.Facts)
		failed []string
	}{
		{"clean sell-out", func(*load.Facts) {}, nil},
		{"fewer sold than stock", func(f *load.Facts) {
			f.Counts.Accepted, f.After.Persisted, f.After.Remaining = 60, 100, 40
		}, nil},
		{"oversell", func(f *load.Facts) {
			f.Counts.Accepted, f.After.Persisted = 101, 141
		}, []string{"no oversell"}},
		{"an accepted order lost", func(f *load.Facts) {
			f.After.Persisted = 139
		}, []string{"every accepted order persisted"}},
		{"more persisted than accepted", func(f *load.Facts) {
			f.Counts.Accepted, f.After.Remaining = 99, 1
		}, []string{"every accepted order persisted"}},
		{"order cancelled during the run", func(f *load.Facts) {
			f.After.Persisted, f.After.Cancelled = 139, 1
		}, nil},
		{"inconsistent", func(f *load.Facts) {
			f.After.Consistent = false
		}, []string{"reconcile consistent"}},
		{"a 5xx", func(f *load.Facts) {
			f.Counts.ServerError = 1
		}, []string{"no 5xx or transport error"}},
		{"a transport error", func(f *load.Facts) {
			f.Counts.TransportError = 2
		}, []string{"no 5xx or transport error"}},
		{"drain timed out", func(f *load.Facts) {
			f.Drained, f.After.ReservedInFlight, f.After.Persisted = false, 3, 137
		}, []string{"every accepted order persisted", "queue drained"}},
		{"reconcile unreadable", func(f *load.Facts) {
			f.Drained, f.After, f.AfterErr = false, load.Reconcile{}, errors.New("connection refused")
		}, []string{"every accepted order persisted", "reconcile consistent", "queue drained"}},
		{"rate limits are no failure", func(f *load.Facts) {
			f.Counts.RateLimited = 50
		}, nil},
		{"a 401 means the run proved nothing", func(f *load.Facts) {
			f.Counts.OtherClient = 7
		}, []string{"only sale answers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := good()
			tt.edit(&f)
			checks := load.Checks(f)
			if len(checks) != 6 {
				t.Fatalf("got %d checks, want 6", len(checks))
			}
			var failed []string
			for _, c := range load.Failed(checks) {
				failed = append(failed, c.Name)
			}
			if strings.Join(failed, ",") != strings.Join(tt.failed, ",") {
				t.Errorf("failed = %q, want %q\nchecks: %+v", failed, tt.failed, checks)
			}
		})
	}
}

func TestInvariantErrorNamesEveryFailure(t *testing.T) {
	f := load.Facts{RemainingAtStart: 1, Counts: load.Counts{Accepted: 2, ServerError: 1},
		After: load.Reconcile{Persisted: 2, Consistent: true}, Drained: true}
	err := &load.InvariantError{Failed: load.Failed(load.Checks(f))}
	msg := err.Error()
	for _, want := range []string{"no oversell (2 accepted, 1 remaining at start)", "no 5xx or transport error"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}
