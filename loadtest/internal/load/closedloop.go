package load

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seckill/seckill/internal/httpapi"
)

// Record is one request of a closed-loop run.
type Record struct {
	At      time.Duration // when the reply was complete, since the run's start
	Latency time.Duration // from sending to the complete reply
	Outcome Outcome
}

// NewConnClient returns a client that holds at most one keep-alive
// connection per host: a closed-loop worker with its own client has its
// own connection, as a real client would.
func NewConnClient(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConns:        1,
			MaxIdleConnsPerHost: 1,
			MaxConnsPerHost:     1,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// PostBearer sends POST url with no body and "Authorization: Bearer token"
// (none when token is empty) and reads the whole answer, as Purchase does
// for the purchase route.
func PostBearer(ctx context.Context, c *http.Client, url, token string) Reply {
	return PostTicket(ctx, c, url, token, "")
}

// PostTicket is PostBearer carrying an admission ticket in the
// X-Admission-Ticket header; an empty ticket sends none.
func PostTicket(ctx context.Context, c *http.Client, url, token, ticket string) Reply {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return Reply{Err: err}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ticket != "" {
		req.Header.Set(httpapi.TicketHeader, ticket)
	}
	res, err := c.Do(req)
	if err != nil {
		return Reply{Err: err, Latency: time.Since(start)}
	}
	defer res.Body.Close()
	rep := Reply{Status: res.StatusCode}
	if res.StatusCode < 300 {
		_, err = io.Copy(io.Discard, io.LimitReader(res.Body, maxBody))
	} else {
		rep.Code, err = readCode(res.Body)
	}
	rep.Latency = time.Since(start)
	if err != nil {
		return Reply{Err: err, Latency: rep.Latency}
	}
	return rep
}

// Shot sends one request for worker w, whose client is c, and returns the
// reply; more is false when the worker has nothing left to send (e.g. no
// token left), in which case the reply is ignored.
type Shot func(ctx context.Context, w int, c *http.Client) (r Reply, more bool)

// ClosedLoop is a closed-loop load: Workers goroutines, each with its own
// connection, send requests back to back (the next one as soon as the last
// reply is complete) for Warmup + Duration.
type ClosedLoop struct {
	Workers  int
	Warmup   time.Duration
	Duration time.Duration
	Timeout  time.Duration // bound of one request; 30s when zero
	Shot     Shot
	// OnMeasure, when set, is called once when the warm-up ends and the
	// measured window begins. It must not block.
	OnMeasure func()
}

// LoopResult is what a closed-loop run saw.
type LoopResult struct {
	Start time.Time // the first request was sent at Start
	// Records holds every reply, warm-up included, in no particular order.
	Records []Record
	// Exhausted is when the first worker ran out of requests to send
	// (since Start); 0 when none did.
	Exhausted time.Duration
	// Elapsed is from Start to the last reply.
	Elapsed time.Duration
}

// Window is the measured window: [Warmup, Warmup+Duration) after Start.
func (l ClosedLoop) Window() (from, to time.Duration) { return l.Warmup, l.Warmup + l.Duration }

// Run drives the load until Warmup + Duration pass, every worker ran out of
// requests, or ctx ends. Requests in flight at the end are completed, not
// cancelled (an abandoned purchase may still have bought a unit); each is
// bounded by Timeout.
func (l ClosedLoop) Run(ctx context.Context) LoopResult {
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	workers := max(l.Workers, 1)
	end := l.Warmup + l.Duration
	inFlight := context.WithoutCancel(ctx)
	recs := make([][]Record, workers)
	var (
		exhausted Moment
		wg        sync.WaitGroup
		lastReply atomic.Int64
	)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			c := NewConnClient(timeout)
			defer c.CloseIdleConnections()
			local := make([]Record, 0, 1024)
			for ctx.Err() == nil {
				if time.Since(start) >= end {
					break
				}
				r, more := l.Shot(inFlight, w, c)
				if !more {
					exhausted.Mark(time.Since(start))
					break
				}
				at := time.Since(start)
				local = append(local, Record{At: at, Latency: r.Latency, Outcome: r.Outcome()})
				for {
					cur := lastReply.Load()
					if int64(at) <= cur || lastReply.CompareAndSwap(cur, int64(at)) {
						break
					}
				}
			}
			recs[w] = local
		})
	}
	if l.OnMeasure != nil && l.Warmup > 0 {
		t := time.AfterFunc(l.Warmup, func() {
			if ctx.Err() == nil {
				l.OnMeasure()
			}
		})
		defer t.Stop()
	} else if l.OnMeasure != nil {
		l.OnMeasure()
	}
	wg.Wait()
	n := 0
	for _, r := range recs {
		n += len(r)
	}
	all := make([]Record, 0, n)
	for _, r := range recs {
		all = append(all, r...)
	}
	res := LoopResult{Start: start, Records: all, Elapsed: time.Duration(lastReply.Load())}
	res.Exhausted, _ = exhausted.Get()
	return res
}

// readCode reads a whole error body of at most maxBody bytes and returns its
// error code; a body as small as the api's is read into a pooled buffer.
func readCode(r io.Reader) (string, error) {
	bp, _ := smallBodies.Get().(*[]byte)
	defer smallBodies.Put(bp)
	buf := *bp
	n, err := io.ReadFull(r, buf)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return errorCode(buf[:n]), nil
	case err != nil:
		return "", err
	}
	rest, err := io.ReadAll(io.LimitReader(r, maxBody-int64(n)))
	if err != nil {
		return "", err
	}
	return errorCode(append(append([]byte(nil), buf[:n]...), rest...)), nil
}

var smallBodies = sync.Pool{New: func() any { b := make([]byte, 512); return &b }}
