package main

import (
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

// healthy is a settled scenario that broke nothing: 3 units, 3 buyers, two
// persisted, one refused and recorded cancelled with a reason.
func healthy() observation {
	return observation{
		totalStock: 3,
		accepted:   []accepted{{OrderNo: "a", UserID: 1}, {OrderNo: "b", UserID: 2}, {OrderNo: "c", UserID: 3}},
		rows: map[string]row{
			"a": {Status: "created", UserID: 1}, "b": {Status: "paid", UserID: 2},
			"c": {Status: "cancelled", Reason: "rejected", UserID: 3},
		},
		rec:     &load.Reconcile{TotalStock: 3, Remaining: 1, Persisted: 2, Consistent: true, StockLoaded: true},
		bound:   10 * time.Second,
		settled: true,
	}
}

func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(o *observation)
		want   string // a failure containing this; "" for none
	}{
		{"healthy", func(*observation) {}, ""},
		{"a 202 not in MySQL", func(o *observation) {
			o.accepted = append(o.accepted, accepted{OrderNo: "lost", UserID: 4})
		}, "1 of 4 accepted orders are not in MySQL (lost)"},
		{"cancelled without a reason", func(o *observation) {
			o.rows["c"] = row{Status: "cancelled", UserID: 3}
		}, "1 accepted orders are cancelled without a reason (c)"},
		{"an order number answered twice", func(o *observation) {
			o.accepted = append(o.accepted, accepted{OrderNo: "a", UserID: 9})
		}, "1 order numbers were answered in more than one 202 (a)"},
		{"oversold", func(o *observation) {
			o.rows["c"] = row{Status: "created", UserID: 3}
			o.rows["d"] = row{Status: "created", UserID: 4}
			o.rec.Persisted, o.rec.Remaining = 4, -1
		}, "oversold: 4 live orders in MySQL, total stock 3"},
		{"two live orders of one user", func(o *observation) {
			o.rows["b"] = row{Status: "created", UserID: 1}
		}, "1 users hold two live orders of the sale (users 1)"},
		{"no reconciliation", func(o *observation) {
			o.rec, o.recErr = nil, "reconcile: 500"
		}, "no reconciliation: reconcile: 500"},
		{"reconcile does not add up", func(o *observation) {
			o.rec.Remaining = 2
		}, "remaining 2 + in flight 0 + persisted 2 = 4, total stock 3"},
		{"reconcile inconsistent", func(o *observation) {
			o.rec.Consistent = false
		}, "reconcile: consistent false"},
		{"stock not loaded", func(o *observation) {
			o.rec.StockLoaded = false
		}, "reconcile: stock not loaded"},
		{"in flight past the bound", func(o *observation) {
			o.rec.Remaining, o.rec.ReservedInFlight, o.rec.OldestInFlightSeconds = 0, 1, 42
		}, "1 reservations in flight, the oldest for 42s (bound 10s)"},
		{"in flight within the bound", func(o *observation) {
			o.rec.Remaining, o.rec.ReservedInFlight, o.rec.OldestInFlightSeconds = 0, 1, 3
		}, ""},
		{"reconcile and MySQL disagree", func(o *observation) {
			o.rec.Persisted, o.rec.Remaining = 1, 2
		}, "reconcile counts 1 persisted orders, MySQL holds 2 live ones"},
		{"an unexpected dead letter", func(o *observation) {
			o.dead = 1
		}, "1 dead letters, expected 0"},
		{"the poison dead-lettered", func(o *observation) {
			o.dead, o.deadWant = 1, 1
		}, ""},
		{"the poison lost", func(o *observation) {
			o.deadWant = 1
		}, "0 dead letters, expected 1"},
		{"a process crashed", func(o *observation) {
			o.crashed = []string{"worker1 exited on its own"}
		}, "worker1 exited on its own"},
		{"a fault not injected", func(o *observation) {
			o.faultErrs = []string{"fault: rabbitmqctl: no such command"}
		}, "fault: rabbitmqctl"},
		{"not settled, nothing else wrong", func(o *observation) {
			o.settled = false
		}, "did not settle in time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := healthy()
			tc.mutate(&o)
			got := o.failures()
			if tc.want == "" {
				if len(got) > 0 {
					t.Errorf("failures %q, want none", got)
				}
				return
			}
			if !strings.Contains(strings.Join(got, "\n"), tc.want) {
				t.Errorf("failures %q, want one with %q", got, tc.want)
			}
		})
	}
}

func TestTally(t *testing.T) {
	o := healthy()
	o.accepted = append(o.accepted, accepted{OrderNo: "lost"})
	o.rows["e"] = row{Status: "cancelled", UserID: 5} // not a 202 the clients saw
	if got, want := o.tally(), (tally{accepted: 4, persisted: 2, cancelled: 1}); got != want {
		t.Errorf("tally %+v, want %+v", got, want)
	}
}

func TestExamples(t *testing.T) {
	if got := examples([]string{"a", "b", "c", "d"}); got != "a, b, c, …" {
		t.Errorf("examples %q", got)
	}
	if got := examples([]string{"a"}); got != "a" {
		t.Errorf("examples %q", got)
	}
}
