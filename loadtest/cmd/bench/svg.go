package main

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// series is one line of a chart.
type series struct {
	Name  string
	Color string
	Y     []float64
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH                       = 640, 230
	padLeft, padRight, padTop, padBottom = 64, 24, 44, 36
)

// textStyle are the attributes of the charts' small text.
const textStyle = `font-family="sans-serif" font-size="11" fill="#555"`

// lineChart draws the series over x as an inline SVG line chart with an x
// axis from 0 to xMax seconds, a y axis from 0 to a round maximum, a legend
// and the title. Points whose y is NaN are skipped. Styles are attributes,
// so the SVG stands alone.
func lineChart(title, unit string, x []float64, xMax float64, ss []series) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="16" font-family="sans-serif" font-size="12" font-weight="600" fill="#222">%s</text>`,
		padLeft, html.EscapeString(title))
	top := 0.0
	for _, s := range ss {
		for _, v := range s.Y {
			if !math.IsNaN(v) {
				top = max(top, v)
			}
		}
	}
	top = niceCeil(top)
	xMin := 0.0
	if xMax <= xMin {
		xMax = 1
	}
	plotW, plotH := float64(chartW-padLeft-padRight), float64(chartH-padTop-padBottom)
	px := func(v float64) float64 { return float64(padLeft) + (v-xMin)/(xMax-xMin)*plotW }
	py := func(v float64) float64 { return float64(padTop) + plotH - v/top*plotH }

	// Grid and y labels: five lines from 0 to top.
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		y := py(v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`, padLeft, y, chartW-padRight, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" %s text-anchor="end">%s</text>`, padLeft-6, y+4, textStyle, html.EscapeString(axisLabel(v, unit)))
	}
	// X labels: at most ten, in seconds.
	step := max(1, int(math.Ceil((xMax-xMin)/10)))
	for v := math.Ceil(xMin); v <= xMax+1e-9; v += float64(step) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" %s text-anchor="middle">%ss</text>`, px(v), chartH-padBottom+16, textStyle,
			strconv.FormatFloat(v, 'f', -1, 64))
	}
	// Lines.
	for _, s := range ss {
		var pts []string
		for i, v := range s.Y {
			if i >= len(x) || math.IsNaN(v) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(x[i]), py(v)))
		}
		if len(pts) == 0 {
			continue
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`,
			html.EscapeString(s.Color), strings.Join(pts, " "), html.EscapeString(s.Name))
		if len(pts) == 1 {
			fmt.Fprintf(&b, `<circle r="3" fill="%s" cx="%s" cy="%s"/>`, html.EscapeString(s.Color),
				strings.Split(pts[0], ",")[0], strings.Split(pts[0], ",")[1])
		}
	}
	// Legend, under the title on the right.
	lx := chartW - padRight
	for i := len(ss) - 1; i >= 0; i-- {
		s := ss[i]
		lx -= 14 + 7*len([]rune(s.Name))
		fmt.Fprintf(&b, `<rect x="%d" y="22" width="10" height="10" fill="%s"/><text x="%d" y="31" %s>%s</text>`,
			lx, html.EscapeString(s.Color), lx+13, textStyle, html.EscapeString(s.Name))
		lx -= 10
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from escaped text and numbers only
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten (1 for v ≤ 0).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// axisLabel shows a y value: thousands as k, milliseconds with their unit.
func axisLabel(v float64, unit string) string {
	switch {
	case unit == "ms":
		return strconv.FormatFloat(v, 'g', 3, 64) + " ms"
	case v >= 1000:
		return strconv.FormatFloat(v/1000, 'g', 3, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
