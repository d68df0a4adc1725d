package stock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/admission"
	"github.com/seckill/seckill/internal/redistest"
	"github.com/seckill/seckill/internal/stock"
)

// rooms are the waiting rooms on every Redis the stock tests use.
var rooms = []struct {
	name string
	open func(tb testing.TB) *stock.Room
}{
	{"redis", func(tb testing.TB) *stock.Room {
		tb.Helper()
		client, prefix := realRedis(tb)
		return stock.NewRoom(client, prefix)
	}},
	{"miniredis", func(tb testing.TB) *stock.Room {
		tb.Helper()
		client, _ := memRedis(tb)
		return stock.NewRoom(client, "sk")
	}},
	{"cluster", func(tb testing.TB) *stock.Room {
		tb.Helper()
		client := redistest.Cluster(tb)
		return stock.NewRoom(client, redistest.Prefix(tb, client))
	}},
}

func join(tb testing.TB, r *stock.Room, j admission.Join) admission.Place {
	tb.Helper()
	if j.Keep == 0 {
		j.Keep = time.Minute
	}
	p, err := r.Join(context.Background(), j)
	if err != nil {
		tb.Fatalf("Join(%+v): %v", j, err)
	}
	return p
}

// TestRoomPlacesInArrivalOrder: places follow the joins, a buyer joining
// again keeps the place, and a full room lets in at most its rate at once.
func TestRoomPlacesInArrivalOrder(t *testing.T) {
	for _, b := range rooms {
		t.Run(b.name, func(t *testing.T) {
			r := b.open(t)
			const rate = 5
			for user := int64(1); user <= 20; user++ {
				p := join(t, r, admission.Join{SaleID: 7, UserID: 100 + user, Rate: rate})
				if p.Position != user {
					t.Fatalf("user %d got place %d, want %d", user, p.Position, user)
				}
				if p.Admitted > rate+1 {
					t.Fatalf("after %d joins %d let in, more than the rate %d allows", user, p.Admitted, rate)
				}
				if p.Last != user {
					t.Fatalf("last place %d after %d joins", p.Last, user)
				}
			}
			again := join(t, r, admission.Join{SaleID: 7, UserID: 103, Rate: rate})
			if again.Position != 3 || !again.In() {
				t.Fatalf("user 103 joining again: %+v, want place 3, let in", again)
			}
			late := join(t, r, admission.Join{SaleID: 7, UserID: 120, Rate: rate})
			if late.Position != 20 || late.In() {
				t.Fatalf("user 120 joining again: %+v, want place 20, waiting", late)
			}
			// Another sale's room is its own.
			if p := join(t, r, admission.Join{SaleID: 8, UserID: 101, Rate: rate}); p.Position != 1 {
				t.Fatalf("first join of another sale: place %d", p.Position)
			}
		})
	}
}

// TestRoomNeverFasterThanRate: places are let in at the room's rate, in
// order, and no faster, however often they are polled.
func TestRoomNeverFasterThanRate(t *testing.T) {
	for _, b := range rooms {
		t.Run(b.name, func(t *testing.T) {
			r := b.open(t)
			ctx := context.Background()
			const rate = 20
			start := time.Now()
			var last admission.Place
			for user := int64(1); user <= 100; user++ {
				last = join(t, r, admission.Join{SaleID: 3, UserID: user, Rate: rate})
			}
			var p admission.Place
			for time.Since(start) < 700*time.Millisecond {
				var err error
				if p, err = r.Poll(ctx, 3, rate, last.Position, time.Minute); err != nil {
					t.Fatal(err)
				}
				most := rate + int64(float64(rate)*time.Since(start).Seconds()) + 1
				if p.Admitted > most {
					t.Fatalf("%d let in after %v, more than %d at %d/s", p.Admitted, time.Since(start), most, rate)
				}
				time.Sleep(10 * time.Millisecond)
			}
			// Time only moves on: at least the full bucket plus what 0.7 s
			// earns, less one for rounding.
			if least := int64(rate + rate*7/10 - 1); p.Admitted < least {
				t.Fatalf("%d let in after %v, want at least %d", p.Admitted, time.Since(start), least)
			}
			if p.In() {
				t.Fatalf("place %d let in with only %d admitted", p.Position, p.Admitted)
			}
		})
	}
}

// TestRoomSpendsChallengeOnce: a challenge admits once, whoever sends it;
// a room of rate 0 lets in at once.
func TestRoomSpendsChallengeOnce(t *testing.T) {
	for _, b := range rooms {
		t.Run(b.name, func(t *testing.T) {
			r := b.open(t)
			ctx := context.Background()
			for _, rate := range []int64{0, 10} {
				j := admission.Join{SaleID: 4, UserID: 1, Rate: rate, Spend: "abc" + string(rune('0'+rate)), SpendFor: time.Minute, Keep: time.Minute}
				p, err := r.Join(ctx, j)
				if err != nil || !p.In() {
					t.Fatalf("rate %d: first join: %+v, %v", rate, p, err)
				}
				if _, err := r.Join(ctx, j); !errors.Is(err, admission.ErrSpent) {
					t.Fatalf("rate %d: second join with the same challenge: %v, want ErrSpent", rate, err)
				}
				j.UserID = 2
				if _, err := r.Join(ctx, j); !errors.Is(err, admission.ErrSpent) {
					t.Fatalf("rate %d: another user with the same challenge: %v, want ErrSpent", rate, err)
				}
			}
		})
	}
}

// TestRoomMovesWhileNobodyAsks: waiting places are let in at the rate
// whether or not anyone asks in between, so a buyer whose turn came while
// the others ahead went away is in at its first ask.
func TestRoomMovesWhileNobodyAsks(t *testing.T) {
	for _, b := range rooms {
		t.Run(b.name, func(t *testing.T) {
			r := b.open(t)
			const rate = 5
			start := time.Now()
			var last admission.Place
			for user := int64(1); user <= 20; user++ {
				last = join(t, r, admission.Join{SaleID: 5, UserID: user, Rate: rate})
			}
			time.Sleep(2 * time.Second)
			p, err := r.Poll(context.Background(), 5, rate, last.Position, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			// A full second's burst, then 5 a second for 2 s, less one
			// for rounding; never more than the time allows.
			least, most := int64(rate+2*rate-1), rate+int64(rate*time.Since(start).Seconds())+1
			if p.Admitted < least || p.Admitted > most {
				t.Fatalf("%d let in 2 s after 20 joined at %d/s, want %d to %d", p.Admitted, rate, least, most)
			}
		})
	}
}
