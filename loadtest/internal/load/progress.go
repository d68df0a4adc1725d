package load

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Progress intervals: a terminal line is redrawn every tick; otherwise a new
// line is written every lineEvery.
const (
	tick      = 500 * time.Millisecond
	lineEvery = 2 * time.Second
)

// IsTerminal reports whether w is a character device such as a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// ProgressLine formats one progress report.
func ProgressLine(done, total, accepted int64, rate float64, elapsed time.Duration) string {
	return fmt.Sprintf("%7d/%d done  %6d accepted  %8.0f req/s  %6.1fs", done, total, accepted, rate,
		elapsed.Seconds())
}

// StartProgress reports c's progress towards total on w until the returned
// stop is called: redrawn in place with \r every 500ms when tty, else a new
// line every 2s. stop writes a final line.
func StartProgress(w io.Writer, tty bool, total int64, c *Counters, start time.Time) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var lastDone int64
	lastAt := start
	report := func(now time.Time, final bool) {
		n := c.Total()
		rate := 0.0
		if dt := now.Sub(lastAt).Seconds(); dt > 0 {
			rate = float64(n-lastDone) / dt
		}
		if final {
			if el := now.Sub(start).Seconds(); el > 0 {
				rate = float64(n) / el
			}
		}
		lastDone, lastAt = n, now
		line := ProgressLine(n, total, c.Get(Accepted), rate, now.Sub(start))
		switch {
		case tty && final:
			fmt.Fprintf(w, "\r%s\n", line)
		case tty:
			fmt.Fprintf(w, "\r%s", line)
		default:
			fmt.Fprintln(w, line)
		}
	}
	wg.Go(func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		every := int(lineEvery / tick)
		for i := 1; ; i++ {
			select {
			case <-done:
				return
			case now := <-t.C:
				if tty || i%every == 0 {
					report(now, false)
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		report(time.Now(), true)
	}
}
