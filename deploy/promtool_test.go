package deploy

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPromtool runs Prometheus's own checks on the checked-in files: the
// configuration (its syntax: the admin token file it names exists only
// where Prometheus runs; TestDashboard runs it with one), the rule files
// and the rules' unit tests (every alert, firing and not firing).
func TestPromtool(t *testing.T) {
	promtool := requireTool(t, "promtool")
	rules := filepath.Join("prometheus", "rules")
	tests, err := filepath.Glob(filepath.Join(rules, "*_test.yml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule unit tests in %s: %v", rules, err)
	}
	for _, args := range [][]string{
		{"check", "config", "--syntax-only", filepath.Join("prometheus", "prometheus.yml")},
		{"check", "rules", filepath.Join(rules, "recording.yml"), filepath.Join(rules, "alerts.yml")},
		append([]string{"test", "rules"}, tests...),
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Errorf("promtool %s: %v", strings.Join(args, " "), err)
		}
	}
}
