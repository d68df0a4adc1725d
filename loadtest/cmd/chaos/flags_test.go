package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

func TestParseFlags(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		o, err := parseFlags(nil, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if o.short || o.keep || o.out != "" || o.src != "" || o.mysqlDB != "seckill_chaos" ||
			o.settleAfter != 7*time.Second || o.mysqlServer != "root@tcp(127.0.0.1:3306)/" {
			t.Errorf("defaults %+v", o)
		}
		if got := len(pick(o.run)); got != len(scenarios()) {
			t.Errorf("default -run picks %d scenarios, want all %d", got, len(scenarios()))
		}
		if o.size() != fullSize {
			t.Errorf("size %+v, want the full one", o.size())
		}
	})
	t.Run("every flag", func(t *testing.T) {
		o, err := parseFlags(strings.Fields("-short -run kill$ -keep -out /tmp/c -src /tmp/s -db chaos_2 -settle-after 3s "+
			"-redis redis://127.0.0.1:6380/1 -amqp amqp://u:p@127.0.0.1:5673/ -mysql u@tcp(127.0.0.1:3307)/"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if !o.short || !o.keep || o.out != "/tmp/c" || o.src != "/tmp/s" || o.mysqlDB != "chaos_2" ||
			o.settleAfter != 3*time.Second || o.redisURL != "redis://127.0.0.1:6380/1" ||
			o.amqpURL != "amqp://u:p@127.0.0.1:5673/" || o.mysqlServer != "u@tcp(127.0.0.1:3307)/" {
			t.Errorf("got %+v", o)
		}
		if o.size() != shortSize {
			t.Errorf("size %+v, want the short one", o.size())
		}
		var names []string
		for _, sc := range pick(o.run) {
			names = append(names, sc.name)
		}
		if strings.Join(names, " ") != "api-kill worker-kill" {
			t.Errorf("-run kill$ picked %q", names)
		}
	})
	t.Run("help", func(t *testing.T) {
		if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("-h: %v", err)
		}
	})
	for _, args := range [][]string{
		{"-run", "("}, {"-settle-after", "0s"}, {"-db", "x;drop"}, {"-db", ""}, {"extra"}, {"-nope"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, err := parseFlags(args, io.Discard)
			var ue *load.UsageError
			if !errors.As(err, &ue) {
				t.Errorf("%q: %v, want a usage error", args, err)
			}
		})
	}
}

func TestShortIsSmaller(t *testing.T) {
	if shortSize.users >= fullSize.users || shortSize.mysqlDown >= fullSize.mysqlDown || shortSize.outage > fullSize.outage {
		t.Errorf("short %+v is not smaller than full %+v", shortSize, fullSize)
	}
	for _, sz := range []size{shortSize, fullSize} {
		if sz.stock >= int64(sz.users) {
			t.Errorf("%+v: a spike must outnumber the stock", sz)
		}
	}
}
