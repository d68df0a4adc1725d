package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/loadtest/internal/load"
	"github.com/seckill/seckill/loadtest/internal/proc"
	"github.com/seckill/seckill/loadtest/internal/scratch"
)

// startAPIs starts the setup's api replicas on the setup's Redis, each on
// free addresses of its own, and waits until every one is ready. The
// first one answers the bench's admin calls.
func (b *bench) startAPIs(ctx context.Context, s setup) error {
	addrs, err := proc.FreeAddrs(ctx, 2*s.APIs)
	if err != nil {
		return err
	}
	b.apis, b.apiWatch, b.publics = nil, nil, nil
	var admins []string
	for i := range s.APIs {
		name := apiName(i, s.APIs)
		public, admin := addrs[2*i], addrs[2*i+1]
		env := append(slices.Clone(b.apiEnv),
			"SECKILL_REDIS_URL="+s.Redis.URL, "SECKILL_STOCK_PREFIX="+b.setupPrefix,
			"SECKILL_HTTP_ADDR="+public, "SECKILL_ADMIN_ADDR="+admin)
		b.logf("starting %s %s (admin %s) on %s", name, public, admin, s.Redis.Label())
		p, err := proc.Start(name, b.apiBin, nil, env, filepath.Join(b.setupDir, name+".log"))
		if err != nil {
			return err
		}
		b.apis = append(b.apis, p)
		b.publics = append(b.publics, "http://"+public)
		admins = append(admins, "http://"+admin)
		b.apiWatch = append(b.apiWatch, watched{pid: p.Pid(), metrics: "http://" + admin + "/metrics"})
	}
	b.client = &load.Client{HTTP: b.admin, Public: b.publics[0], Admin: admins[0]}
	for i, p := range b.apis {
		if err := proc.WaitHTTP(ctx, p, readyTimeout, proc.ExpectStatus(b.ops, http.MethodGet, b.publics[i]+"/readyz", http.StatusOK)); err != nil {
			return err
		}
	}
	return nil
}

// stopAPIs stops the current setup's apis, all at once.
func (b *bench) stopAPIs() {
	var wg sync.WaitGroup
	for _, p := range b.apis {
		wg.Go(func() { p.Stop(stopGrace) })
	}
	wg.Wait()
	b.apis = nil
}

// redisPids are the process ids of the Redis at redisURL as it reports
// them: the server's, or on a cluster every node's, replicas included.
// The Redis must run on this machine for them to mean anything.
func redisPids(ctx context.Context, redisURL string) ([]int, error) {
	c, err := scratch.OpenRedis(ctx, redisURL)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var mu sync.Mutex
	var pids []int
	add := func(ctx context.Context, n redis.Cmdable) error {
		info, err := n.Info(ctx, "server").Result()
		if err != nil {
			return fmt.Errorf("redis info server: %w", err)
		}
		pid, ok := infoProcessID(info)
		if !ok {
			return fmt.Errorf("redis info server: no process_id")
		}
		mu.Lock()
		defer mu.Unlock()
		pids = append(pids, pid)
		return nil
	}
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return add(ctx, n) })
	} else {
		err = add(ctx, c)
	}
	slices.Sort(pids)
	return pids, err
}

// infoProcessID reads process_id from the text of INFO server.
func infoProcessID(info string) (int, bool) {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			return pid, err == nil && pid > 0
		}
	}
	return 0, false
}
