package main

import (
	"github.com/seckill/seckill/loadtest/internal/load"

	"bytes"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFlagDefaults(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.connections != 64 || o.duration != 10*time.Second || o.warmup != 2*time.Second || o.profile ||
		o.stock != 5_000_000 || o.soldOutStock != 10 || o.mysqlDB != "seckill_bench" || o.out != "" ||
		o.drainOrders != 100_000 || o.drainTimeout != 3*time.Minute {
		t.Errorf("defaults %+v", o)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-connections", "0"}, {"-duration", "500ms"}, {"-warmup", "-1s"}, {"-stock", "0"},
		{"-token-margin", "0.5"}, {"-mysql-db", "a`b"}, {"-mysql", "root@tcp(127.0.0.1:3306)/x"},
		{"-redis", "::"}, {"extra"}, {"-nope"}, {"-max-tokens", "5"}, {"-drain-orders", "-1"},
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
	for _, f := range []string{"-connections", "-duration", "-warmup", "-out", "-profile", "-drain-orders"} {
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
	if a.PublishBatch != 16 || a.PublishInFlight != 2 || a.LogLevel != "warn" {
		t.Errorf("api config %+v", a)
	}
	// The bench's own setting wins over the environment; prefetch follows the batch.
	if w.BatchSize != 40 || w.Prefetch != 80 {
		t.Errorf("worker batch %d prefetch %d, want 40 and 80", w.BatchSize, w.Prefetch)
	}
}
