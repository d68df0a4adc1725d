package load_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		code   string
		err    error
		want   load.Outcome
	}{
		{http.StatusAccepted, "", nil, load.Accepted},
		{http.StatusConflict, "sold_out", nil, load.SoldOut},
		{http.StatusConflict, "already_purchased", nil, load.AlreadyPurchased},
		{http.StatusConflict, "order_not_payable", nil, load.OtherClient},
		{http.StatusConflict, "", nil, load.OtherClient},
		{http.StatusTooManyRequests, "rate_limited", nil, load.RateLimited},
		{http.StatusUnauthorized, "unauthorized", nil, load.OtherClient},
		{http.StatusForbidden, "sale_not_started", nil, load.OtherClient},
		{http.StatusNotFound, "sale_not_found", nil, load.OtherClient},
		{http.StatusInternalServerError, "internal", nil, load.ServerError},
		{http.StatusServiceUnavailable, "unavailable", nil, load.ServerError},
		{http.StatusOK, "", nil, load.OtherStatus},
		{http.StatusFound, "", nil, load.OtherStatus},
		{0, "", errors.New("connection refused"), load.TransportError},
		{http.StatusAccepted, "", errors.New("body cut"), load.TransportError},
	}
	for _, tt := range tests {
		if got := load.Classify(tt.status, tt.code, tt.err); got != tt.want {
			t.Errorf("Classify(%d, %q, %v) = %v, want %v", tt.status, tt.code, tt.err, got, tt.want)
		}
	}
}

func TestCountersConcurrent(t *testing.T) {
	var c load.Counters
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 1000 {
				c.Add(load.Outcome(i % 3)) // accepted, sold_out, already_purchased
			}
		})
	}
	wg.Wait()
	got := c.Snapshot()
	want := load.Counts{Accepted: 8 * 334, SoldOut: 8 * 333, AlreadyPurchased: 8 * 333}
	if got != want {
		t.Errorf("Snapshot = %+v, want %+v", got, want)
	}
	if c.Total() != 8000 || got.Total() != 8000 {
		t.Errorf("Total = %d / %d, want 8000", c.Total(), got.Total())
	}
}

// TestCountersAddReturnsTheCount pins that exactly one caller sees each
// count, which is how a run finds the 202 that used the last unit.
func TestCountersAddReturnsTheCount(t *testing.T) {
	var c load.Counters
	var wg sync.WaitGroup
	seen := make([]int, 501)
	var mu sync.Mutex
	for range 500 {
		wg.Go(func() {
			n := c.Add(load.Accepted)
			mu.Lock()
			seen[n]++
			mu.Unlock()
		})
	}
	wg.Wait()
	for n := 1; n <= 500; n++ {
		if seen[n] != 1 {
			t.Fatalf("count %d returned %d times, want once", n, seen[n])
		}
	}
}

func TestMomentKeepsTheEarliest(t *testing.T) {
	var m load.Moment
	if _, ok := m.Get(); ok {
		t.Fatal("unmarked moment reports a mark")
	}
	var wg sync.WaitGroup
	for i := 100; i >= 1; i-- {
		wg.Go(func() { m.Mark(ms(i)) })
	}
	wg.Wait()
	if got, ok := m.Get(); !ok || got != ms(1) {
		t.Errorf("Get = %v, %t; want 1ms, true", got, ok)
	}
	m.Mark(0) // a mark at the reference time still counts as a mark
	if got, ok := m.Get(); !ok || got > time.Nanosecond {
		t.Errorf("after Mark(0): Get = %v, %t", got, ok)
	}
}

func TestTallyExplainsUnusualReplies(t *testing.T) {
	var ta load.Tally
	for range 3 {
		ta.Note(load.Reply{Status: http.StatusUnauthorized, Code: "unauthorized"})
	}
	ta.Note(load.Reply{Status: http.StatusBadGateway})
	ta.Note(load.Reply{Status: http.StatusAccepted})
	ta.Note(load.Reply{Status: http.StatusConflict, Code: "sold_out"})
	for i := range 5 {
		ta.Note(load.Reply{Err: errors.New("reset " + string(rune('a'+i)))})
	}
	d := ta.Detail()
	if len(d) != 2 || d["401 unauthorized"] != 3 || d["502 Bad Gateway"] != 1 {
		t.Errorf("Detail = %v", d)
	}
	if e := ta.Errors(); len(e) != 3 || e[0] != "reset a" {
		t.Errorf("Errors = %q, want the first three", e)
	}
}
