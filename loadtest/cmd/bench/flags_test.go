package main

import (
	"bytes"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/seckill/seckill/loadtest/internal/load"
)

// TestDocumentedDefaults: every default BENCH.md states as "`-flag`
// (value)" is the one the bench runs with, so the page cannot drift from the
// program: passing the stated value changes nothing.
func TestDocumentedDefaults(t *testing.T) {
	doc, err := os.ReadFile("../../BENCH.md")
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	stated := map[string]string{}
	for _, m := range regexp.MustCompile("`-([a-z-]+)`\\s+\\(([^\\s),]+(?:,[0-9]{3})*)").FindAllStringSubmatch(string(doc), -1) {
		stated[m[1]] = strings.ReplaceAll(m[2], ",", "") // 100,000 → 100000
	}
	for _, name := range []string{"connections", "warmup", "duration", "drain-orders"} {
		if _, ok := stated[name]; !ok {
			t.Errorf("BENCH.md no longer states the default of -%s as \"`-%s` (value)\"", name, name)
		}
	}
	for name, value := range stated {
		o, err := parseFlags([]string{"-" + name, value}, &bytes.Buffer{})
		if err != nil {
			t.Errorf("BENCH.md states -%s defaults to %q, which does not parse: %v", name, value, err)
			continue
		}
		if !reflect.DeepEqual(o, defaults) {
			t.Errorf("BENCH.md states -%s defaults to %s, but the default differs", name, value)
		}
	}
	// Without -apis and -redis the bench measures one setup: one api on the
	// single Redis.
	if s := defaults.setups(); len(s) != 1 || s[0].APIs != 1 || s[0].Redis.URL != singleRedisURL || s[0].Redis.Cluster {
		t.Errorf("default setups %+v, want one api on the single Redis", s)
	}
}

func TestSetupsMatrix(t *testing.T) {
	o, err := parseFlags([]string{"-apis", "1,2", "-redis", "single, cluster"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range o.setups() {
		got = append(got, s.String()+" → "+s.Slug()+" on "+s.Redis.URL)
	}
	want := []string{
		"single Redis, 1 api → single-1api on " + singleRedisURL,
		"single Redis, 2 apis → single-2apis on " + singleRedisURL,
		"Redis Cluster, 1 api → cluster-1api on " + clusterRedisURL,
		"Redis Cluster, 2 apis → cluster-2apis on " + clusterRedisURL,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("setups:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestWorkersMatrix: -workers multiplies the setups, innermost, names the
// workers unless there is one, and gives the run 4 persist partitions
// unless -partitions says otherwise.
func TestWorkersMatrix(t *testing.T) {
	o, err := parseFlags([]string{"-apis", "1,2", "-workers", "1, 2"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range o.setups() {
		got = append(got, s.String()+" → "+s.Slug())
	}
	want := []string{
		"single Redis, 1 api → single-1api",
		"single Redis, 1 api, 2 workers → single-1api-2workers",
		"single Redis, 2 apis → single-2apis",
		"single Redis, 2 apis, 2 workers → single-2apis-2workers",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("setups:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if o.partitions != 4 || !o.workersVary() {
		t.Errorf("-workers 1,2: partitions %d, workers vary %t; want 4, true", o.partitions, o.workersVary())
	}
	for _, c := range []struct {
		args       []string
		partitions int
		vary       bool
	}{
		{nil, 1, false},
		{[]string{"-workers", "2"}, 4, false},
		{[]string{"-workers", "1,2", "-partitions", "2"}, 2, true},
		{[]string{"-partitions", "8"}, 8, false},
	} {
		o, err := parseFlags(c.args, &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		if o.partitions != c.partitions || o.workersVary() != c.vary {
			t.Errorf("%q: partitions %d, workers vary %t; want %d, %t", c.args, o.partitions, o.workersVary(), c.partitions, c.vary)
		}
	}
}

func TestRedisFlagTakesURLs(t *testing.T) {
	rs, err := parseRedis("redis://:secret@10.0.0.1:6379/2,redis://10.0.0.2:7000?addr=10.0.0.3:7000")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Cluster || !rs[1].Cluster || rs[0].URL != "redis://:secret@10.0.0.1:6379/2" {
		t.Fatalf("parseRedis = %+v", rs)
	}
	// The password stays out of the report.
	if strings.Contains(rs[0].Shown, "secret") {
		t.Errorf("shown URL %q carries the password", rs[0].Shown)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-connections", "0"}, {"-duration", "500ms"}, {"-warmup", "-1s"}, {"-stock", "0"},
		{"-token-margin", "0.5"}, {"-mysql-db", "a`b"}, {"-mysql", "root@tcp(127.0.0.1:3306)/x"},
		{"-redis", "::"}, {"extra"}, {"-nope"}, {"-max-tokens", "5"}, {"-drain-orders", "-1"},
		{"-apis", "0"}, {"-apis", "1,x"}, {"-apis", "9"}, {"-apis", "2,2"}, {"-apis", ""},
		{"-redis", "single,single"}, {"-redis", "cluster,redis://127.0.0.1:7000?addr=127.0.0.1:7001"},
		{"-redis", "memcached"}, {"-redis", "http://127.0.0.1:6379"}, {"-redis", ""},
		{"-workers", "0"}, {"-workers", "1,1"}, {"-workers", "9"}, {"-workers", ""},
		{"-partitions", "-1"}, {"-partitions", "257"},
	} {
		_, err := parseFlags(args, &bytes.Buffer{})
		var ue *load.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: error %v, want a usage error", args, err)
		}
	}
}

func TestHelpHidesTheChildFlag(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	help := out.String()
	if strings.Contains(help, "serve-hello") {
		t.Error("usage shows -serve-hello")
	}
	for _, f := range []string{"-connections", "-duration", "-warmup", "-out", "-profile", "-drain-orders", "-apis", "-redis"} {
		if !strings.Contains(help, f) {
			t.Errorf("usage lacks %s", f)
		}
	}
	o, err := parseFlags([]string{"-serve-hello", "127.0.0.1:0"}, &out)
	if err != nil || o.serveHello != "127.0.0.1:0" {
		t.Errorf("-serve-hello: %+v, %v", o, err)
	}
}

func TestDrainOrdersZeroSkips(t *testing.T) {
	o, err := parseFlags([]string{"-drain-orders", "0"}, &bytes.Buffer{})
	if err != nil || o.drainOrders != 0 {
		t.Errorf("-drain-orders 0: %d, %v", o.drainOrders, err)
	}
}

func TestHelloHandler(t *testing.T) {
	srv := httptest.NewServer(helloHandler())
	defer srv.Close()
	res, err := http.Post(srv.URL+"/hello", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	if res.StatusCode != http.StatusAccepted || strings.TrimSpace(b.String()) != `{"ok":true}` {
		t.Errorf("POST /hello = %d %q", res.StatusCode, b.String())
	}
}

func TestChildConfigsReadTheTunables(t *testing.T) {
	t.Setenv("SECKILL_PUBLISH_BATCH", "16")
	t.Setenv("SECKILL_WORKER_BATCH", "50")
	a, w, err := childConfigs([]string{"SECKILL_LOG_LEVEL=warn"}, []string{"SECKILL_WORKER_BATCH=40"})
	if err != nil {
		t.Fatal(err)
	}
	if a.PublishBatch != 16 || a.PublishInFlight != 1 || a.LogLevel != "warn" {
		t.Errorf("api config %+v", a)
	}
	// The bench's own setting wins over the environment; prefetch follows the batch.
	if w.BatchSize != 40 || w.Prefetch != 80 {
		t.Errorf("worker batch %d prefetch %d, want 40 and 80", w.BatchSize, w.Prefetch)
	}
}
