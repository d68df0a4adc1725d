package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/procfs"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/loadtest/internal/proc"
	"github.com/seckill/seckill/loadtest/internal/scratch"
)

// procGroup is processes reported as one row: a child of the bench, or
// every process of a local server.
type procGroup struct {
	Name string
	Pids []int
}

// serverNames are the commands of the local servers whose CPU is reported,
// in the report's order.
var serverNames = []string{"redis-server", "beam.smp", "mariadbd", "mysqld", "memcached"}

// otherRedis names the redis-server processes of the machine that are not
// the Redis under test, e.g. the cluster's nodes while the single server is
// measured.
const otherRedis = "redis-server, other instances"

// serverGroups groups the pids whose command (comms, by pid) is one of
// serverNames; a server not running has no group. When redisPids, the
// processes of the Redis under test, are known, only they are the
// redis-server group, and any other redis-server process is reported apart
// as otherRedis.
func serverGroups(comms map[int]string, redisPids []int) []procGroup {
	var out []procGroup
	for _, name := range serverNames {
		var pids, others []int
		for pid, c := range comms {
			switch {
			case c != name:
			case name == "redis-server" && len(redisPids) > 0 && !slices.Contains(redisPids, pid):
				others = append(others, pid)
			default:
				pids = append(pids, pid)
			}
		}
		if len(pids) > 0 {
			slices.Sort(pids)
			out = append(out, procGroup{Name: name, Pids: pids})
		}
		if len(others) > 0 {
			slices.Sort(others)
			out = append(out, procGroup{Name: otherRedis, Pids: others})
		}
	}
	return out
}

// readComms reads the command of every process of fs. Processes that exit
// while it reads are skipped.
func readComms(fs procfs.FS) (map[int]string, error) {
	procs, err := fs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	comms := map[int]string{}
	for _, p := range procs {
		if c, err := p.Comm(); err == nil {
			comms[p.PID] = c
		}
	}
	return comms, nil
}

// findServers finds the local servers' processes whose CPU is reported,
// the processes of the Redis under test among them (every node of a
// cluster).
func (b *bench) findServers(ctx context.Context, r redisTarget) {
	b.servers = nil
	comms, err := readComms(b.procFS)
	if err != nil {
		b.note("the local servers' CPU is not reported: %v", err)
		return
	}
	pids, err := redisPids(ctx, r.URL)
	if err != nil {
		b.note("the processes of the Redis under test are unknown (%v): the redis-server row sums every redis-server on the machine", err)
	}
	b.servers = serverGroups(comms, pids)
}

// phaseGroups are the processes whose CPU a phase reports: the bench, its
// children (the apis summed as one, the workers as another) and the local
// servers.
func (b *bench) phaseGroups() []procGroup {
	gs := []procGroup{
		{Name: "bench", Pids: []int{os.Getpid()}},
		{Name: b.hello.Name, Pids: []int{b.hello.Pid()}},
		groupOf("api", b.apis),
		groupOf("worker", b.workers),
	}
	return append(gs, b.servers...)
}

// groupOf is the processes ps as one group named name.
func groupOf(name string, ps []*proc.Proc) procGroup {
	g := procGroup{Name: name}
	for _, p := range ps {
		g.Pids = append(g.Pids, p.Pid())
	}
	return g
}

// ceilingGroups are the processes whose CPU a raw publish run reports: the
// bench, which publishes, and RabbitMQ.
func (b *bench) ceilingGroups() []procGroup {
	gs := []procGroup{{Name: "bench", Pids: []int{os.Getpid()}}}
	for _, g := range b.servers {
		if g.Name == "beam.smp" {
			gs = append(gs, g)
		}
	}
	return gs
}

// drainGroups are the processes whose CPU the worker-alone drain reports:
// the workers (summed), RabbitMQ and MySQL.
func (b *bench) drainGroups() []procGroup {
	gs := []procGroup{groupOf("worker", b.workers)}
	for _, g := range b.servers {
		switch g.Name {
		case "beam.smp", "mariadbd", "mysqld":
			gs = append(gs, g)
		}
	}
	return gs
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
