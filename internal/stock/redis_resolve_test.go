package stock_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/stock"
)

// lateProxy forwards a TCP connection to a real server, but holds the
// first chunk that contains trigger for delay before it forwards it: the
// client gives up waiting, and the command reaches the server afterwards,
// as a command stuck in a congested network does.
type lateProxy struct {
	ln       net.Listener
	upstream string
	trigger  []byte
	delay    time.Duration

	mu      sync.Mutex
	held    bool
	arrived chan struct{} // closed once the held chunk is forwarded
}

func newLateProxy(tb testing.TB, upstream, trigger string, delay time.Duration) *lateProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &lateProxy{ln: ln, upstream: upstream, trigger: []byte(trigger), delay: delay, arrived: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); p.serve(c) }()
		}
	}()
	tb.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return p
}

func (p *lateProxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		_ = client.Close()
		return
	}
	defer server.Close()
	defer client.Close()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				_, _ = client.Write(buf[:n])
			}
			if err != nil {
				_ = client.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			p.mu.Lock()
			hold := !p.held && bytes.Contains(bytes.ToLower(buf[:n]), p.trigger)
			if hold {
				p.held = true
			}
			p.mu.Unlock()
			if hold {
				chunk := append([]byte(nil), buf[:n]...)
				time.Sleep(p.delay)
				_, _ = server.Write(chunk)
				// The server has the late command; give it the time to run
				// it before the connection closes.
				_ = server.SetReadDeadline(time.Now().Add(time.Second))
				close(p.arrived)
				time.Sleep(200 * time.Millisecond)
				return
			}
			if _, err := server.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestReserveLateCopyTakesNothing: a reservation whose call timed out is
// settled while the call is still on its way; once settled as not
// reserved, the late call must take no unit, or the buyer told the
// purchase failed would hold one.
func TestReserveLateCopyTakesNothing(t *testing.T) {
	direct, prefix := realRedis(t)
	p := newLateProxy(t, redisAddr, "evalsha", 700*time.Millisecond)
	client := redis.NewClient(&redis.Options{Addr: p.ln.Addr().String(), ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	ctx := context.Background()
	// Through a direct client: warm the sale and load the scripts, so the
	// held call is the reservation itself.
	s := stock.NewRedis(direct, stock.WithPrefix(prefix))
	now := time.Now()
	if err := s.Warm(ctx, order.StockSale{ID: 1, TotalStock: 3, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour), Rebuild: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(ctx, order.Reservation{OrderNo: "o-warm", SaleID: 1, UserID: 1}, now); err != nil {
		t.Fatal(err)
	}
	late := stock.NewRedis(client, stock.WithPrefix(prefix))
	// A combined batch: every reservation of the lost call is settled.
	errs := late.ReserveBatch(ctx, 1, []order.Reservation{
		{OrderNo: "o-late", SaleID: 1, UserID: 2}, {OrderNo: "o-late-2", SaleID: 1, UserID: 3},
	}, now)
	for i, err := range errs {
		if err == nil || errors.Is(err, order.ErrReserveUnknown) || !errors.Is(err, order.ErrUnavailable) {
			t.Fatalf("reservation %d of a call that timed out: %v, want ErrUnavailable settled as not reserved", i, err)
		}
	}
	select {
	case <-p.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the held call never reached the server")
	}
	time.Sleep(100 * time.Millisecond)
	if rem, err := s.Remaining(ctx, 1); err != nil || rem != 2 {
		t.Errorf("remaining after the late call: %d, %v; want 2 (only o-warm holds a unit)", rem, err)
	}
	snap, err := s.Snapshot(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, no := range []string{"o-late", "o-late-2"} {
		if r := snap.Reservations[no]; r.State == order.Reserved {
			t.Errorf("the late call reserved %s: %+v", no, r)
		}
	}
	if due, err := s.Due(ctx, 1, now.Add(time.Hour), 10); err != nil || len(due) != 1 {
		t.Errorf("in-flight index: %+v, %v; want o-warm alone", due, err)
	}
}
