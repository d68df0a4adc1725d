package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/seckill/seckill/loadtest/internal/proc"
)

const (
	readyTimeout = 60 * time.Second
	stopGrace    = 20 * time.Second
)

// node is one api or worker of the cluster: its command, environment and
// addresses stay the same across restarts.
type node struct {
	name   string // api1, api2, worker1, worker2
	bin    string
	env    []string
	ready  string // URL that answers 200 once it serves
	public string // api only: base URL of the public listener
	admin  string // base URL of the admin listener
	starts int    // how many times it was started

	p *proc.Proc
	// expectDown is set while the process is down on purpose (killed or
	// stopped by a fault), so its exit is not a failure.
	expectDown bool
}

// cluster is the two apis and two workers of the run.
type cluster struct {
	dir     string // process logs
	ops     *http.Client
	mu      sync.Mutex
	apis    [2]*node
	workers [2]*node
}

func (c *cluster) nodes() []*node {
	return []*node{c.apis[0], c.apis[1], c.workers[0], c.workers[1]}
}

// start starts n (again) and waits until it answers.
func (c *cluster) start(ctx context.Context, n *node) error {
	c.mu.Lock()
	n.starts++
	logName := n.name + ".log"
	if n.starts > 1 {
		logName = n.name + "." + strconv.Itoa(n.starts) + ".log"
	}
	p, err := proc.Start(n.name, n.bin, nil, n.env, filepath.Join(c.dir, logName))
	if err != nil {
		c.mu.Unlock()
		return err
	}
	n.p, n.expectDown = p, false
	c.mu.Unlock()
	return proc.WaitHTTP(ctx, p, readyTimeout, proc.ExpectStatus(c.ops, http.MethodGet, n.ready, http.StatusOK))
}

// kill sends SIGKILL to n, as a crash would.
func (c *cluster) kill(n *node) {
	c.mu.Lock()
	n.expectDown = true
	p := n.p
	c.mu.Unlock()
	if p != nil {
		p.Kill()
	}
}

// stop stops n gracefully (SIGTERM).
func (c *cluster) stop(n *node) {
	c.mu.Lock()
	n.expectDown = true
	p := n.p
	c.mu.Unlock()
	if p != nil {
		p.Stop(stopGrace)
	}
}

// crashed lists the nodes that exited although nothing stopped them, with
// why, and restarts them so the run can go on.
func (c *cluster) crashed(ctx context.Context) (gone []string, err error) {
	for _, n := range c.nodes() {
		c.mu.Lock()
		p, expect := n.p, n.expectDown
		c.mu.Unlock()
		if p == nil || expect {
			continue
		}
		if dead, why := p.Exited(); dead {
			if why == nil {
				why = fmt.Errorf("exit status 0")
			}
			gone = append(gone, fmt.Sprintf("%s exited on its own (%v; see %s)", n.name, why, p.LogPath()))
			if serr := c.start(ctx, n); serr != nil && err == nil {
				err = fmt.Errorf("restart %s: %w", n.name, serr)
			}
		}
	}
	return gone, err
}

// ensureUp starts every node that is down, e.g. after a fault that failed
// halfway.
func (c *cluster) ensureUp(ctx context.Context) error {
	for _, n := range c.nodes() {
		c.mu.Lock()
		p := n.p
		c.mu.Unlock()
		if p == nil {
			if err := c.start(ctx, n); err != nil {
				return err
			}
			continue
		}
		if dead, _ := p.Exited(); dead {
			if err := c.start(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// stopAll stops every node gracefully.
func (c *cluster) stopAll() {
	var wg sync.WaitGroup
	for _, n := range c.nodes() {
		if n == nil {
			continue
		}
		wg.Go(func() { c.stop(n) })
	}
	wg.Wait()
}

// pids are the process ids of the running nodes.
func (c *cluster) pids() map[int]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int]string{}
	for _, n := range c.nodes() {
		if n.p != nil {
			if dead, _ := n.p.Exited(); !dead {
				out[n.p.Pid()] = n.name
			}
		}
	}
	return out
}
