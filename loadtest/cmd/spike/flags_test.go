package main

import (
	"github.com/seckill/seckill/loadtest/internal/load"

	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	env := map[string]string{"SECKILL_ADMIN_TOKEN": "env-admin", "SECKILL_JWT_SECRET": "env-secret"}
	getenv := func(k string) string { return env[k] }
	noenv := func(string) string { return "" }

	t.Run("defaults", func(t *testing.T) {
		o, err := parseFlags(nil, io.Discard, noenv, now)
		if err != nil {
			t.Fatal(err)
		}
		want := options{
			target: "http://127.0.0.1:8080", admin: "http://127.0.0.1:9090", sale: 1, users: 20000,
			userBase: now.UnixMicro(), concurrency: 256, duration: time.Minute, drainTimeout: time.Minute,
			admissionRate: 200, powBits: 12, stock: 1000,
		}
		if o != want {
			t.Errorf("defaults = %+v, want %+v", o, want)
		}
	})
	t.Run("environment fills unset secrets", func(t *testing.T) {
		o, err := parseFlags(nil, io.Discard, getenv, now)
		if err != nil || o.adminToken != "env-admin" || o.secret != "env-secret" {
			t.Errorf("got %+v, %v", o, err)
		}
	})
	t.Run("flags win over the environment", func(t *testing.T) {
		o, err := parseFlags([]string{"-admin-token", "", "-secret", "flag-secret"}, io.Discard, getenv, now)
		if err != nil || o.adminToken != "" || o.secret != "flag-secret" {
			t.Errorf("got %+v, %v", o, err)
		}
	})
	t.Run("every flag", func(t *testing.T) {
		o, err := parseFlags(strings.Fields("-target http://127.0.0.1:18080/ -admin https://127.0.0.1:19090 "+
			"-sale 7 -users 300 -user-base 42 -concurrency 16 -duration 5s -drain-timeout 3s -json /tmp/s.json "+
			"-admission -admission-rate 30 -pow-bits 9 -stock 77"),
			io.Discard, noenv, now)
		want := options{
			target: "http://127.0.0.1:18080", admin: "https://127.0.0.1:19090", sale: 7, users: 300, userBase: 42,
			concurrency: 16, duration: 5 * time.Second, drainTimeout: 3 * time.Second, jsonPath: "/tmp/s.json",
			admission: true, admissionRate: 30, powBits: 9, stock: 77, saleSet: true,
		}
		if err != nil || o != want {
			t.Errorf("got %+v, %v; want %+v", o, err, want)
		}
	})
	t.Run("help", func(t *testing.T) {
		var out strings.Builder
		_, err := parseFlags([]string{"-h"}, &out, getenv, now)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("-h: %v", err)
		}
		if !strings.Contains(out.String(), "-drain-timeout") || strings.Contains(out.String(), "env-secret") {
			t.Errorf("usage text:\n%s", out.String())
		}
	})

	bad := [][]string{
		{"-users", "0"}, {"-users", "x"}, {"-sale", "0"}, {"-concurrency", "0"}, {"-duration", "0s"},
		{"-drain-timeout", "-1s"}, {"-user-base", "-5"}, {"-target", "127.0.0.1:8080"}, {"-admin", "ftp://x"},
		{"-target", "http://127.0.0.1:8080?x=1"}, {"extra"}, {"-nope"},
		{"-admission-rate", "-1"}, {"-pow-bits", "-2"}, {"-stock", "0"},
		{"-admission", "-admission-rate", "0", "-pow-bits", "0"},
	}
	for _, args := range bad {
		_, err := parseFlags(args, io.Discard, noenv, now)
		var ue *load.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: error %v, want a usage error", args, err)
		}
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{usage("bad flag"), 2},
		{errors.Join(errors.New("x"), usage("wrapped")), 2},
		{errors.New("invariants failed"), 1},
	}
	for _, tt := range tests {
		if got := load.ExitCode("spike", tt.err, io.Discard); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
