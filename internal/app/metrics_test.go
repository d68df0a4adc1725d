package app_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/app"
	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/testenv"
)

// requireTool returns the path of a command-line tool, skipping (or, with
// SECKILL_REQUIRE_SERVICES=1, failing) when it is not installed.
func requireTool(tb testing.TB, name string) string {
	tb.Helper()
	return testenv.Command(tb, name, "Debian's prometheus package; make services installs it")
}

// TestMetricsLint scrapes the api's and the worker's /metrics after a small
// sale (accepted, sold out, already purchased, persisted) and runs
// `promtool check metrics` on each scrape: names, units, suffixes and help
// texts must pass Prometheus's own linter.
func TestMetricsLint(t *testing.T) {
	promtool := requireTool(t, "promtool")
	for _, kind := range []string{"redis", "embedded"} {
		t.Run(kind, func(t *testing.T) {
			s := newSystem(t, kind)
			targets := map[string]string{"api": s.admin.URL + "/metrics"}
			if kind == "embedded" {
				s.startWorker()
			} else {
				targets["worker"] = "http://" + startAdminWorker(t, s) + "/metrics"
			}
			sale := s.createSale(t, 2, 0)
			for user := int64(1); user <= 4; user++ {
				s.buy(t, sale, s.token(t, user))
			}
			s.buy(t, sale, s.token(t, 1))
			s.drained(t, sale)
			s.reconcile(t, sale)

			for name, url := range targets {
				body := scrape(t, url)
				if !bytes.Contains(body, []byte("seckill_")) {
					t.Fatalf("%s scrape has no seckill_ metric:\n%s", name, body)
				}
				cmd := exec.Command(promtool, "check", "metrics")
				cmd.Stdin = bytes.NewReader(body)
				out, err := cmd.CombinedOutput()
				t.Logf("promtool check metrics (%s, %s, %d bytes): %s", kind, name, len(body), strings.TrimSpace(string(out)))
				if err != nil {
					t.Errorf("promtool check metrics on the %s scrape: %v\n%s", name, err, out)
				}
			}
		})
	}
}

// startAdminWorker runs a worker on the system's queues and database and
// returns its admin address; it stops before the system is torn down.
func startAdminWorker(tb testing.TB, s *system) string {
	tb.Helper()
	w, err := app.NewWorker(context.Background(), config.Worker{
		AMQPURL: amqpURL, MySQLDSN: s.dsn, AdminAddr: "127.0.0.1:0",
		BatchSize: 64, BatchWait: 10 * time.Millisecond, Prefetch: 128, ShutdownTimeout: 10 * time.Second,
	}, testLog(tb), app.Overrides{Topology: &s.topology})
	if err != nil {
		tb.Fatalf("NewWorker: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			tb.Errorf("worker stop: %v", err)
		}
	})
	return w.Admin.Addr
}

func scrape(tb testing.TB, url string) []byte {
	tb.Helper()
	res, err := client.Get(url)
	if err != nil {
		tb.Fatalf("scrape %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		tb.Fatalf("scrape %s: %d %v", url, res.StatusCode, err)
	}
	return body
}
