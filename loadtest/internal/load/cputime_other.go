//go:build !linux

package load

import "time"

var processStart = time.Now()

// threadCPU stands in for a thread's CPU time where the load tools cannot
// read it: the wall time since the start, so differences are wall time.
func threadCPU() time.Duration { return time.Since(processStart) }
