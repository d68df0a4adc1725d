package load

import (
	"slices"
	"time"
)

// Latency summarises a set of request durations.
type Latency struct {
	Count int
	Mean  time.Duration
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// Summarize computes the latency percentiles of ds. It sorts ds in place.
func Summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latency{
		Count: len(ds),
		Mean:  sum / time.Duration(len(ds)),
		P50:   Percentile(ds, 50),
		P90:   Percentile(ds, 90),
		P99:   Percentile(ds, 99),
		Max:   ds[len(ds)-1],
	}
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values at
// or below it. It returns 0 for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// rank = ceil(p/100 * n), computed in integers to avoid float rounding
	// (e.g. 0.9*10 = 9.000000000000002).
	perMille := int64(p*1000 + 0.5)
	rank := int((perMille*int64(n) + 100_000 - 1) / 100_000)
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// LatencyMS is a Latency in milliseconds, the way the tools' JSON reports
// write it.
type LatencyMS struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// MS is l in milliseconds.
func (l Latency) MS() LatencyMS {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return LatencyMS{P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), Max: ms(l.Max), Mean: ms(l.Mean)}
}
