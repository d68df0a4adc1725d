package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// result is one scenario's line of the table and its reasons.
type result struct {
	name     string
	t        tally
	dead     int
	settle   time.Duration
	settled  bool
	failures []string
	notes    []string // what the fault did, for the reader
	err      error    // the scenario could not run to the end
	skipped  string   // why the scenario did not run on these servers
}

func (r result) passed() bool { return r.err == nil && len(r.failures) == 0 }

func (r result) verdict() string {
	switch {
	case r.skipped != "":
		return "skipped"
	case r.err != nil:
		return "ERROR"
	case len(r.failures) > 0:
		return "FAIL"
	}
	return "ok"
}

func (r result) settleText() string {
	if !r.settled {
		return "> " + r.settle.Round(time.Second).String()
	}
	return r.settle.Round(100 * time.Millisecond).String()
}

var tableHeader = []string{"scenario", "202s seen", "persisted", "cancelled w/ reason", "dead-lettered", "settle", "verdict"}

// renderTable writes the results as an aligned table, then the reasons of
// every failed check and the notes of every scenario.
func renderTable(w io.Writer, results []result) {
	rows := [][]string{tableHeader}
	for _, r := range results {
		if r.skipped != "" {
			rows = append(rows, []string{r.name, "-", "-", "-", "-", "-", r.verdict()})
			continue
		}
		rows = append(rows, []string{
			r.name, strconv.Itoa(r.t.accepted), strconv.Itoa(r.t.persisted), strconv.Itoa(r.t.cancelled),
			strconv.Itoa(r.dead), r.settleText(), r.verdict(),
		})
	}
	widths := make([]int, len(tableHeader))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for i, row := range rows {
		var b strings.Builder
		for j, c := range row {
			pad := widths[j] - len([]rune(c))
			if j > 0 && j < len(row)-1 { // numbers right-aligned
				b.WriteString(strings.Repeat(" ", pad) + c)
			} else {
				b.WriteString(c + strings.Repeat(" ", pad))
			}
			if j < len(row)-1 {
				b.WriteString("  ")
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		if i == 0 {
			total := len(widths)*2 - 2
			for _, wd := range widths {
				total += wd
			}
			fmt.Fprintln(w, strings.Repeat("-", total))
		}
	}
	for _, r := range results {
		if r.passed() && len(r.notes) == 0 && r.skipped == "" {
			continue
		}
		fmt.Fprintf(w, "\n%s: %s\n", r.name, r.verdict())
		if r.skipped != "" {
			fmt.Fprintf(w, "  note  %s\n", r.skipped)
		}
		if r.err != nil {
			fmt.Fprintf(w, "  error: %v\n", r.err)
		}
		for _, f := range r.failures {
			fmt.Fprintf(w, "  FAIL  %s\n", f)
		}
		for _, n := range r.notes {
			fmt.Fprintf(w, "  note  %s\n", n)
		}
	}
}

// summary is the last line: how many scenarios failed.
func summary(results []result) string {
	failed, skipped := 0, 0
	for _, r := range results {
		switch {
		case !r.passed():
			failed++
		case r.skipped != "":
			skipped++
		}
	}
	if failed == 0 && skipped > 0 {
		return fmt.Sprintf("result: all %d scenarios run held every check (%d skipped)", len(results)-skipped, skipped)
	}
	if failed == 0 {
		return fmt.Sprintf("result: all %d scenarios held every check", len(results))
	}
	return fmt.Sprintf("result: %d of %d scenarios failed", failed, len(results))
}
