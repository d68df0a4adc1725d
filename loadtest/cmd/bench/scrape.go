package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricRef names one number of a /metrics page: a metric family, the
// labels of one of its series (exactly these, none for a series without
// labels), and for a histogram or a summary whether it is the sample count.
type metricRef struct {
	Family string
	Labels map[string]string
	Count  bool // a histogram's or a summary's sample count, the _count line of the text format
	Sum    bool // a histogram's or a summary's sample sum, the _sum line
}

// The numbers the bench reads from the binaries' /metrics.
var (
	refGoroutines = metricRef{Family: "go_goroutines"}
	refInserted   = metricRef{Family: "seckill_worker_orders_total", Labels: map[string]string{"outcome": "inserted"}}
	refConfirms   = metricRef{Family: "seckill_publish_confirm_duration_seconds", Count: true}
)

// apiFlowRefs are the api's figures of the contended phase's publishes and
// reservations, read before and after it (endToEnd.setAPIFlow), in this
// order.
var apiFlowRefs = []metricRef{
	refConfirms,
	{Family: "seckill_publish_confirm_duration_seconds", Sum: true},
	{Family: "seckill_stock_reserve_batch_size", Count: true},
	{Family: "seckill_stock_reserve_batch_size", Sum: true},
	{Family: "seckill_stock_reserve_duration_seconds", Labels: map[string]string{"backend": "redis"}, Count: true},
	{Family: "seckill_stock_reserve_duration_seconds", Labels: map[string]string{"backend": "redis"}, Sum: true},
	{Family: "seckill_http_request_duration_seconds", Labels: purchaseRoute, Count: true},
	{Family: "seckill_http_request_duration_seconds", Labels: purchaseRoute, Sum: true},
}

// purchaseRoute labels the api's series of its purchase route.
var purchaseRoute = map[string]string{"route": "/api/v1/sales/:sale_id/orders", "method": "POST"}

// String names the series as the text format prints it, e.g.
// seckill_worker_orders_total{outcome="inserted"}.
func (r metricRef) String() string {
	name := r.Family
	switch {
	case r.Count:
		name += "_count"
	case r.Sum:
		name += "_sum"
	}
	if len(r.Labels) == 0 {
		return name
	}
	var pairs []string
	for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
		pairs = append(pairs, fmt.Sprintf("%s=%q", k, r.Labels[k]))
	}
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// metrics is a /metrics page, by metric family.
type metrics map[string]*dto.MetricFamily

// parseMetrics reads a page in the Prometheus text format.
func parseMetrics(r io.Reader) (metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}

// value is the number ref names; false when the page does not have it.
func (ms metrics) value(ref metricRef) (float64, bool) {
	mf, ok := ms[ref.Family]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, ref.Labels) {
			continue
		}
		switch t := mf.GetType(); {
		case ref.Count && (t == dto.MetricType_HISTOGRAM || t == dto.MetricType_GAUGE_HISTOGRAM):
			return float64(m.GetHistogram().GetSampleCount()), true
		case ref.Count && t == dto.MetricType_SUMMARY:
			return float64(m.GetSummary().GetSampleCount()), true
		case ref.Sum && (t == dto.MetricType_HISTOGRAM || t == dto.MetricType_GAUGE_HISTOGRAM):
			return m.GetHistogram().GetSampleSum(), true
		case ref.Sum && t == dto.MetricType_SUMMARY:
			return m.GetSummary().GetSampleSum(), true
		case ref.Count, ref.Sum:
		case t == dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case t == dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case t == dto.MetricType_UNTYPED:
			return m.GetUntyped().GetValue(), true
		}
		return 0, false
	}
	return 0, false
}

// hasLabels reports whether m's labels are exactly want.
func hasLabels(m *dto.Metric, want map[string]string) bool {
	if len(m.GetLabel()) != len(want) {
		return false
	}
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
			return false
		}
	}
	return true
}

// scrape reads a /metrics page.
func scrape(ctx context.Context, c *http.Client, url string) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d", url, res.StatusCode)
	}
	ms, err := parseMetrics(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return ms, nil
}

// apiCounters reads each of refs from every api's /metrics and sums it
// over the apis; a ref a page does not have reads as 0.
func (b *bench) apiCounters(ctx context.Context, refs []metricRef) ([]float64, error) {
	sums := make([]float64, len(refs))
	for _, w := range b.apiWatch {
		ms, err := scrape(ctx, b.ops, w.metrics)
		if err != nil {
			return nil, err
		}
		for i, ref := range refs {
			v, _ := ms.value(ref)
			sums[i] += v
		}
	}
	return sums, nil
}
