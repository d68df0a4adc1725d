package load_test

import (
	"testing"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

func rec(at, lat time.Duration, o load.Outcome) load.Record {
	return load.Record{At: at, Latency: lat, Outcome: o}
}

func TestMeasureCountsOnlyTheWindow(t *testing.T) {
	msec := time.Millisecond
	recs := []load.Record{
		rec(500*msec, 50*msec, load.Accepted), // warm-up: left out
		rec(1000*msec, 1*msec, load.Accepted), // first instant of the window
		rec(1500*msec, 2*msec, load.Accepted),
		rec(2200*msec, 3*msec, load.SoldOut), // an error for want = Accepted
		rec(2900*msec, 9*msec, load.TransportError),
		rec(3000*msec, 70*msec, load.Accepted), // end of the window: left out
	}
	st := load.Measure(recs, time.Second, 3*time.Second, load.Accepted)
	if st.Requests != 4 || st.Errors != 2 {
		t.Errorf("requests %d errors %d, want 4 and 2", st.Requests, st.Errors)
	}
	if st.RPS != 2 {
		t.Errorf("rps %g, want 4 replies / 2 s = 2", st.RPS)
	}
	if st.Counts.Accepted != 2 || st.Counts.SoldOut != 1 || st.Counts.TransportError != 1 {
		t.Errorf("counts %+v", st.Counts)
	}
	// Latencies of the three replies that arrived: 1, 2, 3 ms.
	if st.Latency.Count != 3 || st.Latency.P50 != 2*msec || st.Latency.Max != 3*msec {
		t.Errorf("latency %+v, want 3 values, p50 2ms, max 3ms", st.Latency)
	}
	if z := load.Measure(nil, 0, time.Second, load.Accepted); z.Requests != 0 || z.RPS != 0 || z.Latency.P99 != 0 {
		t.Errorf("empty window: %+v", z)
	}
}

func TestPerSecondBuckets(t *testing.T) {
	msec := time.Millisecond
	var recs []load.Record
	// Second 0 of the window: 100 replies of 1..100 ms; second 1: two of
	// 5 ms, one of them an error; the last half second: one reply.
	for i := 1; i <= 100; i++ {
		recs = append(recs, rec(2*time.Second+time.Duration(i)*msec, time.Duration(i)*msec, load.Accepted))
	}
	recs = append(recs,
		rec(3100*msec, 5*msec, load.Accepted), rec(3999*msec, 5*msec, load.ServerError),
		rec(4200*msec, 7*msec, load.Accepted),
		rec(1999*msec, time.Second, load.Accepted), // before the window
		rec(4500*msec, time.Second, load.Accepted), // at its end
	)
	bs := load.PerSecond(recs, 2*time.Second, 4500*msec, load.Accepted)
	if len(bs) != 3 {
		t.Fatalf("%d buckets, want 3 (two whole seconds and a half)", len(bs))
	}
	want := []struct {
		start, width time.Duration
		n, errs      int64
		rps          float64
		p50, p99     time.Duration
	}{
		{0, time.Second, 100, 0, 100, 50 * msec, 99 * msec},
		{time.Second, time.Second, 2, 1, 2, 5 * msec, 5 * msec},
		{2 * time.Second, 500 * msec, 1, 0, 2, 7 * msec, 7 * msec},
	}
	for i, w := range want {
		b := bs[i]
		if b.Start != w.start || b.Width != w.width || b.Requests != w.n || b.Errors != w.errs ||
			b.RPS != w.rps || b.P50 != w.p50 || b.P99 != w.p99 {
			t.Errorf("bucket %d = %+v, want %+v", i, b, w)
		}
	}
	if bs := load.PerSecond(recs, time.Second, time.Second, load.Accepted); bs != nil {
		t.Errorf("empty window: %d buckets", len(bs))
	}
}
