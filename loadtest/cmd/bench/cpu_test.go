package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// A command name with spaces and parentheses: the fields must be counted
// from the last ')'. utime 250, stime 120, cutime 7, cstime 3, starttime
// 123456.
const procStatFixture = "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 120 7 3 20 0 9 0 123456 " +
	"1893124096 13056 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"

const cpuStatFixture = `cpu  40540 0 11331 47843 1180 0 1636 32 500 0
cpu0 20889 0 4967 24804 180 0 729 12 250 0
cpu1 19651 0 6364 23038 999 0 907 19 250 0
intr 123 0 0
ctxt 9999
btime 1700000000
processes 100
`

// fakeProc lays files out under a temporary directory as /proc holds them
// and opens it.
func fakeProc(tb testing.TB, files map[string]string) procfs.FS {
	tb.Helper()
	dir := tb.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	fs, err := procfs.NewFS(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return fs
}

func TestReadCPU(t *testing.T) {
	fs := fakeProc(t, map[string]string{
		"stat":      cpuStatFixture,
		"4242/stat": procStatFixture,
		// Fields that look like the ones wanted inside the name change nothing.
		"4243/stat": strings.Replace(procStatFixture, "(my (odd) proc)", "(x) S 1 2 3 4 5 6 7 8 9 10 11 12)", 1),
		"4244/stat": strings.Replace(procStatFixture, " 250 ", " x ", 1),
		"4245/stat": "4245 (a) S 1 4242",
	})
	r, err := readCPU(fs, []procGroup{{Name: "a", Pids: []int{4242, 4243}}, {Name: "b", Pids: []int{4244, 4245, 4246}}})
	if err != nil {
		t.Fatal(err)
	}
	// utime + stime, the children's time left out; 100 ticks a second.
	for _, pid := range []int{4242, 4243} {
		if got := r.Procs[pid]; math.Abs(got.Seconds-3.7) > 1e-9 || got.Start != 123456 {
			t.Errorf("pid %d: %+v, want 3.7 s started at 123456", pid, got)
		}
	}
	// A stat that is not a number, one cut short and one missing: left out.
	if len(r.Procs) != 2 {
		t.Errorf("processes read %v, want only 4242 and 4243", r.Procs)
	}
	// Total: the first 8 numbers, guest (500) left out; busy without idle
	// 47843 and iowait 1180.
	total := float64(40540+0+11331+47843+1180+0+1636+32) / 100
	busy := total - float64(47843+1180)/100
	if m := r.Machine; math.Abs(m.Total-total) > 1e-6 || math.Abs(m.Busy-busy) > 1e-6 || m.CPUs != 2 {
		t.Errorf("machine %+v, want busy %g, total %g, 2 CPUs", m, busy, total)
	}

	// An old kernel's five numbers.
	old := fakeProc(t, map[string]string{"stat": "cpu 10 0 5 80 5\ncpu0 10 0 5 80 5\n"})
	if r, err := readCPU(old, nil); err != nil || math.Abs(r.Machine.Busy-0.15) > 1e-9 || math.Abs(r.Machine.Total-1) > 1e-9 || r.Machine.CPUs != 1 {
		t.Errorf("five numbers: %+v, %v", r.Machine, err)
	}
	for name, bad := range map[string]map[string]string{
		"no /proc/stat": {"4242/stat": procStatFixture},
		"no cpu line":   {"stat": "intr 1\nctxt 2\n"},
		"not a number":  {"stat": "cpu 1 2 x 4 5\ncpu0 1 2 3 4 5\n"},
	} {
		if _, err := readCPU(fakeProc(t, bad), nil); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
}

func TestServerGroups(t *testing.T) {
	comms := map[int]string{
		1: "systemd", 30: "redis-server", 12: "redis-server", 40: "beam.smp", 41: "epmd",
		50: "mariadbd", 60: "memcached-extra",
	}
	for _, tt := range []struct {
		name      string
		redisPids []int
		want      []procGroup
	}{
		{"Redis under test unknown: every redis-server", nil,
			[]procGroup{{Name: "redis-server", Pids: []int{12, 30}}, {Name: "beam.smp", Pids: []int{40}}, {Name: "mariadbd", Pids: []int{50}}}},
		{"the Redis under test apart from the others", []int{30},
			[]procGroup{{Name: "redis-server", Pids: []int{30}}, {Name: otherRedis, Pids: []int{12}}, {Name: "beam.smp", Pids: []int{40}},
				{Name: "mariadbd", Pids: []int{50}}}},
		{"every node of a cluster", []int{12, 30},
			[]procGroup{{Name: "redis-server", Pids: []int{12, 30}}, {Name: "beam.smp", Pids: []int{40}}, {Name: "mariadbd", Pids: []int{50}}}},
	} {
		got := serverGroups(comms, tt.redisPids)
		if len(got) != len(tt.want) {
			t.Errorf("%s: serverGroups = %+v, want %+v", tt.name, got, tt.want)
			continue
		}
		for i := range tt.want {
			if got[i].Name != tt.want[i].Name || !equalInts(got[i].Pids, tt.want[i].Pids) {
				t.Errorf("%s: group %d = %+v, want %+v", tt.name, i, got[i], tt.want[i])
			}
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadComms(t *testing.T) {
	fs := fakeProc(t, map[string]string{
		"12/comm": "redis-server\n", "40/comm": "beam.smp\n", "self/comm": "bench\n",
		"77/status": "Name:\tgone\n", // exited: no comm
	})
	got, err := readComms(fs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[12] != "redis-server" || got[40] != "beam.smp" {
		t.Errorf("readComms = %v", got)
	}
}

func TestCPUDelta(t *testing.T) {
	t0 := time.Unix(1000, 0)
	groups := []procGroup{{Name: "api", Pids: []int{10}}, {Name: "redis-server", Pids: []int{20, 21, 22}}, {Name: "gone", Pids: []int{30}}}
	a := cpuReading{At: t0, Machine: machineTime{Busy: 10, Total: 20, CPUs: 2}, Procs: map[int]procTime{
		10: {Seconds: 1, Start: 5}, 20: {Seconds: 0.5, Start: 6}, 21: {Seconds: 0.07, Start: 7}, 22: {Seconds: 0.01, Start: 8}, 30: {Seconds: 0.09, Start: 9},
	}}
	b := cpuReading{At: t0.Add(2 * time.Second), Machine: machineTime{Busy: 13, Total: 24, CPUs: 2}, Procs: map[int]procTime{
		10: {Seconds: 1.6, Start: 5}, 20: {Seconds: 0.8, Start: 6}, 21: {Seconds: 9, Start: 70}, // 21 is a new process on an old pid; 22 and 30 exited
	}}
	w, err := cpuDelta(groups, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if w.Seconds != 2 || w.Busy != 3 || w.Total != 4 || w.CPUs != 2 {
		t.Errorf("window %+v, want 2 s, busy 3, total 4, 2 CPUs", w)
	}
	want := []procCPU{{Name: "api", Pids: 1, Seconds: 0.6}, {Name: "redis-server", Pids: 1, Seconds: 0.3}}
	if len(w.Procs) != len(want) {
		t.Fatalf("procs %+v, want %+v", w.Procs, want)
	}
	for i := range want {
		if w.Procs[i].Name != want[i].Name || w.Procs[i].Pids != want[i].Pids || math.Abs(w.Procs[i].Seconds-want[i].Seconds) > 1e-9 {
			t.Errorf("proc %d = %+v, want %+v", i, w.Procs[i], want[i])
		}
	}
	if _, err := cpuDelta(groups, b, a); err == nil {
		t.Error("readings out of order: no error")
	}
	back := b
	back.Machine.Busy = 9
	if _, err := cpuDelta(groups, a, back); err == nil {
		t.Error("machine time going backwards: no error")
	}
}

func TestUsageOfWindow(t *testing.T) {
	w := cpuWindow{Seconds: 2, Busy: 3, Total: 4, CPUs: 2, Procs: []procCPU{
		{Name: "bench", Pids: 1, Seconds: 1.2}, {Name: "api", Pids: 1, Seconds: 1},
	}}
	u := usageOfWindow(w, 10000, "reply")
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %g, want %g", name, got, want)
		}
	}
	near("bench cores", u.Processes[0].Cores, 0.6)
	near("bench µs per reply", u.Processes[0].MicrosPerUnit, 120)
	near("api µs per reply", u.Processes[1].MicrosPerUnit, 100)
	near("machine busy fraction", u.BusyFraction, 0.75)
	near("machine cores", u.Machine.Cores, 1.5)
	near("machine µs per reply", u.Machine.MicrosPerUnit, 300)
	near("unaccounted seconds", u.Unaccounted.Seconds, 0.8)
	near("unaccounted µs per reply", u.Unaccounted.MicrosPerUnit, 80)
	if z := usageOfWindow(w, 0, "reply"); z.Machine.MicrosPerUnit != 0 || z.Processes[0].MicrosPerUnit != 0 {
		t.Errorf("no replies: µs per reply %+v", z.Machine)
	}
}

func TestCPUMeterWindowNeverBegun(t *testing.T) {
	m := newCPUMeter(fakeProc(t, map[string]string{"stat": cpuStatFixture}), []procGroup{{Name: "bench", Pids: []int{os.Getpid()}}})
	m.end()
	m.begin() // too late: the window ended
	if _, err := m.window(); err == nil {
		t.Error("a window that ended before it began has no error")
	}
}

func TestCPUMeterReadsThisProcess(t *testing.T) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	m := newCPUMeter(fs, []procGroup{{Name: "bench", Pids: []int{os.Getpid()}}})
	m.begin()
	deadline := time.Now().Add(300 * time.Millisecond)
	for x := 0.0; time.Now().Before(deadline); x += math.Sqrt(x + 1) {
		_ = x
	}
	w, err := m.window()
	if err != nil {
		t.Fatal(err)
	}
	// On a machine busy throughout, Total and Busy are the same seconds
	// summed two ways: allow for rounding.
	if len(w.Procs) != 1 || w.Procs[0].Seconds <= 0 || w.Busy <= 0 || w.Total < w.Busy-1e-9 {
		t.Errorf("300 ms of spinning: %+v", w)
	}
}

// cpuReport is a run with CPU measured in two phases of three and one
// ceiling run of two.
func cpuReport() *report {
	r := sampleReport()
	w := cpuWindow{Seconds: 10, Busy: 19, Total: 20, CPUs: 2, Procs: []procCPU{
		{Name: "bench", Pids: 1, Seconds: 6.1}, {Name: "api", Pids: 1, Seconds: 8}, {Name: "beam.smp", Pids: 1, Seconds: 3},
	}}
	u := usageOfWindow(w, 50000, "reply")
	r.Phases[1].CPU = &u
	h := usageOfWindow(cpuWindow{Seconds: 10, Busy: 20, Total: 20, CPUs: 2, Procs: []procCPU{
		{Name: "bench", Pids: 1, Seconds: 9}, {Name: "hello", Pids: 1, Seconds: 10},
	}}, 200000, "reply")
	r.Phases[0].CPU = &h
	c := usageOfWindow(cpuWindow{Seconds: 10, Busy: 10, Total: 20, CPUs: 2, Procs: []procCPU{
		{Name: "bench", Pids: 1, Seconds: 2}, {Name: "beam.smp", Pids: 1, Seconds: 7},
	}}, 50000, "order")
	r.Ceilings[0].CPU = &c
	return r
}

func TestMarkdownCPUTables(t *testing.T) {
	var b bytes.Buffer
	cpuReport().writeMarkdown(&b)
	md := b.String()
	wantIn(t, "markdown", md,
		"| CPU per reply | hello-world | contended | sold-out |",
		"| bench (load generator) | 0.90 cores · 45.0 µs | 0.61 cores · 122 µs | – |",
		"| hello-world server | 1.00 cores · 50.0 µs | – | – |",
		"| api | – | 0.80 cores · 160 µs | – |",
		"| beam.smp (RabbitMQ) | – | 0.30 cores · 60.0 µs | – |",
		"| machine busy (share of 2 cores) | 100.0% · 100 µs | 95.0% · 380 µs | – |",
		"| unaccounted (kernel softirq, other processes) | 0.10 cores · 5.00 µs | 0.19 cores · 38.0 µs | – |",
		"| CPU per order | raw publish, 8 order(s)/message × 8 in flight | raw publish, 1 order(s)/message × 64 in flight |",
		"| bench (load generator) | 0.20 cores · 40.0 µs | – |",
		"| beam.smp (RabbitMQ) | 0.70 cores · 140 µs | – |",
		"| machine busy (share of 2 cores) | 50.0% · 200 µs | – |",
	)
	// Nothing measured, no table.
	b.Reset()
	sampleReport().writeMarkdown(&b)
	if strings.Contains(b.String(), "CPU per") {
		t.Error("a report without CPU figures has a CPU table")
	}
}

// TestContendedBound: the bound is the hello-world phases' machine CPU per
// reply over the servers' CPU per contended order; without CPU figures
// there is none.
func TestContendedBound(t *testing.T) {
	b, ok := cpuReport().contendedBound()
	if !ok || math.Abs(b.HelloMachineMicros-100) > 1e-9 || math.Abs(b.ServersMicros-60) > 1e-9 || math.Abs(b.Ratio-100.0/60) > 1e-9 {
		t.Errorf("bound %+v, %t; want 100 µs over 60 µs", b, ok)
	}
	if b.FloorRatio != 0 {
		t.Errorf("floor %g without a sold-out phase's CPU; want none", b.FloorRatio)
	}
	if b, ok := sampleReport().contendedBound(); ok {
		t.Errorf("no CPU measured: bound %+v", b)
	}
	// With the api's sold-out reply (20 µs) and the load generator's
	// hello-world reply (45 µs) on top of the servers' 60 µs.
	r := cpuReport()
	so := usageOfWindow(cpuWindow{Seconds: 10, Busy: 20, Total: 20, CPUs: 2, Procs: []procCPU{
		{Name: "bench", Pids: 1, Seconds: 8}, {Name: "api", Pids: 1, Seconds: 4},
	}}, 200000, "reply")
	r.phaseByName(phaseSoldOut).CPU = &so
	b, _ = r.contendedBound()
	if math.Abs(b.APIMicros-20) > 1e-9 || math.Abs(b.LoadMicros-45) > 1e-9 || math.Abs(b.FloorRatio-100.0/125) > 1e-9 {
		t.Errorf("bound %+v; want the floor 100 µs over 60 + 20 + 45 µs", b)
	}
	var md bytes.Buffer
	r.writeMarkdown(&md)
	wantIn(t, "markdown", md.String(),
		"With the api spending on a purchase only what it spends on a sold-out reply (20.0 µs) and the load generator only what a hello-world reply costs it (45.0 µs), at most 80.0%.")
}
