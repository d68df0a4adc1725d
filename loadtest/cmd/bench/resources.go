package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/procfs"
)

// memInfo is a process's memory as /proc/<pid>/status shows it.
type memInfo struct {
	RSSKB int64 // VmRSS: resident now
	HWMKB int64 // VmHWM: the highest resident size so far
}

// readMem reads the memory of process pid from fs.
func readMem(fs procfs.FS, pid int) (memInfo, error) {
	p, err := fs.Proc(pid)
	if err != nil {
		return memInfo{}, err
	}
	st, err := p.NewStatus()
	if err != nil {
		return memInfo{}, fmt.Errorf("status of %d: %w", pid, err)
	}
	if st.VmHWM == 0 {
		return memInfo{}, fmt.Errorf("status of %d: no VmHWM (is it a kernel thread or a zombie?)", pid)
	}
	return memInfo{RSSKB: int64(st.VmRSS / 1024), HWMKB: int64(st.VmHWM / 1024)}, nil
}

// watched is a binary whose memory and goroutines are sampled.
type watched struct {
	pid     int
	metrics string // URL of its /metrics
}

// usage is one observation of a binary.
type usage struct {
	Mem        memInfo
	Goroutines int
	Metrics    metrics // the whole /metrics page
}

// observe reads w's memory from fs and its /metrics.
func observe(ctx context.Context, c *http.Client, fs procfs.FS, w watched) (usage, error) {
	m, err := readMem(fs, w.pid)
	if err != nil {
		return usage{}, err
	}
	ms, err := scrape(ctx, c, w.metrics)
	if err != nil {
		return usage{}, err
	}
	g, ok := ms.value(refGoroutines)
	if !ok {
		return usage{}, fmt.Errorf("%s: no %s", w.metrics, refGoroutines)
	}
	return usage{Mem: m, Goroutines: int(g), Metrics: ms}, nil
}

// sample is the apis and the workers at one moment of a phase.
type sample struct {
	At       time.Duration // since the phase's start
	APIs     []usage       // in the order of the apis
	Workers  []usage       // in the order of the workers
	Inserted float64       // the workers' orders inserted so far, summed
}

// sampler observes the apis and the workers every interval until stopped.
type sampler struct {
	fs      procfs.FS
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples []sample
	failed  int   // samples that could not be taken
	err     error // the first reason
}

// startSampler observes apis and workers now and then every interval,
// their memory read from fs, until finish is called.
func startSampler(ctx context.Context, c *http.Client, fs procfs.FS, start time.Time, every time.Duration, apis, workers []watched) *sampler {
	s := &sampler{fs: fs, stop: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.take(ctx, c, start, apis, workers)
			select {
			case <-s.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return s
}

func (s *sampler) take(ctx context.Context, c *http.Client, start time.Time, apis, workers []watched) {
	at := time.Since(start)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	as := make([]usage, len(apis))
	ws := make([]usage, len(workers))
	errs := make([]error, len(apis)+len(workers))
	for i, api := range apis {
		as[i], errs[i] = observe(ctx, c, s.fs, api)
		// Keep only what the report needs of the pages.
		as[i].Metrics = nil
	}
	var ins float64
	for i, w := range workers {
		ws[i], errs[len(apis)+i] = observe(ctx, c, s.fs, w)
		n, _ := ws[i].Metrics.value(refInserted)
		ins += n
		ws[i].Metrics = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := firstErr(errs...); err != nil {
		s.failed++
		if s.err == nil {
			s.err = fmt.Errorf("sample api/worker: %w", err)
		}
		return
	}
	s.samples = append(s.samples, sample{At: at, APIs: as, Workers: ws, Inserted: ins})
}

// finish stops the sampler and returns what it saw, and an error telling
// how many samples failed and why the first did.
func (s *sampler) finish() ([]sample, error) {
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.samples, fmt.Errorf("%d of %d samples failed, the first: %w", s.failed, s.failed+len(s.samples), s.err)
	}
	return s.samples, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// usageOf summarises the samples taken until the load ended (at end, since
// the phase's start); pick chooses the binary.
func usageOf(samples []sample, end time.Duration, pick func(sample) usage) *procUsage {
	var u procUsage
	found := false
	for _, s := range samples {
		if s.At > end && found {
			break
		}
		x := pick(s)
		u.RSSMB = kbToMB(x.Mem.RSSKB)
		u.PeakRSSMB = kbToMB(x.Mem.HWMKB)
		u.Goroutines = x.Goroutines
		u.PeakGoroutines = max(u.PeakGoroutines, x.Goroutines)
		found = true
	}
	if !found {
		return nil
	}
	return &u
}

// apiUsages summarises the samples of each of n apis, as usageOf; nil
// when there were none.
func apiUsages(samples []sample, end time.Duration, n int) []procUsage {
	return usagesOf(samples, end, n, func(s sample) []usage { return s.APIs })
}

// workerUsages summarises the samples of each of n workers, as usageOf;
// nil when there were none.
func workerUsages(samples []sample, end time.Duration, n int) []procUsage {
	return usagesOf(samples, end, n, func(s sample) []usage { return s.Workers })
}

// usagesOf summarises the samples of each of n binaries of a kind, which
// pick chooses, as usageOf; nil when there were none.
func usagesOf(samples []sample, end time.Duration, n int, pick func(sample) []usage) []procUsage {
	var out []procUsage
	for i := range n {
		u := usageOf(samples, end, func(s sample) usage {
			if us := pick(s); i < len(us) {
				return us[i]
			}
			return usage{}
		})
		if u == nil {
			return nil
		}
		out = append(out, *u)
	}
	return out
}

func kbToMB(kb int64) float64 { return float64(kb) / 1024 }
