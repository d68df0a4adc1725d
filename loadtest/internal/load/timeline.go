package load

import "time"

// WindowStats summarise the replies that completed inside a window.
type WindowStats struct {
	Requests int64   // replies complete inside the window
	Errors   int64   // of those, replies whose outcome was not the expected one
	RPS      float64 // Requests per second of window
	Latency  Latency // of the replies that arrived (transport errors left out)
	Counts   Counts  // by outcome
}

// Measure summarises the records complete in [from, to): want is the
// outcome every reply should have; any other counts as an error.
func Measure(recs []Record, from, to time.Duration, want Outcome) WindowStats {
	var (
		c   Counters
		lat []time.Duration
		st  WindowStats
	)
	for _, r := range recs {
		if r.At < from || r.At >= to {
			continue
		}
		c.Add(r.Outcome)
		if r.Outcome != want {
			st.Errors++
		}
		if r.Outcome != TransportError {
			lat = append(lat, r.Latency)
		}
	}
	st.Counts = c.Snapshot()
	st.Requests = st.Counts.Total()
	if w := to - from; w > 0 {
		st.RPS = float64(st.Requests) / w.Seconds()
	}
	st.Latency = Summarize(lat)
	return st
}

// Bucket is one second of a window.
type Bucket struct {
	Start    time.Duration // since the window's start
	Width    time.Duration // one second, less for a last partial second
	Requests int64
	Errors   int64
	RPS      float64
	P50      time.Duration
	P99      time.Duration
}

// PerSecond cuts [from, to) into one-second buckets (the last one shorter
// when the window is not a whole number of seconds) and summarises the
// records complete in each. want is the expected outcome, as for Measure.
func PerSecond(recs []Record, from, to time.Duration, want Outcome) []Bucket {
	if to <= from {
		return nil
	}
	n := int((to - from + time.Second - 1) / time.Second)
	out := make([]Bucket, n)
	lats := make([][]time.Duration, n)
	for i := range out {
		out[i].Start = time.Duration(i) * time.Second
		out[i].Width = min(time.Second, to-from-out[i].Start)
	}
	for _, r := range recs {
		if r.At < from || r.At >= to {
			continue
		}
		i := int((r.At - from) / time.Second)
		out[i].Requests++
		if r.Outcome != want {
			out[i].Errors++
		}
		if r.Outcome != TransportError {
			lats[i] = append(lats[i], r.Latency)
		}
	}
	for i := range out {
		out[i].RPS = float64(out[i].Requests) / out[i].Width.Seconds()
		l := Summarize(lats[i])
		out[i].P50, out[i].P99 = l.P50, l.P99
	}
	return out
}
