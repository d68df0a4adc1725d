package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// machine is where and when a run happened, and what it measured.
type machine struct {
	CPUs      int    `json:"nproc"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Date      string `json:"date"`
	LoadAvg   string `json:"loadavg_at_start"` // 1, 5 and 15 minute load averages
	Commit    string `json:"commit"`           // of the measured tree; "+dirty" when it had changes
}

func (m machine) String() string {
	s := m.Date + " · " + m.CPUModel + " · nproc " + itoa(m.CPUs) + " · " + m.GoVersion + " · " + m.OS
	if m.LoadAvg != "" {
		s += " · load average at start " + m.LoadAvg
	}
	if m.Commit != "" {
		s += " · commit " + m.Commit
	}
	return s
}

func readMachine(ctx context.Context, root string, now time.Time) machine {
	m := machine{
		CPUs:      runtime.NumCPU(),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS + "/" + runtime.GOARCH,
		Date:      now.UTC().Format(time.RFC3339),
		CPUModel:  "unknown",
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if v := cpuModel(string(b)); v != "" {
			m.CPUModel = v
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil &&
			len(strings.TrimSpace(string(st))) > 0 {
			m.Commit += "+dirty"
		}
	}
	return m
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo string) string {
	for line := range strings.Lines(cpuinfo) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
