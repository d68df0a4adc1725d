package main

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seckill/seckill/loadtest/internal/scratch"
)

func TestClaimBatch(t *testing.T) {
	var claimed atomic.Int64
	var got []int
	for {
		n := claimBatch(&claimed, 20, 8)
		if n == 0 {
			break
		}
		got = append(got, n)
	}
	if len(got) != 3 || got[0] != 8 || got[1] != 8 || got[2] != 4 {
		t.Errorf("batches %v, want [8 8 4]", got)
	}
	if n := claimBatch(&claimed, 20, 8); n != 0 {
		t.Errorf("after the last batch: %d", n)
	}
	var none atomic.Int64
	if n := claimBatch(&none, 20, 0); n != 0 {
		t.Errorf("batch 0 took %d", n)
	}
}

func TestClaimBatchConcurrent(t *testing.T) {
	const total, batch, workers = 100_003, 7, 16
	var claimed, taken, messages atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				n := claimBatch(&claimed, total, batch)
				if n == 0 {
					return
				}
				if n < 1 || n > batch {
					t.Errorf("took %d", n)
				}
				taken.Add(int64(n))
				messages.Add(1)
			}
		})
	}
	wg.Wait()
	if taken.Load() != total || messages.Load() != (total+batch-1)/batch {
		t.Errorf("%d orders in %d messages, want %d in %d", taken.Load(), messages.Load(), total, (total+batch-1)/batch)
	}
}

func TestNextBatch(t *testing.T) {
	var claimed atomic.Int64
	timed := ceilingLoad{Batch: 4, Duration: time.Hour}
	if n, more := timed.nextBatch(time.Now(), &claimed); n != 4 || !more {
		t.Errorf("timed, within the window: %d, %t", n, more)
	}
	if _, more := timed.nextBatch(time.Now().Add(-2*time.Hour), &claimed); more {
		t.Error("timed, after the window: more")
	}
	if claimed.Load() != 0 {
		t.Error("a timed run claimed orders")
	}
	counted := ceilingLoad{Batch: 4, Orders: 6}
	start := time.Now().Add(-2 * time.Hour) // the time does not bound a counted run
	for i, want := range []int{4, 2, 0} {
		if n, more := counted.nextBatch(start, &claimed); n != want || more != (want > 0) {
			t.Errorf("counted, message %d: %d, %t; want %d", i, n, more, want)
		}
	}
}

func TestOrderFlowTopology(t *testing.T) {
	top := orderFlowTopology(scratch.Topology("skbenchx."))
	if !top.Existing || top.Exchange != "skbenchx.seckill.orders" || top.Queue != "skbenchx.seckill.orders.persist" {
		t.Errorf("order flow topology %+v", top)
	}
	if c := newCeilingTopology("skbenchx."); c.Existing || c.Queue == top.Queue || c.headers(7) != nil {
		t.Errorf("scratch topology %+v", c)
	}
	if h := top.headers(7); h != nil {
		t.Errorf("one partition: headers %v, want none", h)
	}
}

// TestOrderFlowHeadersNamePartitions: with several persist partitions a
// message names its sale's partition key in a BCC header, as the api's
// do, or no persist queue takes it.
func TestOrderFlowHeadersNamePartitions(t *testing.T) {
	flow := scratch.Topology("skbenchx.")
	flow.Partitions = 4
	top := orderFlowTopology(flow)
	if top.Queue != "skbenchx.seckill.orders.persist.0" {
		t.Errorf("queue %s, want partition 0's", top.Queue)
	}
	for sale, want := range map[int64]string{4: "seckill.persist.0", 5: "seckill.persist.1", 11: "seckill.persist.3"} {
		bcc, _ := top.headers(sale)["BCC"].([]any)
		if len(bcc) != 1 || bcc[0] != want {
			t.Errorf("sale %d: BCC %v, want [%s]", sale, bcc, want)
		}
	}
}
