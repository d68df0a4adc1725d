package order

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestEachSale(t *testing.T) {
	sales := []Sale{{ID: 1}, {ID: 2}, {ID: 3}}
	errTwo, errThree := errors.New("two"), errors.New("three")
	for _, tc := range []struct {
		name     string
		fail     map[int64]error
		cancelAt int64 // the sale during which ctx ends; 0 for never
		want     error
		called   []int64
	}{
		{name: "every sale passes", called: []int64{1, 2, 3}},
		{name: "the first error is kept, the rest still run",
			fail: map[int64]error{2: errTwo, 3: errThree}, want: errTwo, called: []int64{1, 2, 3}},
		{name: "a done ctx stops the pass", cancelAt: 2, called: []int64{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var called []int64
			err := eachSale(ctx, sales, func(s Sale) error {
				called = append(called, s.ID)
				if s.ID == tc.cancelAt {
					cancel()
				}
				return tc.fail[s.ID]
			})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("eachSale = %v, want %v", err, tc.want)
			}
			if !slices.Equal(called, tc.called) {
				t.Errorf("called for sales %v, want %v", called, tc.called)
			}
		})
	}
}
