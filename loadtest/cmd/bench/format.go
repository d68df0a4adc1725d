package main

import (
	"math"
	"strconv"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtMicros shows µs with three significant digits, thousands grouped; "–"
// when there were no units to divide by.
func fmtMicros(v float64, units int64) string {
	switch {
	case units <= 0:
		return "– µs"
	case math.Abs(v) >= 100:
		return fmtInt(v) + " µs"
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " µs"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " µs"
}

// thousands prints integers with their digits grouped in threes by commas.
var thousands = message.NewPrinter(language.English)

// fmtInt rounds v and groups its digits by thousands: 12345.6 → "12,346".
func fmtInt(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return thousands.Sprintf("%d", int64(math.Round(v)))
}

// fmtPct shows a ratio as a percentage with one decimal: 0.6 → "60.0%".
func fmtPct(r float64) string { return strconv.FormatFloat(r*100, 'f', 1, 64) + "%" }

// fmtMS shows milliseconds with three significant digits at most.
func fmtMS(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
}

// fmtSeconds shows seconds with two decimals at most: 12.3456 → "12.35 s".
func fmtSeconds(s float64) string {
	return strconv.FormatFloat(math.Round(s*100)/100, 'f', -1, 64) + " s"
}

func itoa(n int) string { return strconv.Itoa(n) }
