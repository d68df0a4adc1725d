package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRenderTable(t *testing.T) {
	results := []result{
		{name: "api-kill", t: tally{accepted: 747, persisted: 747}, settle: 500 * time.Millisecond, settled: true,
			notes: []string{"killed api2"}},
		{name: "mysql-refuse", t: tally{accepted: 800, persisted: 790, cancelled: 4}, dead: 6, settle: 35 * time.Second,
			failures: []string{"6 of 800 accepted orders are not in MySQL (a, b, c, …)"}},
		{name: "poison", err: errors.New("create sale: 503")},
		{name: "redis-failover", skipped: "skipped: not a cluster"},
	}
	var b bytes.Buffer
	renderTable(&b, results)
	want := `scenario        202s seen  persisted  cancelled w/ reason  dead-lettered  settle  verdict
-----------------------------------------------------------------------------------------
api-kill              747        747                    0              0   500ms  ok
mysql-refuse          800        790                    4              6   > 35s  FAIL
poison                  0          0                    0              0    > 0s  ERROR
redis-failover          -          -                    -              -       -  skipped

api-kill: ok
  note  killed api2

mysql-refuse: FAIL
  FAIL  6 of 800 accepted orders are not in MySQL (a, b, c, …)

poison: ERROR
  error: create sale: 503

redis-failover: skipped
  note  skipped: not a cluster
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	if got := summary(results); got != "result: 2 of 4 scenarios failed" {
		t.Errorf("summary %q", got)
	}
	if got := summary(results[:1]); got != "result: all 1 scenarios held every check" {
		t.Errorf("summary %q", got)
	}
	if got := summary([]result{results[0], results[3]}); got != "result: all 1 scenarios run held every check (1 skipped)" {
		t.Errorf("summary %q", got)
	}
}

func TestRenderTableAligned(t *testing.T) {
	var b bytes.Buffer
	renderTable(&b, []result{{name: "broker-disconnect", t: tally{accepted: 12345}, settled: true}})
	lines := strings.Split(b.String(), "\n")
	end := func(line, s string) int { return strings.Index(line, s) + len(s) }
	if len(lines) < 3 || len(lines[1]) != len(lines[0]) || end(lines[2], "12345") != end(lines[0], "202s seen") ||
		strings.Index(lines[2], " ok") != strings.Index(lines[0], " verdict") {
		t.Errorf("columns not aligned:\n%s", b.String())
	}
}

// TestParseMetrics: a series is summed over its labels; comments, help
// and malformed lines are skipped.
func TestParseMetrics(t *testing.T) {
	raw := []byte(`# HELP seckill_soldout_flag_answers_total x
# TYPE seckill_soldout_flag_answers_total counter
seckill_soldout_flag_answers_total 300
seckill_stock_reserve_duration_seconds_count{backend="redis"} 12
seckill_stock_reserve_duration_seconds_count{backend="memcache"} 3
seckill_broken{a="b"} x
`)
	got := parseMetrics(raw)
	if got[flagAnswersSeries] != 300 || got[reserveCallSeries] != 15 || len(got) != 2 {
		t.Fatalf("parsed %v", got)
	}
}
