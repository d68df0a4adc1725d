package consumer_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/consumer"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store/storetest"
)

func TestAssigned(t *testing.T) {
	for _, c := range []struct {
		n    int
		self string
		live []string
		want []int
	}{
		{4, "a", []string{"a"}, []int{0, 1, 2, 3}},
		{4, "a", []string{"a", "b"}, []int{0, 2}},
		{4, "b", []string{"a", "b"}, []int{1, 3}},
		{4, "c", []string{"a", "b", "c"}, []int{2}},
		{2, "c", []string{"a", "b", "c"}, nil},
		{4, "z", []string{"a", "b"}, nil},
	} {
		if got := consumer.Assigned(c.n, c.self, c.live); !slices.Equal(got, c.want) {
			t.Errorf("Assigned(%d, %s, %v) = %v, want %v", c.n, c.self, c.live, got, c.want)
		}
	}
}

// fixedMembers is a Membership a test sets by hand.
type fixedMembers struct {
	self string
	mu   sync.Mutex
	live []string
}

func (m *fixedMembers) Self() string { return m.self }
func (m *fixedMembers) Live() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.live)
}
func (m *fixedMembers) set(live ...string) {
	m.mu.Lock()
	m.live = live
	m.mu.Unlock()
}

// TestPartitionsFollowTheMembers: a worker holds its share of the
// partitions, gives back what a newcomer should hold, takes a departed
// worker's share, and closes every source it opened when it stops.
func TestPartitionsFollowTheMembers(t *testing.T) {
	s := storetest.SQLite(t)
	var (
		mu     sync.Mutex
		open   = map[int]int{} // partition → sources open
		opened int
	)
	openPartition := func(_ context.Context, k int) (order.Source, func() error, error) {
		mu.Lock()
		open[k]++
		opened++
		mu.Unlock()
		return newFakeSource(), func() error {
			mu.Lock()
			open[k]--
			mu.Unlock()
			return nil
		}, nil
	}
	m := &fixedMembers{self: "b", live: []string{"b"}}
	p := consumer.NewPartitions(4, m, openPartition, func(src order.Source) *consumer.Loop {
		return consumer.New(src, s, storetest.Logger(t))
	}, 10*time.Millisecond, storetest.Logger(t))
	var count atomic.Int64
	count.Store(-1)
	p.OnHeld(func(n int) { count.Store(int64(n)) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	held := func(want ...int) {
		t.Helper()
		eventually(t, "partitions held", func() bool { return slices.Equal(p.Held(), want) && count.Load() == int64(len(want)) })
		mu.Lock()
		defer mu.Unlock()
		for k, n := range open {
			if wanted := slices.Contains(want, k); (n == 1) != wanted || n > 1 {
				t.Fatalf("partition %d has %d sources open while held %v", k, n, want)
			}
		}
	}
	held(0, 1, 2, 3)
	m.set("a", "b") // a newcomer ranks first
	held(1, 3)
	m.set("a", "b", "c")
	held(1)
	m.set("b")
	held(0, 1, 2, 3)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := count.Load(); n != 0 {
		t.Errorf("partitions held reported as %d after the stop, want 0", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for k, n := range open {
		if n != 0 {
			t.Errorf("partition %d: %d sources left open", k, n)
		}
	}
	if opened != 4+1+2 {
		t.Errorf("%d sources opened, want 7 (the four, then 0, 2 and 3 again)", opened)
	}
}
