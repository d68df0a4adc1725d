package main

import (
	"fmt"
	"slices"
)

// target is a goal a figure is held against; reported, never failed.
type target struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Goal   float64 `json:"goal"`
	Unit   string  `json:"unit"`    // "%" (Value and Goal are ratios) or "ms"
	AtMost bool    `json:"at_most"` // met when Value ≤ Goal; else when Value ≥ Goal
	Met    bool    `json:"met"`
	Known  bool    `json:"known"` // false when the figure could not be measured
}

// The goals each run is held against, with the figures of the same run.
const (
	goalContended      = 0.45 // contended req/s ÷ hello req/s, below crowdConnections
	goalContendedCrowd = 0.60 // the same at crowdConnections or more
	crowdConnections   = 256
	goalP99Ratio       = 2.0  // contended p99 ÷ hello-world p99
	goalSoldOut        = 0.97 // sold-out req/s ÷ hello req/s
	goalPersisted      = 0.85 // orders persisted/s ÷ raw confirmed-publish ceiling
	goalDrain          = 0.85 // worker-alone orders persisted/s ÷ raw confirmed-publish ceiling
	goalServersMicros  = 60.0 // CPU µs of the servers besides the api per contended order
	goalAPIRatio       = 1.4  // the api's CPU per contended order ÷ per sold-out reply
)

// evaluateTargets holds the run's figures against the goals.
func (r *report) evaluateTargets() {
	mk := func(name string, value, goal float64, unit string, atMost, known bool) target {
		t := target{Name: name, Value: value, Goal: goal, Unit: unit, AtMost: atMost, Known: known}
		if known {
			t.Met = value >= goal
			if atMost {
				t.Met = value <= goal
			}
		}
		return t
	}
	c, s := r.phaseByName(phaseContended), r.phaseByName(phaseSoldOut)
	var ts []target
	goal := goalContended
	if r.Settings.Connections >= crowdConnections {
		goal = goalContendedCrowd
	}
	ts = append(ts, mk("contended req/s ÷ hello-world req/s", ratioOf(c), goal, "%", false, c != nil && c.Requests > 0))
	ts = append(ts, mk("sold-out req/s ÷ hello-world req/s", ratioOf(s), goalSoldOut, "%", false, s != nil && s.Requests > 0))
	e := r.EndToEnd
	ts = append(ts, mk("orders persisted/s ÷ raw confirmed-publish ceiling", func() float64 {
		if e == nil {
			return 0
		}
		return e.Ratio
	}(), goalPersisted, "%", false, e != nil && e.CeilingPerSec > 0 && e.PersistedPerSec > 0))
	d := r.Drain
	ts = append(ts, mk("worker-alone persisted/s ÷ raw confirmed-publish ceiling (persistence stage alone, informational)", func() float64 {
		if d == nil {
			return 0
		}
		return d.Ratio
	}(), goalDrain, "%", false, d != nil && d.CeilingPerSec > 0 && d.PersistedPerSec > 0))
	p99, helloP99 := 0.0, r.helloP99()
	if c != nil {
		p99 = c.Latency.P99
	}
	ts = append(ts, mk("contended p99 ÷ hello-world p99", ratio(p99, helloP99), goalP99Ratio, "×", true,
		c != nil && c.Requests > 0 && helloP99 > 0))
	servers, sok := c.micros(boundServers...)
	ts = append(ts, mk("Redis, RabbitMQ, MariaDB and the worker: CPU µs per contended order", servers, goalServersMicros, "µs", true, sok))
	api, aok := c.micros("api")
	apiSoldOut, bok := s.micros("api")
	ts = append(ts, mk("api: CPU µs per contended order ÷ per sold-out reply", ratio(api, apiSoldOut), goalAPIRatio, "×", true, aok && bok && apiSoldOut > 0))
	r.Targets = ts
}

// helloP99 is the mean p99 of the hello-world phases; 0 when none ran.
func (r *report) helloP99() float64 {
	return r.helloMean(func(h *phase) (float64, bool) { return h.Latency.P99, h.Requests > 0 })
}

// helloMean is the mean of a figure over the hello-world phases that have
// it (of reports false for a phase that has not); 0 when none has.
func (r *report) helloMean(of func(h *phase) (float64, bool)) float64 {
	var sum float64
	var n int
	for _, name := range []string{phaseHello, phaseHelloEnd} {
		if h := r.phaseByName(name); h != nil {
			if v, ok := of(h); ok {
				sum += v
				n++
			}
		}
	}
	return ratio(sum, float64(n))
}

// micros sums the CPU µs per reply of the named processes in the phase;
// false when the phase or its CPU was not measured or none of them ran.
func (p *phase) micros(names ...string) (float64, bool) {
	if p == nil || p.CPU == nil {
		return 0, false
	}
	var sum float64
	found := false
	for _, sh := range p.CPU.Processes {
		if slices.Contains(names, sh.Process) {
			sum += sh.MicrosPerUnit
			found = true
		}
	}
	return sum, found && sum > 0
}

func ratioOf(p *phase) float64 {
	if p == nil {
		return 0
	}
	return p.Ratio
}

// valueText shows the value in its unit.
func (t target) valueText() string {
	if !t.Known {
		return "n/a"
	}
	return t.format(t.Value)
}

// format shows v in the target's unit.
func (t target) format(v float64) string {
	switch t.Unit {
	case "%":
		return fmtPct(v)
	case "×":
		return fmt.Sprintf("%.2f×", v)
	case "µs":
		return fmt.Sprintf("%.1f µs", v)
	}
	return fmtMS(v)
}

// goalText shows the goal with its direction.
func (t target) goalText() string {
	op := "≥"
	if t.AtMost {
		op = "≤"
	}
	return op + " " + t.format(t.Goal)
}

// metText says whether the goal was met.
func (t target) metText() string {
	switch {
	case !t.Known:
		return "not measured"
	case t.Met:
		return "met"
	}
	return "**not met**"
}

// bound is the most the contended phase could reach on the run's machine
// if the api and the load generator cost nothing: the CPU of a hello-world
// reply (all of the machine's) over what the other servers spend per
// contended order.
type bound struct {
	HelloMachineMicros float64 `json:"hello_machine_us_per_reply"`
	ServersMicros      float64 `json:"servers_us_per_contended_order"`
	Ratio              float64 `json:"ratio"`
	// APIMicros and LoadMicros are the least a purchase can cost the api
	// and the load generator: the api's CPU per sold-out reply (the same
	// request on the same route, answered from a flag) and the load
	// generator's per hello-world reply. FloorRatio is the bound with
	// those added to the servers': what contended could reach if the api
	// did a purchase's reservation and publish for free and the load
	// generator paid nothing for the longer wait. Zero when not measured.
	APIMicros  float64 `json:"api_sold_out_us_per_reply,omitempty"`
	LoadMicros float64 `json:"load_generator_hello_us_per_reply,omitempty"`
	FloorRatio float64 `json:"floor_ratio,omitempty"`
}

// boundServers are the processes a contended order needs besides the api
// and the load generator.
var boundServers = []string{"redis-server", "beam.smp", "mariadbd", "mysqld", "memcached", "worker"}

// contendedBound computes the bound from the phases' CPU; false when they
// were not measured.
func (r *report) contendedBound() (bound, bool) {
	hello := r.helloMean(func(h *phase) (float64, bool) {
		if h.CPU == nil {
			return 0, false
		}
		return h.CPU.Machine.MicrosPerUnit, h.CPU.Machine.MicrosPerUnit > 0
	})
	servers, ok := r.phaseByName(phaseContended).micros(boundServers...)
	if hello <= 0 || !ok {
		return bound{}, false
	}
	b := bound{HelloMachineMicros: hello, ServersMicros: servers}
	b.Ratio = b.HelloMachineMicros / b.ServersMicros
	api, apiOK := r.phaseByName(phaseSoldOut).micros("api")
	load := r.helloMean(func(h *phase) (float64, bool) { return h.micros("bench") })
	if apiOK && load > 0 {
		b.APIMicros, b.LoadMicros = api, load
		b.FloorRatio = b.HelloMachineMicros / (b.ServersMicros + api + load)
	}
	return b, true
}
