package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procTicks is one process's CPU time at a reading, in clock ticks.
type procTicks struct {
	Ticks uint64 // utime + stime: user and system time of all its threads
	Start uint64 // starttime: tells a reused pid apart
}

// parseProcStat reads utime, stime (fields 14 and 15) and starttime (field
// 22) from the text of /proc/<pid>/stat. The command name, field 2, is in
// parentheses and may hold spaces and parentheses itself, so the fields are
// counted from the last ')'.
func parseProcStat(text string) (procTicks, error) {
	i := strings.LastIndexByte(text, ')')
	if i < 0 {
		return procTicks{}, errors.New("stat: no ')' after the command name")
	}
	f := strings.Fields(text[i+1:])
	// f[0] is field 3 (state): field n is f[n-3].
	const utime, stime, starttime = 14 - 3, 15 - 3, 22 - 3
	if len(f) <= starttime {
		return procTicks{}, fmt.Errorf("stat: %d fields after the command name, want at least %d", len(f), starttime+1)
	}
	var v [3]uint64
	for k, idx := range []int{utime, stime, starttime} {
		n, err := strconv.ParseUint(f[idx], 10, 64)
		if err != nil {
			return procTicks{}, fmt.Errorf("stat: field %d: %w", idx+3, err)
		}
		v[k] = n
	}
	return procTicks{Ticks: v[0] + v[1], Start: v[2]}, nil
}

// machineTicks is the machine's CPU time from /proc/stat, in clock ticks
// summed over all CPUs.
type machineTicks struct {
	Busy  uint64 // Total − idle − iowait
	Total uint64 // user, nice, system, idle, iowait, irq, softirq, steal
	CPUs  int    // the cpuN lines
}

// parseCPUStat reads the first "cpu" line of the text of /proc/stat and
// counts the cpuN lines. guest and guest_nice are left out of the total:
// the kernel already counts them in user and nice.
func parseCPUStat(text string) (machineTicks, error) {
	var m machineTicks
	seen := false
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			if _, err := strconv.Atoi(f[0][3:]); err == nil {
				m.CPUs++
			}
			continue
		}
		if seen {
			return machineTicks{}, errors.New("/proc/stat: two cpu lines")
		}
		seen = true
		t, err := cpuLineTicks(f[1:])
		if err != nil {
			return machineTicks{}, err
		}
		m.Busy, m.Total = t.Busy, t.Total
	}
	if !seen {
		return machineTicks{}, errors.New("/proc/stat: no cpu line")
	}
	return m, nil
}

// cpuLineTicks sums the numbers of a cpu line: busy and total.
func cpuLineTicks(f []string) (machineTicks, error) {
	const idle, iowait, counted = 3, 4, 8 // indexes; the first 8 add up to the total
	if len(f) < iowait+1 {
		return machineTicks{}, fmt.Errorf("/proc/stat: cpu line has %d numbers, want at least %d", len(f), iowait+1)
	}
	var m machineTicks
	for i, s := range f[:min(len(f), counted)] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return machineTicks{}, fmt.Errorf("/proc/stat: cpu line: %w", err)
		}
		m.Total += n
		if i != idle && i != iowait {
			m.Busy += n
		}
	}
	return m, nil
}

// atClkTck is the key of the clock tick rate in the auxiliary vector
// (AT_CLKTCK of <elf.h>).
const atClkTck = 17

// auxvValue finds key in the auxiliary vector b: pairs of words of word
// bytes in order, ended by the key 0.
func auxvValue(b []byte, key uint64, word int, order binary.ByteOrder) (uint64, bool) {
	read := func(p []byte) uint64 {
		if word == 4 {
			return uint64(order.Uint32(p))
		}
		return order.Uint64(p)
	}
	if word != 4 && word != 8 {
		return 0, false
	}
	for ; len(b) >= 2*word; b = b[2*word:] {
		k := read(b)
		if k == 0 {
			break
		}
		if k == key {
			return read(b[word:]), true
		}
	}
	return 0, false
}

// defaultClockTicks is USER_HZ on Linux, the unit of /proc's CPU times.
const defaultClockTicks = 100

// clockTicks is the rate at which /proc counts CPU time, what
// sysconf(_SC_CLK_TCK) returns: the kernel hands it to every process in its
// auxiliary vector. USER_HZ, 100, when that cannot be read.
func clockTicks() float64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return defaultClockTicks
	}
	if v, ok := auxvValue(b, atClkTck, bits.UintSize/8, binary.NativeEndian); ok && v > 0 {
		return float64(v)
	}
	return defaultClockTicks
}

// cpuReading is the CPU time of watched processes and of the machine at one
// moment.
type cpuReading struct {
	At      time.Time
	Procs   map[int]procTicks // by pid; a process that could not be read is absent
	Machine machineTicks
}

// readCPU reads the CPU time of the groups' processes and of the machine.
// A process that exited is left out; the machine's must be read.
func readCPU(groups []procGroup) (cpuReading, error) {
	r := cpuReading{At: time.Now(), Procs: map[int]procTicks{}}
	for _, g := range groups {
		for _, pid := range g.Pids {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			if err != nil {
				continue
			}
			if t, err := parseProcStat(string(b)); err == nil {
				r.Procs[pid] = t
			}
		}
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return r, fmt.Errorf("read machine CPU time: %w", err)
	}
	if r.Machine, err = parseCPUStat(string(b)); err != nil {
		return r, fmt.Errorf("read machine CPU time: %w", err)
	}
	return r, nil
}

// procCPU is a group's CPU time between two readings.
type procCPU struct {
	Name    string
	Pids    int     // processes read at both readings
	Seconds float64 // CPU seconds
}

// cpuWindow is where the CPU went between two readings.
type cpuWindow struct {
	Seconds float64   // wall time between the readings
	Procs   []procCPU // in the groups' order; groups with no process read twice left out
	Busy    float64   // the machine's busy CPU seconds, all CPUs
	Total   float64   // the machine's CPU seconds, all CPUs
	CPUs    int
}

// cpuDelta is the CPU time the groups and the machine used from reading a
// to reading b, at hz ticks per second. A process counts when both readings
// have it with the same start time.
func cpuDelta(groups []procGroup, a, b cpuReading, hz float64) (cpuWindow, error) {
	if hz <= 0 {
		return cpuWindow{}, fmt.Errorf("cpu delta: clock ticks per second %g", hz)
	}
	if !b.At.After(a.At) {
		return cpuWindow{}, errors.New("cpu delta: the second reading is not after the first")
	}
	if b.Machine.Total < a.Machine.Total || b.Machine.Busy < a.Machine.Busy {
		return cpuWindow{}, errors.New("cpu delta: the machine's CPU time went backwards")
	}
	w := cpuWindow{
		Seconds: b.At.Sub(a.At).Seconds(),
		Busy:    float64(b.Machine.Busy-a.Machine.Busy) / hz,
		Total:   float64(b.Machine.Total-a.Machine.Total) / hz,
		CPUs:    b.Machine.CPUs,
	}
	for _, g := range groups {
		pc := procCPU{Name: g.Name}
		for _, pid := range g.Pids {
			x, okA := a.Procs[pid]
			y, okB := b.Procs[pid]
			if !okA || !okB || x.Start != y.Start || y.Ticks < x.Ticks {
				continue
			}
			pc.Pids++
			pc.Seconds += float64(y.Ticks-x.Ticks) / hz
		}
		if pc.Pids > 0 {
			w.Procs = append(w.Procs, pc)
		}
	}
	return w, nil
}

// cpuMeter reads the CPU time of a set of processes and of the machine when
// a measured window begins and when it ends.
type cpuMeter struct {
	groups []procGroup
	hz     float64

	mu          sync.Mutex
	first, last *cpuReading
	ended       bool
	err         error // the first reading that failed
	timers      []*time.Timer
}

func newCPUMeter(groups []procGroup, hz float64) *cpuMeter {
	return &cpuMeter{groups: groups, hz: hz}
}

// arm schedules the window: it begins warmup from now and lasts duration.
func (m *cpuMeter) arm(warmup, duration time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.timers = append(m.timers, time.AfterFunc(warmup, m.begin), time.AfterFunc(warmup+duration, m.end))
}

// begin takes the first reading, unless the window already began or ended.
func (m *cpuMeter) begin() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.first != nil || m.ended {
		return
	}
	r, err := readCPU(m.groups)
	if err != nil {
		m.err = err
		return
	}
	m.first = &r
}

// end takes the last reading if the window began, once; later calls do
// nothing. The window cannot begin after it.
func (m *cpuMeter) end() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ended {
		return
	}
	m.ended = true
	for _, t := range m.timers {
		t.Stop()
	}
	if m.first == nil {
		return
	}
	r, err := readCPU(m.groups)
	if err != nil {
		m.err = err
		return
	}
	m.last = &r
}

// window ends the window if it is still open and returns where the CPU
// went in it.
func (m *cpuMeter) window() (cpuWindow, error) {
	m.end()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return cpuWindow{}, m.err
	}
	if m.first == nil || m.last == nil {
		return cpuWindow{}, errors.New("the window ended before it began")
	}
	return cpuDelta(m.groups, *m.first, *m.last, m.hz)
}

// usageOfWindow expresses w per unit of work done in it (units replies or
// orders, what per names): cores used on average and CPU µs per unit of
// every group, of the machine, and of what the groups leave unaccounted.
func usageOfWindow(w cpuWindow, units int64, per string) cpuUsage {
	share := func(name string, pids int, secs float64) cpuShare {
		s := cpuShare{Process: name, Pids: pids, Seconds: secs, Cores: ratio(secs, w.Seconds)}
		if units > 0 {
			s.MicrosPerUnit = secs * 1e6 / float64(units)
		}
		return s
	}
	u := cpuUsage{
		WindowSeconds: w.Seconds, Per: per, Units: units, CPUs: w.CPUs,
		Machine:      share("machine busy", 0, w.Busy),
		BusyFraction: ratio(w.Busy, w.Total),
	}
	rest := w.Busy
	for _, p := range w.Procs {
		u.Processes = append(u.Processes, share(p.Name, p.Pids, p.Seconds))
		rest -= p.Seconds
	}
	u.Unaccounted = share("unaccounted", 0, rest)
	return u
}
