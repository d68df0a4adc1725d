package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

const (
	purchaseTimeout = 15 * time.Second // bound of one purchase
	maxInFlight     = 256              // purchases in flight at once
	tick            = 100 * time.Millisecond
)

// accepted is one 202 the client saw.
type accepted struct {
	OrderNo string
	UserID  int64
	API     string
}

// spikeResult is what the clients of one spike saw.
type spikeResult struct {
	counts   load.Counts
	detail   map[string]int64 // the unusual answers by "status code"
	accepted []accepted
	elapsed  time.Duration
}

// spiker releases buyers at a steady rate, alternating between the apis.
type spiker struct {
	http   *http.Client
	tokens load.TokenSource
}

// run releases users first … first+n-1 at rate per second on sale, each
// buying once through apis[i%len(apis)], and waits for every answer.
// Requests already sent when ctx ends are completed: an abandoned purchase
// may still have bought a unit.
func (s *spiker) run(ctx context.Context, apis []*node, sale int64, first int64, n, rate int) spikeResult {
	var (
		mu       sync.Mutex
		res      spikeResult
		counters load.Counters
		tally    load.Tally
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, maxInFlight)
	inFlight := context.WithoutCancel(ctx)
	start := time.Now()
	perTick := max(rate*int(tick)/int(time.Second), 1)
	for i := range n {
		// A burst of perTick buyers every tick: paced on average, and
		// concurrent at each tick as a crowd is.
		next := start.Add(time.Duration(i/perTick) * tick)
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		api := apis[i%len(apis)]
		user := first + int64(i)
		wg.Go(func() {
			defer func() { <-sem }()
			no, rep := s.purchase(inFlight, api.public, sale, user)
			if rep.Status != http.StatusAccepted || rep.Err != nil {
				no = ""
			} else if no == "" {
				no = missingOrderNo
			}
			counters.Add(rep.Outcome())
			tally.Note(rep)
			if no != "" {
				mu.Lock()
				res.accepted = append(res.accepted, accepted{OrderNo: no, UserID: user, API: api.name})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.counts = counters.Snapshot()
	res.detail = tally.Detail()
	return res
}

// purchase buys one unit of sale for user at the api whose public base URL
// is base, and returns the order number of a 202.
func (s *spiker) purchase(ctx context.Context, base string, sale, user int64) (string, load.Reply) {
	tok, err := s.tokens.Token(ctx, user)
	if err != nil {
		return "", load.Reply{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, purchaseTimeout)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/sales/"+strconv.FormatInt(sale, 10)+"/orders", nil)
	if err != nil {
		return "", load.Reply{Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := s.http.Do(req)
	if err != nil {
		return "", load.Reply{Err: err, Latency: time.Since(start)}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	rep := load.Reply{Status: res.StatusCode, Latency: time.Since(start)}
	if err != nil {
		rep.Err = err
		return "", rep
	}
	var body struct {
		OrderNo string `json:"order_no"`
		Error   struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &body)
	rep.Code = body.Error.Code
	if res.StatusCode == http.StatusAccepted {
		return body.OrderNo, rep
	}
	return "", rep
}

// missingOrderNo stands for the order number of a 202 whose body named none.
const missingOrderNo = "(none)"
