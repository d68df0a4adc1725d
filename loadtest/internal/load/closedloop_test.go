package load_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

func TestClosedLoopGivesEachWorkerItsOwnConnection(t *testing.T) {
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	var auth atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns[c] = true
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()

	var measured atomic.Bool
	var sent [4]int // per worker; each worker touches only its own
	cl := load.ClosedLoop{
		Workers: 4, Duration: time.Minute,
		Shot: func(ctx context.Context, w int, c *http.Client) (load.Reply, bool) {
			if sent[w] == 5 {
				return load.Reply{}, false
			}
			sent[w]++
			return load.PostBearer(ctx, c, srv.URL+"/hello", "tok"), true
		},
		OnMeasure: func() { measured.Store(true) },
	}
	res := cl.Run(context.Background())
	if len(res.Records) != 20 {
		t.Fatalf("%d records, want 5 per worker", len(res.Records))
	}
	for _, r := range res.Records {
		if r.Outcome != load.Accepted || r.Latency <= 0 || r.At <= 0 {
			t.Fatalf("record %+v, want a 202 with its latency and time", r)
		}
	}
	mu.Lock()
	n := len(conns)
	mu.Unlock()
	if n != 4 {
		t.Errorf("%d connections for 4 workers, want one each, kept alive", n)
	}
	if got, _ := auth.Load().(string); got != "Bearer tok" {
		t.Errorf("Authorization %q", got)
	}
	if !measured.Load() {
		t.Error("OnMeasure not called")
	}
}

func TestClosedLoopStopsWhenTheShotsRunOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"error":{"code":"sold_out","message":"sold out"}}`))
	}))
	defer srv.Close()
	var left atomic.Int64
	left.Store(25)
	cl := load.ClosedLoop{
		Workers: 3, Duration: time.Minute,
		Shot: func(ctx context.Context, _ int, c *http.Client) (load.Reply, bool) {
			if left.Add(-1) < 0 {
				return load.Reply{}, false
			}
			return load.PostBearer(ctx, c, srv.URL, ""), true
		},
	}
	res := cl.Run(context.Background())
	if len(res.Records) != 25 {
		t.Errorf("%d records, want the 25 shots", len(res.Records))
	}
	if res.Exhausted <= 0 {
		t.Error("Exhausted not marked")
	}
	for _, r := range res.Records {
		if r.Outcome != load.SoldOut {
			t.Fatalf("outcome %v, want sold_out (the body's code)", r.Outcome)
		}
	}
}

func TestClosedLoopEndsWithItsContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	cl := load.ClosedLoop{
		Workers: 2, Duration: time.Hour,
		Shot: func(ctx context.Context, _ int, c *http.Client) (load.Reply, bool) {
			if calls.Add(1) == 10 {
				cancel()
			}
			return load.PostBearer(ctx, c, srv.URL, ""), true
		},
	}
	res := cl.Run(ctx)
	if n := len(res.Records); n < 10 || n > 11 {
		t.Errorf("%d records after cancelling at the 10th shot, want 10 or 11 (one per worker in flight)", n)
	}
}
