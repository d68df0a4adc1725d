package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// metricValue finds series (a metric name with its labels exactly as the
// Prometheus text format prints them, e.g. `go_goroutines` or
// `seckill_worker_orders_total{outcome="inserted"}`) in a scrape and
// returns its value.
func metricValue(scrape, series string) (float64, bool) {
	for line := range strings.Lines(scrape) {
		rest, ok := strings.CutPrefix(line, series)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, false
		}
		return v, true
	}
	return 0, false
}

// scrape reads a /metrics page.
func scrape(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d", url, res.StatusCode)
	}
	return string(b), nil
}

// Series the bench reads from the binaries' /metrics.
const (
	seriesGoroutines = "go_goroutines"
	seriesInserted   = `seckill_worker_orders_total{outcome="inserted"}`
	seriesConfirms   = "seckill_publish_confirm_duration_seconds_count"
)

// apiCounter reads one series from every api's /metrics and sums it.
func (b *bench) apiCounter(ctx context.Context, series string) (float64, error) {
	var sum float64
	for _, w := range b.apiWatch {
		s, err := scrape(ctx, b.ops, w.metrics)
		if err != nil {
			return 0, err
		}
		v, ok := metricValue(s, series)
		if !ok {
			return 0, fmt.Errorf("%s has no %s", w.metrics, series)
		}
		sum += v
	}
	return sum, nil
}
