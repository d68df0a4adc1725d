package main

import (
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

// chart is a line chart laid out in SVG user units for chartSVG: every
// coordinate is already the number drawn.
type chart struct {
	Title         string
	Width, Height int
	TitleX        int
	Grid          []gridLine // from the bottom up
	Ticks         []xTick
	Lines         []chartLine
	Legend        []legendEntry
}

// gridLine is a horizontal line across the plot with its y label.
type gridLine struct {
	X1, X2 int
	Y      string
	LabelX int
	LabelY string
	Label  string
}

// xTick is a label under the x axis.
type xTick struct {
	X     string
	Y     int
	Label string
}

// chartLine is one series drawn: the points of its polyline, and a dot
// when it has a single point.
type chartLine struct {
	Name   string
	Color  string
	Points string
	Dot    *chartPoint
}

type chartPoint struct{ X, Y string }

// legendEntry is a colored square and a series' name.
type legendEntry struct {
	X, TextX int
	Name     string
	Color    string
}

// chartSVG draws a chart as an inline SVG whose styles are attributes, so
// that it stands alone. html/template escapes every name and number.
const chartSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {{.Width}} {{.Height}}" width="{{.Width}}" height="{{.Height}}" role="img" aria-label="{{.Title}}">` +
	`<text x="{{.TitleX}}" y="16" font-family="sans-serif" font-size="12" font-weight="600" fill="#222">{{.Title}}</text>` +
	`{{range .Grid}}<line x1="{{.X1}}" y1="{{.Y}}" x2="{{.X2}}" y2="{{.Y}}" stroke="#e5e5e5"/>` +
	`<text x="{{.LabelX}}" y="{{.LabelY}}" ` + textStyle + ` text-anchor="end">{{.Label}}</text>{{end}}` +
	`{{range .Ticks}}<text x="{{.X}}" y="{{.Y}}" ` + textStyle + ` text-anchor="middle">{{.Label}}</text>{{end}}` +
	`{{range .Lines}}<polyline fill="none" stroke="{{.Color}}" stroke-width="2" points="{{.Points}}"><title>{{.Name}}</title></polyline>` +
	`{{if .Dot}}<circle r="3" fill="{{.Color}}" cx="{{.Dot.X}}" cy="{{.Dot.Y}}"/>{{end}}{{end}}` +
	`{{range .Legend}}<rect x="{{.X}}" y="22" width="10" height="10" fill="{{.Color}}"/>` +
	`<text x="{{.TextX}}" y="31" ` + textStyle + `>{{.Name}}</text>{{end}}` +
	`</svg>`

// lineChart lays the series out over x as a line chart with an x axis from
// 0 to xMax seconds, a y axis from 0 to a round maximum, a legend and the
// title. Points whose y is NaN are skipped.
func lineChart(title, unit string, x []float64, xMax float64, ss []series) chart {
	c := chart{Title: title, Width: chartW, Height: chartH, TitleX: padLeft}
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
		c.Grid = append(c.Grid, gridLine{X1: padLeft, X2: chartW - padRight, Y: coord(y),
			LabelX: padLeft - 6, LabelY: coord(y + 4), Label: axisLabel(v, unit)})
	}
	// X labels: at most ten, in seconds.
	step := max(1, int(math.Ceil((xMax-xMin)/10)))
	for v := math.Ceil(xMin); v <= xMax+1e-9; v += float64(step) {
		c.Ticks = append(c.Ticks, xTick{X: coord(px(v)), Y: chartH - padBottom + 16, Label: strconv.FormatFloat(v, 'f', -1, 64) + "s"})
	}
	// Lines.
	for _, s := range ss {
		var pts []string
		var first *chartPoint
		for i, v := range s.Y {
			if i >= len(x) || math.IsNaN(v) {
				continue
			}
			p := chartPoint{X: coord(px(x[i])), Y: coord(py(v))}
			if first == nil {
				first = &p
			}
			pts = append(pts, p.X+","+p.Y)
		}
		if len(pts) == 0 {
			continue
		}
		l := chartLine{Name: s.Name, Color: s.Color, Points: strings.Join(pts, " ")}
		if len(pts) == 1 {
			l.Dot = first
		}
		c.Lines = append(c.Lines, l)
	}
	// Legend, under the title on the right, the last series rightmost.
	lx := chartW - padRight
	for i := len(ss) - 1; i >= 0; i-- {
		s := ss[i]
		lx -= 14 + 7*len([]rune(s.Name))
		c.Legend = append(c.Legend, legendEntry{X: lx, TextX: lx + 13, Name: s.Name, Color: s.Color})
		lx -= 10
	}
	return c
}

// coord shows a coordinate to a tenth of a unit.
func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

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
