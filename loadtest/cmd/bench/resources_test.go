package main

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/procfs"

	"github.com/seckill/seckill/loadtest/internal/load"
)

const statusFixture = `Name:	api
Umask:	0022
State:	S (sleeping)
Pid:	4242
VmPeak:	 1893124 kB
VmSize:	 1893124 kB
VmHWM:	   61440 kB
VmRSS:	   52224 kB
RssAnon:	   30000 kB
Threads:	9
`

func TestReadMem(t *testing.T) {
	fs := fakeProc(t, map[string]string{
		"4242/status": statusFixture,
		"2/status":    "Name:\tkthreadd\nState:\tS (sleeping)\nPid:\t2\n", // a kernel thread: no memory lines
	})
	m, err := readMem(fs, 4242)
	if err != nil || m.RSSKB != 52224 || m.HWMKB != 61440 {
		t.Fatalf("readMem = %+v, %v; want RSS 52224, HWM 61440", m, err)
	}
	if _, err := readMem(fs, 2); err == nil {
		t.Error("kernel thread: read without error")
	}
	if _, err := readMem(fs, 77); err == nil {
		t.Error("no such process: read without error")
	}
}

func TestReadMemOfThisProcess(t *testing.T) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	m, err := readMem(fs, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSSKB <= 0 || m.HWMKB < m.RSSKB {
		t.Errorf("own memory %+v: want RSS > 0 and HWM ≥ RSS", m)
	}
}

// metricsFixture is a /metrics page as client_golang writes it.
const metricsFixture = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
go_goroutines_extra 7
# TYPE seckill_worker_orders_total counter
seckill_worker_orders_total{outcome="duplicate"} 3
seckill_worker_orders_total{outcome="inserted",shard="2"} 5
seckill_worker_orders_total{outcome="inserted"} 1.234e+06
# TYPE seckill_publish_confirm_duration_seconds histogram
seckill_publish_confirm_duration_seconds_bucket{le="0.005"} 10
seckill_publish_confirm_duration_seconds_bucket{le="+Inf"} 2500
seckill_publish_confirm_duration_seconds_sum 1.5
seckill_publish_confirm_duration_seconds_count 2500
`

func TestMetricValue(t *testing.T) {
	ms, err := parseMetrics(strings.NewReader(metricsFixture))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref  metricRef
		want float64
		ok   bool
	}{
		{refGoroutines, 42, true},
		{refInserted, 1234000, true},
		{metricRef{Family: "seckill_worker_orders_total", Labels: map[string]string{"outcome": "duplicate"}}, 3, true},
		{refConfirms, 2500, true},
		{apiFlowRefs[1], 1.5, true},                                  // the confirm histogram's _sum
		{metricRef{Family: "seckill_worker_orders_total"}, 0, false}, // only labelled series exist
		{metricRef{Family: "seckill_worker_orders_total", Labels: map[string]string{"outcome": "lost"}}, 0, false},                   // no such label value
		{metricRef{Family: "seckill_worker_orders_total", Labels: map[string]string{"outcome": "inserted", "shard": "9"}}, 0, false}, // a label missing from every series
		{metricRef{Family: "seckill_publish_confirm_duration_seconds"}, 0, false},                                                    // a histogram has no single value
		{metricRef{Family: "go_goroutines", Count: true}, 0, false},                                                                  // a gauge has no count
		{metricRef{Family: "go_gorout"}, 0, false},                                                                                   // a prefix of a name is not the name
		{metricRef{Family: "missing"}, 0, false},
	}
	for _, tt := range tests {
		got, ok := ms.value(tt.ref)
		if got != tt.want || ok != tt.ok {
			t.Errorf("value(%s) = %g, %t; want %g, %t", tt.ref, got, ok, tt.want, tt.ok)
		}
	}
	if got := refInserted.String(); got != `seckill_worker_orders_total{outcome="inserted"}` {
		t.Errorf("refInserted names itself %s", got)
	}
	if got := refConfirms.String(); got != "seckill_publish_confirm_duration_seconds_count" {
		t.Errorf("refConfirms names itself %s", got)
	}
	if got := apiFlowRefs[1].String(); got != "seckill_publish_confirm_duration_seconds_sum" {
		t.Errorf("the confirm sum names itself %s", got)
	}
	if _, err := parseMetrics(strings.NewReader("go_goroutines forty-two\n")); err == nil {
		t.Error("a page that is not the text format: parsed without error")
	}
}

// TestSetAPIFlow: the phase's publish and reservation figures are the
// differences of the api's counters over it.
func TestSetAPIFlow(t *testing.T) {
	e := &endToEnd{Accepted: 3000}
	before := []float64{10, 0.5, 20, 100, 20, 0.2, 1000, 3}
	after := []float64{110, 1.5, 220, 3100, 220, 0.6, 4000, 15}
	e.setAPIFlow(before, after)
	if e.Messages != 100 || e.OrdersPerMessage != 30 || e.ConfirmMillis != 10 {
		t.Errorf("publish: %d messages, %g orders each, %g ms; want 100, 30, 10", e.Messages, e.OrdersPerMessage, e.ConfirmMillis)
	}
	if e.ReserveCalls != 200 || e.ReservationsPerCall != 15 || math.Abs(e.ReserveMillis-2) > 1e-9 {
		t.Errorf("reserve: %d calls, %g each, %g ms; want 200, 15, 2", e.ReserveCalls, e.ReservationsPerCall, e.ReserveMillis)
	}
	if math.Abs(e.HandlerMillis-4) > 1e-9 {
		t.Errorf("handler: %g ms, want 4", e.HandlerMillis)
	}
	e.setClientMean([]load.Record{{Latency: 3 * time.Millisecond}, {Latency: 5 * time.Millisecond}})
	if math.Abs(e.ClientMillis-4) > 1e-9 {
		t.Errorf("client: %g ms, want 4", e.ClientMillis)
	}
}

func TestUsageOfTakesTheLastSampleUnderLoad(t *testing.T) {
	s := func(at time.Duration, rss, hwm int64, g int) sample {
		return sample{At: at, APIs: []usage{{Mem: memInfo{RSSKB: rss, HWMKB: hwm}, Goroutines: g}}}
	}
	samples := []sample{
		s(0, 1024, 1024, 10),
		s(time.Second, 4096, 5120, 80),
		s(2*time.Second, 3072, 5120, 60),
		s(3*time.Second, 2048, 6144, 12), // after the load ended
	}
	u := usageOf(samples, 2500*time.Millisecond, func(s sample) usage { return s.APIs[0] })
	if u == nil || u.RSSMB != 3 || u.PeakRSSMB != 5 || u.Goroutines != 60 || u.PeakGoroutines != 80 {
		t.Errorf("usageOf = %+v; want RSS 3 MB, peak 5 MB, 60 goroutines, peak 80", u)
	}
	if u := usageOf(nil, time.Second, func(s sample) usage { return s.APIs[0] }); u != nil {
		t.Errorf("no samples: %+v, want nil", u)
	}
	// A load shorter than the first interval still reports the first sample.
	if u := usageOf(samples[1:], 0, func(s sample) usage { return s.APIs[0] }); u == nil || u.Goroutines != 80 {
		t.Errorf("load ended before the first sample: %+v", u)
	}
}

func TestMachineLoad(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"
	fs := fakeProc(t, map[string]string{"cpuinfo": info, "loadavg": "2.42 1.02 0.39 3/512 12345\n"})
	model, load := machineLoad(fs)
	if (runtime.GOARCH == "amd64" || runtime.GOARCH == "386") && model != "AMD EPYC 7B13" {
		t.Errorf("model %q", model)
	}
	if load != "2.42 1.02 0.39" {
		t.Errorf("load average %q", load)
	}
	if model, load := machineLoad(fakeProc(t, nil)); model != "unknown" || load != "" {
		t.Errorf("nothing to read: model %q, load average %q", model, load)
	}
	m := machine{CPUs: 2, CPUModel: "X", GoVersion: "go1.26", OS: "linux/amd64", Date: "2026-01-01T00:00:00Z", Commit: "abc"}
	if s := m.String(); !strings.Contains(s, "nproc 2") || !strings.Contains(s, "commit abc") {
		t.Errorf("machine line %q", s)
	}
}

func TestSamplerReadsMemoryAndMetrics(t *testing.T) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(metricsFixture))
	}))
	defer srv.Close()
	me := watched{pid: os.Getpid(), metrics: srv.URL + "/metrics"}
	s := startSampler(context.Background(), srv.Client(), fs, time.Now(), time.Hour, []watched{me, me}, []watched{me, me})
	samples, err := s.finish() // the first sample is taken at the start
	if err != nil || len(samples) != 1 {
		t.Fatalf("finish = %d samples, %v; want one, no error", len(samples), err)
	}
	got := samples[0]
	// Two workers each inserted 1,234,000: the sample sums them.
	if len(got.APIs) != 2 || got.APIs[1].Goroutines != 42 || len(got.Workers) != 2 || got.Workers[1].Mem.RSSKB <= 0 ||
		got.Inserted != 2*1234000 || got.APIs[0].Metrics != nil || got.Workers[0].Metrics != nil {
		t.Errorf("sample %+v", got)
	}

	broken := watched{pid: os.Getpid(), metrics: srv.URL + "/nothing"}
	s = startSampler(context.Background(), srv.Client(), fs, time.Now(), time.Hour, []watched{me}, []watched{me, broken})
	samples, err = s.finish()
	if len(samples) != 0 || err == nil || !strings.Contains(err.Error(), "1 of 1 samples failed") {
		t.Errorf("broken worker metrics: %d samples, %v", len(samples), err)
	}
}
