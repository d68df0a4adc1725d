package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/seckill/seckill/loadtest/internal/load"
)

// setupReport is a setup's report with the figures the scaling-out table
// reads: the contended phase's CPU per order, the sold-out phase and the
// end-to-end rate.
func setupReport(s setup, contendedRPS, apiMicros, redisMicros float64, failed bool) report {
	cpu := &cpuUsage{Units: 1000, Unaccounted: cpuShare{Cores: 0.05}, Processes: []cpuShare{
		{Process: "api", Pids: s.APIs, MicrosPerUnit: apiMicros},
		{Process: "redis-server", Pids: 1, MicrosPerUnit: redisMicros},
	}}
	r := report{
		Setup: s,
		Phases: []phase{
			{Name: phaseHello, RPS: 20000},
			{Name: phaseContended, RPS: contendedRPS, Latency: load.LatencyMS{P99: 25.5}, CPU: cpu},
			{Name: phaseSoldOut, RPS: 19000, Latency: load.LatencyMS{P99: 11.4}},
			{Name: phaseHelloEnd, RPS: 20000},
		},
		EndToEnd:   &endToEnd{PersistedPerSec: contendedRPS - 5},
		Invariants: []load.Check{{Name: "contended: no oversell", OK: !failed}, {Name: "sold-out: no oversell", OK: true}},
	}
	r.setRatios()
	r.OK = !failed
	return r
}

func TestScalingOutTable(t *testing.T) {
	single := redisTarget{URL: singleRedisURL, Shown: singleRedisURL}
	cluster := redisTarget{URL: clusterRedisURL, Shown: clusterRedisURL, Cluster: true}
	reports := []report{
		setupReport(setup{Redis: single, APIs: 1}, 5810, 92.3, 19.3, false),
		setupReport(setup{Redis: single, APIs: 2}, 5400, 95.25, 19.9, false),
		setupReport(setup{Redis: cluster, APIs: 1}, 5000, 93, 41.6, true),
		{Setup: setup{Redis: cluster, APIs: 2}}, // failed before any phase
	}
	s := scaleOf(machine{CPUs: 2, Date: "2026-11-28T00:00:00Z"}, reports)
	if s.OK {
		t.Error("a run with a broken invariant is OK")
	}
	var b bytes.Buffer
	writeScaleTable(&b, s.Rows)
	for _, want := range []string{
		"| single Redis, 1 api | 5,810 | 29.0% | 25.5 ms | 19,000 | 95.0% | 11.4 ms | 92.3 µs | 19.3 µs | 5,805 | 0.05 cores | all 2 hold |",
		"| single Redis, 2 apis | 5,400 | 27.0% | 25.5 ms | 19,000 | 95.0% | 11.4 ms | 95.2 µs | 19.9 µs | 5,395 | 0.05 cores | all 2 hold |",
		"| Redis Cluster, 1 api | 5,000 | 25.0% | 25.5 ms | 19,000 | 95.0% | 11.4 ms | 93.0 µs | 41.6 µs | 4,995 | 0.05 cores | **1 of 2 FAILED** |",
		"| Redis Cluster, 2 apis | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | all 0 hold |",
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("table lacks\n%s\nin\n%s", want, b.String())
		}
	}

	var md bytes.Buffer
	s.writeMarkdown(&md, reports[:2])
	wantIn(t, "bench.md", md.String(), "## Scaling out", "## single Redis, 2 apis", "Setup: single Redis ("+singleRedisURL+"), 2 api replicas")
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Setups []struct {
			Dir         string   `json:"dir"`
			APIMicros   *float64 `json:"api_us_per_order"`
			RedisMicros *float64 `json:"redis_us_per_order"`
		} `json:"setups"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Setups) != 4 || back.Setups[1].Dir != "single-2apis" || back.Setups[2].RedisMicros == nil ||
		*back.Setups[2].RedisMicros != 41.6 || back.Setups[3].APIMicros != nil {
		t.Errorf("bench.json setups %s", js)
	}
}

func TestOneSetupOKWithoutScale(t *testing.T) {
	r := setupReport(setup{Redis: redisTarget{URL: singleRedisURL}, APIs: 1}, 5810, 92, 19, false)
	if s := scaleOf(machine{}, []report{r}); !s.OK || len(s.Rows) != 1 {
		t.Errorf("scaleOf one good setup = %+v", s)
	}
	if s := scaleOf(machine{}, nil); s.OK {
		t.Error("a run that measured nothing is OK")
	}
}

func TestInfoProcessID(t *testing.T) {
	info := "# Server\r\nredis_version:7.0.15\r\nredis_mode:cluster\r\nos:Linux\r\nprocess_id:18849\r\nrun_id:abc\r\n"
	if pid, ok := infoProcessID(info); !ok || pid != 18849 {
		t.Errorf("infoProcessID = %d, %t; want 18849", pid, ok)
	}
	for _, bad := range []string{"# Server\r\nredis_version:7\r\n", "process_id:x\r\n", "process_id:0\r\n"} {
		if pid, ok := infoProcessID(bad); ok {
			t.Errorf("infoProcessID(%q) = %d, true", bad, pid)
		}
	}
}

// A connection keeps to one api; the connections spread evenly over them.
func TestTokenShotSpreadsConnections(t *testing.T) {
	var hits [2]atomic.Int64
	var urls []string
	for i := range hits {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			w.WriteHeader(http.StatusAccepted)
		}))
		defer srv.Close()
		urls = append(urls, srv.URL)
	}
	tokens := make([]string, 15)
	var next atomic.Int64
	shot := tokenShot(urls, tokens, &next)
	c := &http.Client{}
	send := func(w, n int) {
		for range n {
			if r, more := shot(context.Background(), w, c); !more || r.Status != http.StatusAccepted {
				t.Fatalf("worker %d: %+v, more %t", w, r, more)
			}
		}
	}
	send(2, 3) // worker 2 → the first api only
	if hits[0].Load() != 3 || hits[1].Load() != 0 {
		t.Fatalf("worker 2 reached %d and %d requests, want 3 and 0", hits[0].Load(), hits[1].Load())
	}
	for w := range 4 {
		send(w, 3)
	}
	if hits[0].Load() != 9 || hits[1].Load() != 6 {
		t.Errorf("apis got %d and %d requests, want 9 and 6", hits[0].Load(), hits[1].Load())
	}
	if _, more := shot(context.Background(), 0, c); more {
		t.Error("a shot after the last token")
	}
}

func TestAPIUsagesAndLabels(t *testing.T) {
	s := func(g1, g2 int) sample {
		return sample{APIs: []usage{{Goroutines: g1}, {Goroutines: g2}}}
	}
	us := apiUsages([]sample{s(10, 20), s(30, 5)}, 0, 2)
	if len(us) != 2 || us[0].PeakGoroutines != 30 || us[1].PeakGoroutines != 20 {
		t.Errorf("apiUsages = %+v", us)
	}
	ph := phase{APIs: us, Workers: []procUsage{{Goroutines: 7}}}
	var names []string
	for _, u := range ph.usages() {
		names = append(names, u.Name)
	}
	if strings.Join(names, ",") != "api1,api2,worker" {
		t.Errorf("names %v", names)
	}
	ph.Workers = append(ph.Workers, procUsage{Goroutines: 8})
	names = nil
	for _, u := range ph.usages() {
		names = append(names, u.Name)
	}
	if strings.Join(names, ",") != "api1,api2,worker1,worker2" {
		t.Errorf("names with two workers %v", names)
	}
	if replicaName("api", 0, 1) != "api" {
		t.Errorf("a lone api is %q", replicaName("api", 0, 1))
	}
	g, ok := cpuGridOf("CPU per reply", "reply", []string{"contended"}, []*cpuUsage{{Units: 10, CPUs: 2, Processes: []cpuShare{
		{Process: "api", Pids: 2, Cores: 1, MicrosPerUnit: 90}, {Process: "redis-server", Pids: 6, MicrosPerUnit: 40},
		{Process: "worker", Pids: 1, MicrosPerUnit: 30},
	}}})
	if !ok || g.Rows[0].Label != "api, 2 processes summed" || g.Rows[1].Label != "redis-server (Redis), 6 processes summed" ||
		g.Rows[2].Label != "worker" {
		t.Errorf("rows %+v", g.Rows)
	}
}

// TestScalingOutTableWorkerAlone: when the setups differ in workers the
// table adds the worker alone's persisted/s and each worker's rows.
func TestScalingOutTableWorkerAlone(t *testing.T) {
	single := redisTarget{URL: singleRedisURL, Shown: singleRedisURL}
	one := setupReport(setup{Redis: single, APIs: 1, Workers: 1}, 5810, 92.3, 19.3, false)
	one.Drain = &drainResult{Workers: 1, Complete: true, PersistedPerSec: 9100, WorkerInserted: []int64{100000}}
	two := setupReport(setup{Redis: single, APIs: 1, Workers: 2}, 5700, 93, 19.5, false)
	two.Drain = &drainResult{Workers: 2, Complete: true, PersistedPerSec: 9800, WorkerInserted: []int64{50400, 49600}}
	failed := setupReport(setup{Redis: single, APIs: 2, Workers: 2}, 5700, 93, 19.5, false)
	failed.Drain = &drainResult{Workers: 2, PersistedPerSec: 0}
	s := scaleOf(machine{}, []report{one, two, failed})
	var b bytes.Buffer
	writeScaleTable(&b, s.Rows)
	wantIn(t, "table", b.String(),
		"| persisted/s | worker alone persisted/s | rows by worker | other load | invariants |",
		"| single Redis, 1 api | 5,810 | 29.0% | 25.5 ms | 19,000 | 95.0% | 11.4 ms | 92.3 µs | 19.3 µs | 5,805 | 9,100 | worker 100,000 | 0.05 cores | all 2 hold |",
		"| single Redis, 1 api, 2 workers | 5,700 | 28.5% | 25.5 ms | 19,000 | 95.0% | 11.4 ms | 93.0 µs | 19.5 µs | 5,695 | 9,800 | worker1 50,400 · worker2 49,600 | 0.05 cores | all 2 hold |",
		"| single Redis, 2 apis, 2 workers | 5,700 | 28.5% | 25.5 ms | 19,000 | 95.0% | 11.4 ms | 93.0 µs | 19.5 µs | 5,695 | n/a | n/a | 0.05 cores | all 2 hold |",
	)
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"worker_alone_persisted_per_sec":9800,"worker_alone_inserted":[50400,49600]`) ||
		!strings.Contains(string(js), `"workers":2`) {
		t.Errorf("bench.json %s", js)
	}
}
