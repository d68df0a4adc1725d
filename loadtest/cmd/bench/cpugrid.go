package main

import (
	"fmt"
	"slices"
	"strconv"
)

// cpuNote explains the CPU tables.
const cpuNote = "CPU time (utime + stime of /proc/<pid>/stat) over each measured window: cores used on average " +
	"(CPU seconds ÷ window seconds) · CPU µs per %s complete in the window. Machine busy: all CPUs' time " +
	"neither idle nor in iowait (/proc/stat); unaccounted: machine busy minus the processes listed " +
	"(kernel threads, softirq work charged to no listed process, every other process). A process's time is " +
	"its exact run time, the machine's is sampled at each clock tick: the two can differ by a few percent, " +
	"and unaccounted can come out slightly negative."

// cpuGrid is a table of CPU use: a column per measured window, a row per
// process, then the machine's busy time and what the processes leave
// unaccounted.
type cpuGrid struct {
	Title   string // the corner cell, e.g. "CPU per reply"
	Note    string
	Columns []string
	Rows    []cpuRow
}

// cpuRow is one line of a cpuGrid.
type cpuRow struct {
	Label string
	Cells []string
}

// cpuLabels describe the processes of the CPU tables.
var cpuLabels = map[string]string{
	"bench":        "bench (load generator)",
	"hello":        "hello-world server",
	"redis-server": "redis-server (Redis)",
	"beam.smp":     "beam.smp (RabbitMQ)",
	"mariadbd":     "mariadbd (MariaDB)",
	"mysqld":       "mysqld (MySQL)",
}

func cpuLabel(name string) string {
	if l, ok := cpuLabels[name]; ok {
		return l
	}
	return name
}

// phaseCPUGrid is the phases' CPU per reply; false when none was measured.
func (r *report) phaseCPUGrid() (cpuGrid, bool) {
	var cols []string
	var us []*cpuUsage
	for _, ph := range r.Phases {
		cols, us = append(cols, ph.Name), append(us, ph.CPU)
	}
	return cpuGridOf("CPU per reply", "reply", cols, us)
}

// ceilingCPUGrid is the raw publish runs' CPU per order; false when none
// was measured.
func (r *report) ceilingCPUGrid() (cpuGrid, bool) {
	var cols []string
	var us []*cpuUsage
	for _, c := range r.Ceilings {
		cols = append(cols, fmt.Sprintf("raw publish, %d order(s)/message × %d in flight", c.Batch, c.InFlight))
		us = append(us, c.CPU)
	}
	return cpuGridOf("CPU per order", "order", cols, us)
}

// drainCPUGrid is the worker-alone drain's CPU per order; false when it
// was not measured.
func (r *report) drainCPUGrid() (cpuGrid, bool) {
	if r.Drain == nil {
		return cpuGrid{}, false
	}
	return cpuGridOf("CPU per order", "order", []string{"worker alone, worker start → last row"}, []*cpuUsage{r.Drain.CPU})
}

// cpuGridOf lays out the usages, one column each (nil: not measured), with
// the processes of any of them as rows in their first order.
func cpuGridOf(title, per string, cols []string, us []*cpuUsage) (cpuGrid, bool) {
	note := fmt.Sprintf(cpuNote, per)
	if per != "reply" { // the phases' table comes first and explains them all
		note = "The same CPU accounting, per " + per + " complete in the window."
	}
	g := cpuGrid{Title: title, Note: note, Columns: cols}
	var names []string
	cpus, measured := 0, false
	for _, u := range us {
		if u == nil {
			continue
		}
		measured = true
		cpus = max(cpus, u.CPUs)
		for _, s := range u.Processes {
			if !slices.Contains(names, s.Process) {
				names = append(names, s.Process)
			}
		}
	}
	if !measured {
		return g, false
	}
	for _, name := range names {
		row := cpuRow{Label: cpuLabel(name)}
		if n := maxPids(us, name); n > 1 {
			row.Label += fmt.Sprintf(", %d processes summed", n)
		}
		for _, u := range us {
			row.Cells = append(row.Cells, processCell(u, name))
		}
		g.Rows = append(g.Rows, row)
	}
	busy := cpuRow{Label: fmt.Sprintf("machine busy (share of %d cores)", cpus)}
	rest := cpuRow{Label: "unaccounted (kernel softirq, other processes)"}
	for _, u := range us {
		if u == nil {
			busy.Cells, rest.Cells = append(busy.Cells, "–"), append(rest.Cells, "–")
			continue
		}
		busy.Cells = append(busy.Cells, fmtPct(u.BusyFraction)+" · "+fmtMicros(u.Machine.MicrosPerUnit, u.Units))
		rest.Cells = append(rest.Cells, shareCell(u.Unaccounted, u.Units))
	}
	g.Rows = append(g.Rows, busy, rest)
	return g, true
}

// maxPids is the most processes the named group summed in any of us.
func maxPids(us []*cpuUsage, name string) int {
	n := 0
	for _, u := range us {
		if u == nil {
			continue
		}
		for _, s := range u.Processes {
			if s.Process == name {
				n = max(n, s.Pids)
			}
		}
	}
	return n
}

// processCell shows the named process's share of u, "–" when u does not
// have it.
func processCell(u *cpuUsage, name string) string {
	if u == nil {
		return "–"
	}
	for _, s := range u.Processes {
		if s.Process == name {
			return shareCell(s, u.Units)
		}
	}
	return "–"
}

// shareCell shows cores and µs per unit: "0.61 cores · 92 µs".
func shareCell(s cpuShare, units int64) string {
	return strconv.FormatFloat(s.Cores, 'f', 2, 64) + " cores · " + fmtMicros(s.MicrosPerUnit, units)
}
