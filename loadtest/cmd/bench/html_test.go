package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"
)

// wellFormed parses s as XML to its end.
func wellFormed(tb testing.TB, s string) {
	tb.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			tb.Fatalf("not well-formed: %v\n%s", err, s)
		}
	}
}

// renderChart draws c as the page does.
func renderChart(tb testing.TB, c chart) string {
	tb.Helper()
	var b strings.Builder
	if err := pageTemplates.ExecuteTemplate(&b, "chart", c); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

func TestLineChart(t *testing.T) {
	x := []float64{0.5, 1.5, 2.5}
	svg := renderChart(t, lineChart(`p50 & p99 <ms>`, "ms", x, 3, []series{
		{Name: "p50", Color: colorP50, Y: []float64{1, 2, math.NaN()}},
		{Name: "p99", Color: colorP99, Y: []float64{4, 8, 9.5}},
	}))
	wellFormed(t, svg)
	if !strings.Contains(svg, "p50 &amp; p99 &lt;ms&gt;") {
		t.Error("title not escaped")
	}
	lines := regexp.MustCompile(`points="([^"]*)"`).FindAllStringSubmatch(svg, -1)
	if len(lines) != 2 {
		t.Fatalf("%d polylines, want 2", len(lines))
	}
	if n := len(strings.Fields(lines[0][1])); n != 2 {
		t.Errorf("p50 line has %d points, want 2 (NaN skipped)", n)
	}
	if n := len(strings.Fields(lines[1][1])); n != 3 {
		t.Errorf("p99 line has %d points, want 3", n)
	}
	// The axis tops at the round value above the maximum, 9.5 → 10.
	if !strings.Contains(svg, ">10 ms</text>") {
		t.Error("y axis does not top at 10 ms")
	}
	// A series of one point gets a dot as well.
	one := renderChart(t, lineChart("one", "", x, 3, []series{{Name: "p99", Color: colorP99, Y: []float64{math.NaN(), 8}}}))
	wellFormed(t, one)
	if !strings.Contains(one, `<circle r="3" fill="#d62728" cx="340.0" cy="`) {
		t.Errorf("one point, no dot at its place:\n%s", one)
	}
	// Names and colors are text and attribute values, never markup.
	hostile := renderChart(t, lineChart("t", "", x, 3, []series{
		{Name: `</title><script>alert(1)</script>`, Color: `red" onload="alert(1)`, Y: []float64{1, 2, 3}},
	}))
	wellFormed(t, hostile)
	if strings.Contains(hostile, "<script") || strings.Contains(hostile, `" onload=`) {
		t.Errorf("a series name or color escaped its place:\n%s", hostile)
	}
	// Nothing to draw is still a chart.
	wellFormed(t, renderChart(t, lineChart("empty", "", nil, 0, nil)))
}

func TestNiceCeil(t *testing.T) {
	tests := map[float64]float64{0: 1, -3: 1, 0.7: 1, 1: 1, 1.2: 2, 2.2: 2.5, 3: 5, 9.5: 10, 12000: 20000, 25000: 25000, 26000: 50000}
	for v, want := range tests {
		if got := niceCeil(v); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceCeil(%g) = %g, want %g", v, got, want)
		}
	}
}

func TestHTMLPageIsSelfContained(t *testing.T) {
	r := sampleReport()
	r.Phases[0].Timeline = []second{{T: 0, Width: 1, RPS: 20000, P50MS: 2, P99MS: 9}, {T: 1, Width: 1, RPS: 21000, P50MS: 2, P99MS: 8}}
	r.Phases[1].Timeline = []second{{T: 0, Width: 1, RPS: 0}}
	one := 4000.0
	r.EndToEnd.Timeline = []flowPoint{{T: 0, Width: 1, AcceptedPerS: 5000, PersistPerS: &one}, {T: 1, Width: 0.5, AcceptedPerS: 100}}
	r.Ceilings[0].Timeline = []second{{T: 0, Width: 1, RPS: 600, P50MS: 5, P99MS: 12}}
	var b bytes.Buffer
	if err := r.writeHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"http://", "https://", "<script src", "<link "} {
		if strings.Contains(strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("page refers to something outside itself: %q", bad)
		}
	}
	// Two charts per phase and per ceiling run, one end to end.
	if n := strings.Count(page, "<svg "); n != 2*3+1+2*2 {
		t.Errorf("%d charts, want %d", n, 2*3+1+2*2)
	}
	for _, want := range []string{"AMD EPYC · nproc 2", "95.0%", "not met", "orders persisted/s ÷ ceiling",
		"last 202 → last row in MySQL</td><td class=\"n\">0.25 s", "<h2>Worker alone</h2>",
		"worker-alone persisted/s ÷ ceiling</b></td><td class=\"n\"><b>80.0%", "persistence stage alone",
		"Ratios are to the mean of the hello-world phases"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, svg := range regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAllString(page, -1) {
		wellFormed(t, svg)
	}
}
