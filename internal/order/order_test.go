package order_test

import (
	"errors"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
)

func TestSaleStatusAt(t *testing.T) {
	start := time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)
	s := order.Sale{StartsAt: start, EndsAt: start.Add(time.Hour), TotalStock: 10}
	tests := []struct {
		name      string
		at        time.Time
		remaining int64
		want      order.SaleStatus
	}{
		{"before start", start.Add(-time.Nanosecond), 10, order.SaleUpcoming},
		{"at start", start, 10, order.SaleActive},
		{"active, none left", start.Add(time.Minute), 0, order.SaleSoldOut},
		{"at end", start.Add(time.Hour), 10, order.SaleEnded},
		{"ended and sold out", start.Add(2 * time.Hour), 0, order.SaleEnded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.StatusAt(tt.at, tt.remaining); got != tt.want {
				t.Fatalf("StatusAt = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNewSaleValidate(t *testing.T) {
	start := time.Now()
	ok := order.NewSale{Name: "phone", PriceCents: 100, TotalStock: 5, StartsAt: start, EndsAt: start.Add(time.Hour)}
	tests := []struct {
		name  string
		edit  func(*order.NewSale)
		valid bool
	}{
		{"valid", func(*order.NewSale) {}, true},
		{"no name", func(n *order.NewSale) { n.Name = "" }, false},
		{"zero stock", func(n *order.NewSale) { n.TotalStock = 0 }, false},
		{"negative price", func(n *order.NewSale) { n.PriceCents = -1 }, false},
		{"ends before start", func(n *order.NewSale) { n.EndsAt = start.Add(-time.Second) }, false},
		{"no times", func(n *order.NewSale) { n.StartsAt = time.Time{} }, false},
		{"negative window", func(n *order.NewSale) { n.PaymentWindow = -time.Second }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := ok
			tt.edit(&n)
			err := n.Validate()
			if tt.valid != (err == nil) {
				t.Fatalf("Validate() = %v, want valid=%v", err, tt.valid)
			}
			if err != nil && !errors.Is(err, order.ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestAlreadyPurchasedErrorIs(t *testing.T) {
	var err error = &order.AlreadyPurchasedError{OrderNo: "abc"}
	if !errors.Is(err, order.ErrAlreadyPurchased) {
		t.Fatal("AlreadyPurchasedError does not match ErrAlreadyPurchased")
	}
	var ap *order.AlreadyPurchasedError
	if !errors.As(err, &ap) || ap.OrderNo != "abc" {
		t.Fatalf("errors.As lost the order number: %v", ap)
	}
}

func TestReconcile(t *testing.T) {
	sale := order.Sale{ID: 1, TotalStock: 10}
	resv := func(states map[string]order.ReservationState) map[string]order.Reservation {
		m := map[string]order.Reservation{}
		for no, st := range states {
			m[no] = order.Reservation{OrderNo: no, SaleID: 1, State: st}
		}
		return m
	}
	tests := []struct {
		name     string
		orders   []order.Order
		snap     order.StockSnapshot
		inFlight int64
		persist  int64
		gap      int64
		ok       bool
	}{
		{
			name:   "mid-sale: two persisted, one in flight",
			orders: []order.Order{{OrderNo: "a", Status: order.StatusCreated}, {OrderNo: "b", Status: order.StatusPaid}},
			snap: order.StockSnapshot{Loaded: true, Remaining: 7,
				Reservations: resv(map[string]order.ReservationState{"a": order.Reserved, "b": order.Reserved, "c": order.Reserved})},
			inFlight: 1, persist: 2, gap: 0, ok: true,
		},
		{
			name:   "cancelled order returned its unit",
			orders: []order.Order{{OrderNo: "a", Status: order.StatusCancelled}},
			snap: order.StockSnapshot{Loaded: true, Remaining: 10,
				Reservations: resv(map[string]order.ReservationState{"a": order.Cancelled})},
			inFlight: 0, persist: 0, gap: 0, ok: true,
		},
		{
			name:   "a unit lost",
			orders: nil,
			snap:   order.StockSnapshot{Loaded: true, Remaining: 9, Reservations: map[string]order.Reservation{}},
			gap:    1, ok: false,
		},
		{
			name:    "order in MySQL the backend does not hold: orphan, oversold",
			orders:  []order.Order{{OrderNo: "x", Status: order.StatusCreated}},
			snap:    order.StockSnapshot{Loaded: true, Remaining: 10, Reservations: map[string]order.Reservation{}},
			persist: 1, gap: -1, ok: false,
		},
		{
			name: "stock not loaded",
			snap: order.StockSnapshot{Loaded: false},
			gap:  10, ok: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := order.Reconcile(sale, tt.orders, tt.snap)
			if r.ReservedInFlight != tt.inFlight || r.Persisted != tt.persist || r.Gap() != tt.gap || r.Consistent != tt.ok {
				t.Fatalf("Reconcile = %+v (gap %d), want in_flight=%d persisted=%d gap=%d consistent=%v",
					r, r.Gap(), tt.inFlight, tt.persist, tt.gap, tt.ok)
			}
		})
	}
}
