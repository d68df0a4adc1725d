package load

import (
	"slices"
	"time"
)

// Burst is the busiest window of a series of events against a rate: the
// window [From, From+Width] holding Count events, the one where Count −
// rate × Width is largest.
type Burst struct {
	From, Width time.Duration
	Count       int
	// Excess is Count − rate × Width in events: at most the rate (a
	// second's worth at once) when the events kept to the rate.
	Excess float64
}

// BusiestWindow finds the burst of the events at times (any order; it
// sorts them in place) against rate per second, over every window that
// begins and ends on an event. The zero Burst for no events.
func BusiestWindow(times []time.Duration, rate float64) Burst {
	if len(times) == 0 {
		return Burst{}
	}
	slices.Sort(times)
	// With f(k) = k − rate·t_k, events i..j give Count − rate·Width =
	// f(j) − f(i) + 1: the largest difference of f with i ≤ j.
	f := func(k int) float64 { return float64(k) - rate*times[k].Seconds() }
	best, lo := Burst{Count: 1, From: times[0], Excess: 1}, 0
	for j := range times {
		if f(j) < f(lo) {
			lo = j
		}
		if x := f(j) - f(lo) + 1; x > best.Excess {
			best = Burst{From: times[lo], Width: times[j] - times[lo], Count: j - lo + 1, Excess: x}
		}
	}
	return best
}
