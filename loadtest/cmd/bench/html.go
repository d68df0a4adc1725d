package main

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
)

// Colors of the charts' lines.
const (
	colorRPS   = "#1f77b4"
	colorP50   = "#2ca02c"
	colorP99   = "#d62728"
	colorFlow  = "#9467bd"
	colorError = "#ff7f0e"
)

// chartBlock is one titled pair of charts on the page.
type chartBlock struct {
	Title  string
	Note   string
	Charts []chart
}

// charts builds the page's charts: throughput and latency per second for
// every phase and ceiling run, accepted and persisted per second end to end.
func (r *report) charts() []chartBlock {
	var out []chartBlock
	for _, ph := range r.Phases {
		x, xMax, rps, p50, p99, errs := timelineSeries(ph.Timeline)
		tput := []series{{Name: "req/s", Color: colorRPS, Y: rps}}
		if hasNonZero(errs) {
			tput = append(tput, series{Name: "errors/s", Color: colorError, Y: errs})
		}
		out = append(out, chartBlock{
			Title: ph.Name,
			Note:  fmt.Sprintf("%s → %s; %s req/s, %s of hello-world; p50 %s, p99 %s", ph.Target, ph.Expect, fmtInt(ph.RPS), fmtPct(ph.Ratio), fmtMS(ph.Latency.P50), fmtMS(ph.Latency.P99)),
			Charts: []chart{
				lineChart(ph.Name+": throughput per second", "", x, xMax, tput),
				lineChart(ph.Name+": latency per second", "ms", x, xMax, []series{
					{Name: "p50", Color: colorP50, Y: p50}, {Name: "p99", Color: colorP99, Y: p99},
				}),
			},
		})
	}
	if e := r.EndToEnd; e != nil && len(e.Timeline) > 0 {
		x := make([]float64, len(e.Timeline))
		acc := make([]float64, len(e.Timeline))
		per := make([]float64, len(e.Timeline))
		xMax := 0.0
		for i, f := range e.Timeline {
			x[i], acc[i], per[i] = f.T+f.Width/2, f.AcceptedPerS, math.NaN()
			if f.PersistPerS != nil {
				per[i] = *f.PersistPerS
			}
			xMax = f.T + f.Width
		}
		note := fmt.Sprintf("contended sale from its first request: %s orders persisted/s", fmtInt(e.PersistedPerSec))
		if e.CeilingPerSec > 0 {
			note += fmt.Sprintf(" (%s of the raw ceiling at %d order(s)/message)", fmtPct(e.Ratio), e.CeilingBatch)
		}
		out = append(out, chartBlock{
			Title: "end to end",
			Note:  note,
			Charts: []chart{lineChart("orders per second since the first request", "", x, xMax, []series{
				{Name: "accepted (202)", Color: colorRPS, Y: acc}, {Name: "persisted (worker inserts)", Color: colorFlow, Y: per},
			})},
		})
	}
	for _, c := range r.Ceilings {
		x, xMax, rps, p50, p99, _ := timelineSeries(c.Timeline)
		name := fmt.Sprintf("raw confirmed publish, %d order(s)/message × %d in flight", c.Batch, c.InFlight)
		out = append(out, chartBlock{
			Title: name,
			Note:  fmt.Sprintf("%s msg/s = %s orders/s; confirm p50 %s, p99 %s", fmtInt(c.MessagesPerS), fmtInt(c.OrdersPerS), fmtMS(c.ConfirmP50MS), fmtMS(c.ConfirmP99MS)),
			Charts: []chart{
				lineChart("confirmed messages per second", "", x, xMax, []series{{Name: "msg/s", Color: colorRPS, Y: rps}}),
				lineChart("publish → confirm latency per second", "ms", x, xMax, []series{
					{Name: "p50", Color: colorP50, Y: p50}, {Name: "p99", Color: colorP99, Y: p99},
				}),
			},
		})
	}
	return out
}

// timelineSeries splits a timeline into x (the middle of each second), the
// end of the last second, and its series. A second without a reply has no
// latency (NaN).
func timelineSeries(tl []second) (x []float64, xMax float64, rps, p50, p99, errs []float64) {
	for _, s := range tl {
		x = append(x, s.T+s.Width/2)
		xMax = s.T + s.Width
		rps = append(rps, s.RPS)
		errs = append(errs, float64(s.Errors))
		if s.RPS == 0 {
			p50, p99 = append(p50, math.NaN()), append(p99, math.NaN())
			continue
		}
		p50, p99 = append(p50, s.P50MS), append(p99, s.P99MS)
	}
	return x, xMax, rps, p50, p99, errs
}

func hasNonZero(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return true
		}
	}
	return false
}

// pageTemplates render the report as a page ("page"), its charts with
// chartSVG ("chart").
var pageTemplates = template.Must(template.Must(template.New("page").Funcs(template.FuncMap{
	"int": fmtInt, "pct": fmtPct, "ms": fmtMS, "secs": fmtSeconds, "lag": fmtLag,
	"i64": func(n int64) string { return fmtInt(float64(n)) },
	"f1":  func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"mb":  func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + " MB" },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>seckill benchmark {{.R.Machine.Date}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1340px}
table{border-collapse:collapse;margin:10px 0 18px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
.met{color:#1a7f37}.miss{color:#b42318;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:12px}svg{background:#fff;border:1px solid #e3e3e3}
.note{color:#555}
</style></head><body>
<h1>seckill benchmark</h1>
<p>{{.R.Machine}}</p>
<p>Setup: {{.R.Setup}} ({{.R.Setup.Redis.Shown}}).</p>
<p>Closed loop: {{.R.Settings.Connections}} connections, each with its own keep-alive connection sending back to back;
{{secs .R.Settings.WarmupSeconds}} warm-up + {{secs .R.Settings.DurationSeconds}} measured per phase.
api: SECKILL_PUBLISH_BATCH={{.R.Settings.PublishBatch}}, SECKILL_PUBLISH_INFLIGHT={{.R.Settings.PublishInFlight}},
SECKILL_PUBLISH_MAX_INFLIGHT={{.R.Settings.PublishMaxInFlight}};
worker: batch {{.R.Settings.WorkerBatch}}, prefetch {{.R.Settings.WorkerPrefetch}}.</p>

<h2>Throughput and latency</h2>
{{if gt .R.BaselineRPS 0.0}}<p class="note">Ratios are to the mean of the hello-world phases run before and after the purchase phases: {{int .R.BaselineRPS}} req/s.</p>
{{end}}<table><tr><th>phase</th><th>target → expected</th><th>req/s</th><th>ratio to hello-world</th><th>p50</th><th>p99</th><th>errors</th></tr>
{{range .R.Phases}}<tr><td>{{.Name}}</td><td>{{.Target}} → {{.Expect}}</td><td class="n">{{int .RPS}}</td><td class="n">{{pct .Ratio}}</td><td class="n">{{ms .Latency.P50}}</td><td class="n">{{ms .Latency.P99}}</td><td class="n">{{.Errors}}</td></tr>
{{end}}</table>

{{if .CPU}}<h2>CPU</h2>
{{range .CPU}}<p class="note">{{.Note}}</p>
<table><tr><th>{{.Title}}</th>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Label}}</td>{{range .Cells}}<td class="n">{{.}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{with .R.Bound}}<p><b>Bound on this machine.</b> A hello-world reply costs the whole machine {{printf "%.1f" .HelloMachineMicros}} µs; a contended order costs Redis, RabbitMQ, MariaDB and the worker alone {{printf "%.1f" .ServersMicros}} µs. Even with the api and the load generator free, contended purchases could reach at most {{pct .Ratio}} of hello-world here.</p>
{{end}}{{end}}
{{with .R.EndToEnd}}<h2>End to end</h2>
<table><tr><th>contended sale</th><th>value</th></tr>
<tr><td>orders accepted (202, warm-up included)</td><td class="n">{{i64 .Accepted}}</td></tr>
<tr><td>first request → last row in MySQL</td><td class="n">{{secs .LastRowSeconds}}</td></tr>
<tr><td>last 202 → last row in MySQL</td><td class="n">{{lag .}}</td></tr>
<tr><td><b>orders persisted/s</b></td><td class="n"><b>{{int .PersistedPerSec}}</b></td></tr>
<tr><td>api orders per confirmed message</td><td class="n">{{f1 .OrdersPerMessage}} ({{i64 .Messages}} messages)</td></tr>
{{range $.R.Ceilings}}<tr><td>raw confirmed-publish ceiling, {{.Batch}} order(s)/message × {{.InFlight}} in flight{{if .ComparedToAPI}} <b>(compared)</b>{{end}}</td><td class="n">{{int .OrdersPerS}} orders/s ({{int .MessagesPerS}} msg/s, {{.MessageBytes}} B/msg)</td></tr>
{{end}}{{if .CeilingPerSec}}<tr><td><b>orders persisted/s ÷ ceiling</b></td><td class="n"><b>{{pct .Ratio}}</b></td></tr>{{end}}
</table>{{end}}
{{with .R.Drain}}<h2>Worker alone</h2>
<p class="note">Orders of a fresh sale queued while the worker was stopped, then persisted by the worker alone:
the persistence stage without the HTTP stage in front of it. Times from the worker's start.</p>
<table><tr><th>worker alone (pre-filled queue)</th><th>value</th></tr>
<tr><td>orders queued while the worker was stopped ({{.Batch}} order(s)/message × {{.InFlight}} in flight, as the compared ceiling)</td><td class="n">{{i64 .Orders}} ({{i64 .Messages}} messages, confirmed in {{secs .PublishSeconds}})</td></tr>
{{if .Complete}}<tr><td>worker start → first row</td><td class="n">{{secs .FirstRowSeconds}} ({{i64 .FirstRows}} rows)</td></tr>
<tr><td>worker start → last row</td><td class="n">{{secs .LastRowSeconds}} ({{int .StartToLastPerSec}} orders/s)</td></tr>
<tr><td>first row → last row</td><td class="n">{{secs .SpanSeconds}}</td></tr>
<tr><td><b>orders persisted/s (first row → last row)</b></td><td class="n"><b>{{int .PersistedPerSec}}</b></td></tr>
<tr><td>raw confirmed-publish ceiling (compared)</td><td class="n">{{int .CeilingPerSec}} orders/s</td></tr>
<tr><td><b>worker-alone persisted/s ÷ ceiling</b></td><td class="n"><b>{{pct .Ratio}}</b></td></tr>
{{else}}<tr><td>rows in MySQL at the end of the wait (incomplete)</td><td class="n">{{i64 .Persisted}}</td></tr>
{{end}}</table>{{end}}

<h2>Targets</h2>
<table><tr><th>target</th><th>value</th><th>goal</th><th>met</th></tr>
{{range .R.Targets}}<tr><td>{{.Name}}</td><td class="n">{{.ValueText}}</td><td class="n">{{.GoalText}}</td><td class="{{if .Met}}met{{else}}miss{{end}}">{{.MetText}}</td></tr>
{{end}}</table>

<h2>Memory and goroutines</h2>
<table><tr><th>process</th><th>phase</th><th>RSS</th><th>peak RSS (VmHWM)</th><th>goroutines</th><th>peak goroutines</th></tr>
{{range .R.Phases}}{{$p := .}}{{range .Usages}}<tr><td>{{.Name}}</td><td>{{$p.Name}}</td><td class="n">{{mb .RSSMB}}</td><td class="n">{{mb .PeakRSSMB}}</td><td class="n">{{.Goroutines}}</td><td class="n">{{.PeakGoroutines}}</td></tr>
{{end}}{{end}}</table>

<h2>Invariants</h2>
<table><tr><th>check</th><th>held</th><th>detail</th></tr>
{{range .R.Invariants}}<tr><td>{{.Name}}</td><td class="{{if .OK}}met{{else}}miss{{end}}">{{if .OK}}yes{{else}}NO{{end}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>
{{range .R.Notes}}<p class="note">Note: {{.}}</p>
{{end}}
<h2>Per second</h2>
{{range .Blocks}}<h3>{{.Title}}</h3><p class="note">{{.Note}}</p><div class="charts">{{range .Charts}}{{template "chart" .}}{{end}}</div>
{{end}}</body></html>
`)).New("chart").Parse(chartSVG))

// writeHTML renders the report as a self-contained page.
func (r *report) writeHTML(w io.Writer) error {
	var grids []cpuGrid
	for _, f := range []func() (cpuGrid, bool){r.phaseCPUGrid, r.ceilingCPUGrid, r.drainCPUGrid} {
		if g, ok := f(); ok {
			grids = append(grids, g)
		}
	}
	return pageTemplates.ExecuteTemplate(w, "page", struct {
		R      *report
		CPU    []cpuGrid
		Blocks []chartBlock
	}{r, grids, r.charts()})
}
