package stock_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/redistest"
	"github.com/seckill/seckill/internal/stock"
)

// busServers open one new client of a server per connect call, so two
// buses talk over two clients as two api instances do. On the cluster a
// PUBLISH goes to any node and the subscription to the master of the
// channel's slot: the message crosses the cluster bus.
var busServers = []struct {
	name string
	open func(tb testing.TB) (connect func() redis.UniversalClient)
}{
	{"redis", func(tb testing.TB) func() redis.UniversalClient {
		return func() redis.UniversalClient { c, _ := realRedis(tb); return c }
	}},
	{"miniredis", func(tb testing.TB) func() redis.UniversalClient {
		srv := miniredis.RunT(tb)
		return func() redis.UniversalClient {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			tb.Cleanup(func() { _ = c.Close() })
			return c
		}
	}},
	{"cluster", func(tb testing.TB) func() redis.UniversalClient {
		return func() redis.UniversalClient { return redistest.Cluster(tb) }
	}},
}

type announcement struct {
	saleID  int64
	soldOut bool
}

// TestRedisBus runs two buses on two clients of each server: each hears
// what the other announces, sold out and units back alike.
func TestRedisBus(t *testing.T) {
	for _, srv := range busServers {
		t.Run(srv.name, func(t *testing.T) {
			connect := srv.open(t)
			prefix := "sktest-" + strings.ReplaceAll(uuid.NewString(), "-", "")
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			t.Cleanup(func() { cancel(); wg.Wait() })
			buses := make([]*stock.RedisBus, 2)
			heard := make([]chan announcement, 2)
			for i := range buses {
				buses[i] = stock.NewRedisBus(connect(), prefix, log)
				heard[i] = make(chan announcement, 64)
				wg.Go(func() {
					err := buses[i].Run(ctx, func(_ context.Context, saleID int64, soldOut bool) {
						select {
						case heard[i] <- announcement{saleID, soldOut}:
						default: // the test stopped listening
						}
					})
					if err != nil {
						t.Errorf("bus %d: %v", i, err)
					}
				})
			}
			// Each bus announces until the other hears it: an announcement
			// sent before the other's subscription is in place is lost, as
			// the bus allows.
			for _, tt := range []struct {
				from, to int
				want     announcement
			}{
				{0, 1, announcement{7, true}},
				{1, 0, announcement{7, false}},
				{1, 0, announcement{8, true}},
			} {
				announceUntilHeard(t, buses[tt.from], heard[tt.to], tt.want)
			}
		})
	}
}

func announceUntilHeard(t *testing.T, from *stock.RedisBus, to <-chan announcement, want announcement) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := from.Announce(t.Context(), want.saleID, want.soldOut); err != nil {
			t.Fatalf("announce %+v: %v", want, err)
		}
		for waiting := true; waiting; {
			select {
			case got := <-to:
				if got == want {
					return
				}
			case <-tick.C:
				waiting = false
			case <-deadline:
				t.Fatalf("announcement %+v never heard", want)
			}
		}
	}
}
