package load

import (
	"math"
	"testing"
	"time"
)

func TestBusiestWindow(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	// Ten a second for two seconds, then five at once.
	steady := make([]int, 0, 25)
	for i := range 20 {
		steady = append(steady, i*100)
	}
	burst := append(append([]int(nil), steady...), 3000, 3000, 3000, 3000, 3000)
	tests := []struct {
		name  string
		at    []time.Duration
		rate  float64
		want  Burst
		count int
	}{
		{"none", nil, 10, Burst{}, 0},
		{"one", ms(7), 10, Burst{From: 7 * time.Millisecond, Count: 1, Excess: 1}, 1},
		{"at the rate", ms(steady...), 10, Burst{Count: 1, Excess: 1}, 1},
		{"a burst", ms(burst...), 10, Burst{From: 3 * time.Second, Count: 5, Excess: 5}, 5},
		{"twice the rate", ms(0, 50, 100, 150, 200), 10, Burst{Width: 200 * time.Millisecond, Count: 5, Excess: 3}, 5},
		{"unsorted", ms(150, 0, 200, 50, 100), 10, Burst{Width: 200 * time.Millisecond, Count: 5, Excess: 3}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BusiestWindow(tt.at, tt.rate)
			if got.Count != tt.count || got.From != tt.want.From || got.Width != tt.want.Width ||
				math.Abs(got.Excess-tt.want.Excess) > 1e-9 {
				t.Errorf("BusiestWindow = %+v, want %+v", got, tt.want)
			}
		})
	}
}
