package load_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// series returns 1ms … n ms.
func series(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = ms(i + 1)
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value p50", series(1), 50, ms(1)},
		{"one value p99", series(1), 99, ms(1)},
		{"ten p50", series(10), 50, ms(5)},
		{"ten p90 is the 9th, not the 10th", series(10), 90, ms(9)},
		{"ten p99", series(10), 99, ms(10)},
		{"ten p100", series(10), 100, ms(10)},
		{"hundred p50", series(100), 50, ms(50)},
		{"hundred p90", series(100), 90, ms(90)},
		{"hundred p99", series(100), 99, ms(99)},
		{"thousand p99", series(1000), 99, ms(990)},
		{"thousand p99.9", series(1000), 99.9, ms(999)},
		{"three p50 rounds up", series(3), 50, ms(2)},
		{"tiny p is the minimum", series(100), 0.001, ms(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := load.Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%d values, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeSortsAndSummarises(t *testing.T) {
	ds := series(200)
	rand.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	got := load.Summarize(ds)
	want := load.Latency{Count: 200, Mean: 100*time.Millisecond + 500*time.Microsecond,
		P50: ms(100), P90: ms(180), P99: ms(198), Max: ms(200)}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if (load.Summarize(nil) != load.Latency{}) {
		t.Errorf("Summarize(nil) is not zero")
	}
}

func TestLatencyMS(t *testing.T) {
	l := load.Latency{Count: 3, Mean: 1500 * time.Microsecond, P50: ms(1), P90: ms(2), P99: 2500 * time.Microsecond, Max: ms(3)}
	want := load.LatencyMS{P50: 1, P90: 2, P99: 2.5, Max: 3, Mean: 1.5}
	if got := l.MS(); got != want {
		t.Errorf("MS() = %+v, want %+v", got, want)
	}
}
