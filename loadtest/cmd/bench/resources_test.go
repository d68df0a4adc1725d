package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
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

func TestParseStatus(t *testing.T) {
	m, err := parseStatus(statusFixture)
	if err != nil || m.RSSKB != 52224 || m.HWMKB != 61440 {
		t.Fatalf("parseStatus = %+v, %v; want RSS 52224, HWM 61440", m, err)
	}
	for name, bad := range map[string]string{
		"no memory lines (kernel thread)": "Name:\tkthreadd\nState:\tS\n",
		"only VmRSS":                      "VmRSS:\t 10 kB\n",
		"not a number":                    "VmHWM:\t x kB\nVmRSS:\t 1 kB\n",
		"another unit":                    "VmHWM:\t 1 MB\nVmRSS:\t 1 kB\n",
	} {
		if _, err := parseStatus(bad); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func TestReadMemOfThisProcess(t *testing.T) {
	m, err := readMem(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if m.RSSKB <= 0 || m.HWMKB < m.RSSKB {
		t.Errorf("own memory %+v: want RSS > 0 and HWM ≥ RSS", m)
	}
}

const metricsFixture = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
go_goroutines_extra 7
# TYPE seckill_worker_orders_total counter
seckill_worker_orders_total{outcome="duplicate"} 3
seckill_worker_orders_total{outcome="inserted"} 1.234e+06
seckill_publish_confirm_duration_seconds_bucket{le="0.005"} 10
seckill_publish_confirm_duration_seconds_sum 1.5
seckill_publish_confirm_duration_seconds_count 2500
`

func TestMetricValue(t *testing.T) {
	tests := []struct {
		series string
		want   float64
		ok     bool
	}{
		{"go_goroutines", 42, true},
		{`seckill_worker_orders_total{outcome="inserted"}`, 1234000, true},
		{`seckill_worker_orders_total{outcome="duplicate"}`, 3, true},
		{"seckill_publish_confirm_duration_seconds_count", 2500, true},
		{"seckill_worker_orders_total", 0, false}, // only labelled series exist
		{"go_gorout", 0, false},                   // a prefix of a name is not the name
		{"missing", 0, false},
	}
	for _, tt := range tests {
		got, ok := metricValue(metricsFixture, tt.series)
		if got != tt.want || ok != tt.ok {
			t.Errorf("metricValue(%s) = %g, %t; want %g, %t", tt.series, got, ok, tt.want, tt.ok)
		}
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

func TestCPUModel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	if got := cpuModel(info); got != "AMD EPYC 7B13" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := cpuModel("processor\t: 0\n"); got != "" {
		t.Errorf("cpuModel without a model name = %q", got)
	}
	m := machine{CPUs: 2, CPUModel: "X", GoVersion: "go1.26", OS: "linux/amd64", Date: "2026-01-01T00:00:00Z", Commit: "abc"}
	if s := m.String(); !strings.Contains(s, "nproc 2") || !strings.Contains(s, "commit abc") {
		t.Errorf("machine line %q", s)
	}
}

func TestSamplerReadsMemoryAndMetrics(t *testing.T) {
	if _, err := readMem(os.Getpid()); err != nil {
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
	s := startSampler(context.Background(), srv.Client(), time.Now(), time.Hour, []watched{me, me}, me)
	samples, err := s.finish() // the first sample is taken at the start
	if err != nil || len(samples) != 1 {
		t.Fatalf("finish = %d samples, %v; want one, no error", len(samples), err)
	}
	got := samples[0]
	if len(got.APIs) != 2 || got.APIs[1].Goroutines != 42 || got.Worker.Mem.RSSKB <= 0 || got.Inserted != 1234000 ||
		got.APIs[0].Scrape != "" || got.Worker.Scrape != "" {
		t.Errorf("sample %+v", got)
	}

	broken := watched{pid: os.Getpid(), metrics: srv.URL + "/nothing"}
	s = startSampler(context.Background(), srv.Client(), time.Now(), time.Hour, []watched{me}, broken)
	samples, err = s.finish()
	if len(samples) != 0 || err == nil || !strings.Contains(err.Error(), "1 of 1 samples failed") {
		t.Errorf("broken worker metrics: %d samples, %v", len(samples), err)
	}
}
