package main

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/procfs"
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

// readMachine describes the machine from fs (/proc) and the runtime, and
// the commit of the module at root.
func readMachine(ctx context.Context, fs procfs.FS, root string, now time.Time) machine {
	m := machine{
		CPUs:      runtime.NumCPU(),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS + "/" + runtime.GOARCH,
		Date:      now.UTC().Format(time.RFC3339),
	}
	m.CPUModel, m.LoadAvg = machineLoad(fs)
	if out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil &&
			len(strings.TrimSpace(string(st))) > 0 {
			m.Commit += "+dirty"
		}
	}
	return m
}

// machineLoad reads the first CPU's model name ("unknown" when there is
// none) and the 1, 5 and 15 minute load averages ("" when unreadable) from
// fs.
func machineLoad(fs procfs.FS) (model, loadAvg string) {
	model = "unknown"
	if cpus, err := fs.CPUInfo(); err == nil && len(cpus) > 0 && strings.TrimSpace(cpus[0].ModelName) != "" {
		model = strings.TrimSpace(cpus[0].ModelName)
	}
	if l, err := fs.LoadAvg(); err == nil {
		loadAvg = fmt.Sprintf("%.2f %.2f %.2f", l.Load1, l.Load5, l.Load15)
	}
	return model, loadAvg
}
