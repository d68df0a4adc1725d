package main

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"sync"

	"github.com/seckill/seckill/loadtest/internal/load"
	"github.com/seckill/seckill/loadtest/internal/proc"
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
		name := replicaName("api", i, s.APIs)
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
	stopAll(b.apis)
	b.apis = nil
}

// stopAll stops ps, all at once, and returns when every one has stopped.
func stopAll(ps []*proc.Proc) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { p.Stop(stopGrace) })
	}
	wg.Wait()
}
