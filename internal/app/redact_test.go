package app_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/app"
	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/redisurl"
	"github.com/seckill/seckill/internal/store"
)

// TestErrorsHidePasswords: every way of opening a backend fails without the
// password of its URL or DSN in the error, whether the address does not
// parse or nothing answers there (port 1).
func TestErrorsHidePasswords(t *testing.T) {
	const pw = "pw-s3cret-7"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := map[string]func(addr string) error{
		"redisurl.Open": func(u string) error {
			c, err := redisurl.Open(ctx, u)
			if err == nil {
				_ = c.Close()
			}
			return err
		},
		"EnsureDatabase": func(dsn string) error { return app.EnsureDatabase(ctx, dsn) },
		"OpenMySQL": func(dsn string) error {
			s, err := store.OpenMySQL(ctx, dsn, log)
			if err == nil {
				_ = s.Close()
			}
			return err
		},
		"DialPublisher": func(u string) error {
			p, err := mq.DialPublisher(ctx, u, log)
			if err == nil {
				_ = p.Close(ctx)
			}
			return err
		},
		"DialSource": func(u string) error {
			s, err := mq.DialSource(ctx, u, log)
			if err == nil {
				_ = s.Close()
			}
			return err
		},
		"NewWorker amqp": func(u string) error {
			_, err := app.NewWorker(ctx, config.Worker{AMQPURL: u, MySQLDSN: "root@tcp(127.0.0.1:1)/x?timeout=1s", AdminAddr: "127.0.0.1:0", BatchSize: 1, Prefetch: 1}, log, app.Overrides{})
			return err
		},
	}
	addrs := map[string][]string{
		"redisurl.Open": {
			"redis://u:" + pw + "@127.0.0.1:1/0", "redis://u:" + pw + "@127.0.0.1:port/0",
			"redis://u:" + pw + "@127.0.0.1:1?addr=127.0.0.1:2", "redis://u:" + pw + "@127.0.0.1:port?addr=x",
		},
		"EnsureDatabase": {"u:" + pw + "@tcp(127.0.0.1:1)/x?timeout=1s", "u:" + pw + "@tcp(127.0.0.1:1/x", "u:" + pw + "@tcp(127.0.0.1:1)/x?tls=nope"},
		"OpenMySQL":      {"u:" + pw + "@tcp(127.0.0.1:1)/x?timeout=1s", "u:" + pw + "@tcp(127.0.0.1:1/x"},
		"DialPublisher":  {"amqp://u:" + pw + "@127.0.0.1:1/", "amqp://u:" + pw + "@127.0.0.1:port/", "amqp://u:" + pw + "@127.0.0.1:1/?heartbeat=x"},
		"DialSource":     {"amqp://u:" + pw + "@127.0.0.1:1/", "amqp://u:" + pw + "@127.0.0.1:port/"},
		"NewWorker amqp": {"amqp://u:" + pw + "@127.0.0.1:port/"},
	}
	for name, f := range open {
		for _, addr := range addrs[name] {
			t.Run(name+" "+strings.ReplaceAll(addr, "/", "_"), func(t *testing.T) {
				err := f(addr)
				if err == nil {
					t.Fatalf("%s(%s) succeeded", name, addr)
				}
				if strings.Contains(err.Error(), pw) {
					t.Fatalf("%s: the error carries the password: %v", name, err)
				}
			})
		}
	}
}
