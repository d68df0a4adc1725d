package main

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/procfs"
)

// procTime is one process's CPU time at a reading.
type procTime struct {
	Seconds float64 // utime + stime: user and system time of all its threads
	Start   uint64  // starttime: tells a reused pid apart
}

// machineTime is the machine's CPU time from /proc/stat, summed over all
// CPUs.
type machineTime struct {
	Busy  float64 // seconds neither idle nor waiting for I/O
	Total float64 // seconds of user, nice, system, idle, iowait, irq, softirq and steal
	CPUs  int     // the cpuN lines
}

// machineTimeOf sums the machine's CPU time. guest and guest_nice are left
// out of the total: the kernel already counts them in user and nice.
func machineTimeOf(s procfs.Stat) machineTime {
	c := s.CPUTotal
	busy := c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal
	return machineTime{Busy: busy, Total: busy + c.Idle + c.Iowait, CPUs: len(s.CPU)}
}

// cpuReading is the CPU time of watched processes and of the machine at one
// moment.
type cpuReading struct {
	At      time.Time
	Procs   map[int]procTime // by pid; a process that could not be read is absent
	Machine machineTime
}

// readCPU reads the CPU time of the groups' processes and of the machine
// from fs. A process that exited is left out; the machine's must be read.
func readCPU(fs procfs.FS, groups []procGroup) (cpuReading, error) {
	r := cpuReading{At: time.Now(), Procs: map[int]procTime{}}
	for _, g := range groups {
		for _, pid := range g.Pids {
			p, err := fs.Proc(pid)
			if err != nil {
				continue
			}
			if st, err := p.Stat(); err == nil {
				r.Procs[pid] = procTime{Seconds: st.CPUTime(), Start: st.Starttime}
			}
		}
	}
	st, err := fs.Stat()
	if err != nil {
		return r, fmt.Errorf("read machine CPU time: %w", err)
	}
	if len(st.CPU) == 0 {
		return r, errors.New("read machine CPU time: /proc/stat has no cpuN line")
	}
	r.Machine = machineTimeOf(st)
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
// to reading b. A process counts when both readings have it with the same
// start time.
func cpuDelta(groups []procGroup, a, b cpuReading) (cpuWindow, error) {
	if !b.At.After(a.At) {
		return cpuWindow{}, errors.New("cpu delta: the second reading is not after the first")
	}
	if b.Machine.Total < a.Machine.Total || b.Machine.Busy < a.Machine.Busy {
		return cpuWindow{}, errors.New("cpu delta: the machine's CPU time went backwards")
	}
	w := cpuWindow{
		Seconds: b.At.Sub(a.At).Seconds(),
		Busy:    b.Machine.Busy - a.Machine.Busy,
		Total:   b.Machine.Total - a.Machine.Total,
		CPUs:    b.Machine.CPUs,
	}
	for _, g := range groups {
		pc := procCPU{Name: g.Name}
		for _, pid := range g.Pids {
			x, okA := a.Procs[pid]
			y, okB := b.Procs[pid]
			if !okA || !okB || x.Start != y.Start || y.Seconds < x.Seconds {
				continue
			}
			pc.Pids++
			pc.Seconds += y.Seconds - x.Seconds
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
	fs     procfs.FS
	groups []procGroup

	mu          sync.Mutex
	first, last *cpuReading
	ended       bool
	err         error // the first reading that failed
	timers      []*time.Timer
}

func newCPUMeter(fs procfs.FS, groups []procGroup) *cpuMeter {
	return &cpuMeter{fs: fs, groups: groups}
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
	r, err := readCPU(m.fs, m.groups)
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
	r, err := readCPU(m.fs, m.groups)
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
	return cpuDelta(m.groups, *m.first, *m.last)
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
