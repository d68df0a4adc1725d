package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/redact"
	"github.com/seckill/seckill/loadtest/internal/load"
	"github.com/seckill/seckill/loadtest/internal/scratch"
)

// ceilingTopology is where the raw publisher publishes: a scratch exchange
// and quorum queue bound like the order flow's, or the order flow's own.
type ceilingTopology struct {
	Exchange string
	Queue    string
	// Existing marks the order flow's own exchange and queue, which the api
	// and the worker declare with arguments of their own (dead-lettering, a
	// delivery limit): the publisher checks that the exchange exists and
	// declares nothing.
	Existing bool
	// Flow is the order flow's topology when Existing. With several
	// persist partitions each message names its sale's partition key in a
	// BCC header, as the api's do, or no persist queue would take it.
	Flow mq.Topology
}

func newCeilingTopology(prefix string) ceilingTopology {
	return ceilingTopology{Exchange: prefix + "bench.ceiling", Queue: prefix + "bench.ceiling"}
}

// orderFlowTopology is the run's own order exchange and persist queue (the
// first partition's), the ones the api publishes to and the worker
// consumes.
func orderFlowTopology(t mq.Topology) ceilingTopology {
	return ceilingTopology{Exchange: t.Exchange, Queue: t.PartitionQueue(0), Existing: true, Flow: t}
}

// headers are the headers of a message of saleID's orders: the BCC header
// naming its persist partition's key when the order flow has several.
func (t ceilingTopology) headers(saleID int64) amqp.Table {
	if !t.Existing || t.Flow.Partitions <= 1 {
		return nil
	}
	return amqp.Table{"BCC": []any{t.Flow.PartitionKey(t.Flow.PartitionOf(saleID))}}
}

func (t ceilingTopology) declare(ch *amqp.Channel) error {
	if t.Existing {
		if err := ch.ExchangeDeclarePassive(t.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
			return fmt.Errorf("exchange %s: %w", t.Exchange, err)
		}
		return nil
	}
	if err := ch.ExchangeDeclare(t.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", t.Exchange, err)
	}
	if _, err := ch.QueueDeclare(t.Queue, true, false, false, false, amqp.Table{
		amqp.QueueTypeArg: amqp.QueueTypeQuorum,
	}); err != nil {
		return fmt.Errorf("declare queue %s: %w", t.Queue, err)
	}
	if err := ch.QueueBind(t.Queue, mq.RoutingCreated, t.Exchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %s: %w", t.Queue, err)
	}
	return nil
}

// ceilingLoad publishes order.created messages the way the api does — one
// connection, one confirm-mode channel, persistent, mandatory, bodies made
// by mq.Encode — with InFlight publishers each waiting for its own confirm
// before the next, Batch orders per message. Each message is a record:
// Accepted when acked, ServerError when nacked or returned, TransportError
// when it could not be sent or its confirm never came. Users are numbered
// from 1, one per order.
type ceilingLoad struct {
	URL      string
	Topology ceilingTopology
	Batch    int
	InFlight int
	Warmup   time.Duration
	Duration time.Duration
	// Orders, when positive, is how many orders to publish in all, the last
	// message carrying what is left; Warmup and Duration are then unused.
	Orders int64
	// SaleIDs are the sales written into the orders: all of a message's
	// orders are of one sale, the messages taking them in turn.
	SaleIDs []int64
	// OnStart, when set, is called as the publishers start: Warmup later
	// the measured window begins. It must not block.
	OnStart func()
}

// ceilingRun is what a raw publish run did: a record per message, and the
// orders of the messages the broker confirmed.
type ceilingRun struct {
	load.LoopResult
	ConfirmedOrders int64
}

// run publishes for Warmup + Duration, or until Orders orders are out, and
// returns the records.
func (c ceilingLoad) run(ctx context.Context) (ceilingRun, error) {
	if len(c.SaleIDs) == 0 {
		return ceilingRun{}, errors.New("ceiling: no sale to publish orders of")
	}
	conn, err := amqp.DialConfig(c.URL, amqp.Config{Properties: amqp.Table{"connection_name": "seckill-bench-ceiling"}})
	if err != nil {
		return ceilingRun{}, fmt.Errorf("ceiling: dial: %w", redact.Error(err, c.URL))
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return ceilingRun{}, fmt.Errorf("ceiling: channel: %w", err)
	}
	if err := c.Topology.declare(ch); err != nil {
		return ceilingRun{}, fmt.Errorf("ceiling: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return ceilingRun{}, fmt.Errorf("ceiling: confirm mode: %w", err)
	}
	var returned atomic.Int64
	returns := ch.NotifyReturn(make(chan amqp.Return, 1024))
	var listen sync.WaitGroup
	listen.Go(func() {
		for range returns {
			returned.Add(1)
		}
	})

	var user, claimed, confirmed, sent atomic.Int64
	recs := make([][]load.Record, max(c.InFlight, 1))
	var wg sync.WaitGroup
	start := time.Now()
	if c.OnStart != nil {
		c.OnStart()
	}
	for w := range recs {
		wg.Go(func() {
			orders := make([]order.Order, c.Batch)
			for ctx.Err() == nil {
				n, more := c.nextBatch(start, &claimed)
				if !more {
					return
				}
				t0 := time.Now()
				sale := c.SaleIDs[int((sent.Add(1)-1)%int64(len(c.SaleIDs)))]
				outcome := c.publishOne(ctx, ch, sale, orders[:n], &user)
				if outcome == load.Accepted {
					confirmed.Add(int64(n))
				}
				recs[w] = append(recs[w], load.Record{At: time.Since(start), Latency: time.Since(t0), Outcome: outcome})
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	_ = ch.Close() // closes returns once every notice is delivered
	listen.Wait()

	var all []load.Record
	for _, r := range recs {
		all = append(all, r...)
	}
	res := ceilingRun{LoopResult: load.LoopResult{Start: start, Records: all, Elapsed: elapsed}, ConfirmedOrders: confirmed.Load()}
	if n := returned.Load(); n > 0 {
		return res, fmt.Errorf("ceiling: %d messages returned as unroutable", n)
	}
	return res, ctx.Err()
}

// nextBatch is the number of orders of the next message: Batch while the
// time lasts or, with Orders set, up to Batch of the orders not yet taken
// (claimed counts those). false when publishing is over.
func (c ceilingLoad) nextBatch(start time.Time, claimed *atomic.Int64) (int, bool) {
	if c.Orders <= 0 {
		return c.Batch, time.Since(start) < c.Warmup+c.Duration
	}
	n := claimBatch(claimed, c.Orders, c.Batch)
	return n, n > 0
}

// claimBatch takes up to batch of total orders, claimed counting the ones
// taken so far by every caller, and returns how many it took: 0 once all
// were taken. Concurrent callers never take the same order.
func claimBatch(claimed *atomic.Int64, total int64, batch int) int {
	if batch <= 0 {
		return 0
	}
	end := claimed.Add(int64(batch))
	from := end - int64(batch)
	if from >= total {
		return 0
	}
	return int(min(end, total) - from)
}

// publishOne fills orders with fresh orders of saleID, publishes them as
// one message and waits for the confirm.
func (c ceilingLoad) publishOne(ctx context.Context, ch *amqp.Channel, saleID int64, orders []order.Order, user *atomic.Int64) load.Outcome {
	now := time.Now()
	for i := range orders {
		no, err := order.NewOrderNo()
		if err != nil {
			return load.TransportError
		}
		orders[i] = order.Order{OrderNo: no, SaleID: saleID, UserID: user.Add(1), Status: order.StatusPending, CreatedAt: now}
	}
	id := orders[0].OrderNo // a message of one order carries its order_no as id, as the api's does
	if len(orders) > 1 {
		u, err := uuid.NewV7()
		if err != nil {
			return load.TransportError
		}
		id = u.String()
	}
	body, err := mq.Encode(id, orders)
	if err != nil {
		return load.TransportError
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, c.Topology.Exchange, mq.RoutingCreated, true, false, amqp.Publishing{
		Headers:      c.Topology.headers(saleID),
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		MessageId:    id,
		Timestamp:    now,
		Type:         mq.RoutingCreated,
		Body:         body,
	})
	if err != nil || dc == nil {
		return load.TransportError
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	acked, err := dc.WaitContext(wctx)
	switch {
	case err != nil:
		return load.TransportError
	case !acked:
		return load.ServerError
	}
	return load.Accepted
}

// sampleMessage is the body of a message of n orders, as the api and the
// raw publisher write it.
func sampleMessage(n int) []byte {
	orders := make([]order.Order, n)
	now := time.Now()
	for i := range orders {
		no, _ := order.NewOrderNo()
		orders[i] = order.Order{OrderNo: no, SaleID: 1, UserID: 1_000_000 + int64(i), CreatedAt: now}
	}
	id := orders[0].OrderNo
	if n > 1 {
		id, _ = order.NewOrderNo()
	}
	body, _ := mq.Encode(id, orders)
	return body
}

// ceilingPhase measures the raw confirmed publish: shaped as the api
// publishes (its average orders per message, its messages in flight) and,
// for reference, one order per message with one publisher per connection.
func (b *bench) ceilingPhase(ctx context.Context) error {
	o := b.o
	e := b.rep.EndToEnd
	batch, inFlight := b.apiShape()
	shapes := []struct{ batch, inFlight int }{{batch, inFlight}}
	if batch != 1 || inFlight != o.connections {
		shapes = append(shapes, struct{ batch, inFlight int }{1, o.connections})
	}
	top := newCeilingTopology(b.queuePrefix)
	for i, sh := range shapes {
		b.logf("raw confirmed publish: %d order(s)/message × %d in flight, %s + %s", sh.batch, sh.inFlight, o.warmup, o.duration)
		m := newCPUMeter(b.procFS, b.ceilingGroups())
		cl := ceilingLoad{URL: o.amqpURL, Topology: top, Batch: sh.batch, InFlight: sh.inFlight,
			Warmup: o.warmup, Duration: o.duration, SaleIDs: []int64{1},
			OnStart: func() { m.arm(o.warmup, o.duration) }}
		res, err := cl.run(ctx)
		m.end()
		if err != nil {
			b.addCheck(fmt.Sprintf("ceiling %d×%d: publishes confirmed", sh.batch, sh.inFlight), false, "%v", err)
			return err
		}
		from, to := o.warmup, o.warmup+o.duration
		st := load.Measure(res.Records, from, to, load.Accepted)
		c := ceilingResult{
			Batch: sh.batch, InFlight: sh.inFlight, Messages: st.Counts.Accepted,
			MessagesPerS: float64(st.Counts.Accepted) / o.duration.Seconds(),
			ConfirmP50MS: ms(st.Latency.P50), ConfirmP99MS: ms(st.Latency.P99), Errors: st.Errors,
			MessageBytes: messageSize(sh.batch), ComparedToAPI: i == 0,
			Timeline: timelineOf(load.PerSecond(res.Records, from, to, load.Accepted)),
			Latency:  st.Latency.MS(),
		}
		c.OrdersPerS = c.MessagesPerS * float64(sh.batch)
		b.logf("  %s msg/s = %s orders/s, confirm p50 %s, p99 %s", fmtInt(c.MessagesPerS), fmtInt(c.OrdersPerS),
			fmtMS(c.ConfirmP50MS), fmtMS(c.ConfirmP99MS))
		c.CPU = b.cpuOf(fmt.Sprintf("ceiling %d×%d", sh.batch, sh.inFlight), m, c.Messages*int64(sh.batch), "order")
		b.rep.Ceilings = append(b.rep.Ceilings, c)
		var all load.Counters
		for _, r := range res.Records {
			all.Add(r.Outcome)
		}
		tot := all.Snapshot()
		b.addCheck(fmt.Sprintf("ceiling %d×%d: publishes confirmed", sh.batch, sh.inFlight), tot.Accepted == tot.Total(),
			"%d confirmed, %d nacked, %d failed", tot.Accepted, tot.ServerError, tot.TransportError)
		if i == 0 && e != nil {
			e.CeilingBatch, e.CeilingPerSec = sh.batch, c.OrdersPerS
		}
		// Empty the scratch queue between runs so each starts alike.
		if err := scratch.DeleteAMQP(o.amqpURL, []string{top.Queue}, nil); err != nil {
			return err
		}
	}
	return nil
}

// apiShape is how the api published in the contended phase: its average
// orders per message, rounded, and its messages awaiting a confirm at once.
func (b *bench) apiShape() (batch, inFlight int) {
	batch, inFlight = 1, b.o.connections
	if e := b.rep.EndToEnd; e != nil && e.OrdersPerMessage > 0 {
		batch = max(1, int(math.Round(e.OrdersPerMessage)))
	}
	if b.cfg.PublishBatch > 1 {
		// The api's coalescer: at most PublishInFlight messages await a
		// confirm at once.
		inFlight = b.cfg.PublishInFlight
	}
	return batch, inFlight
}

// messageSize is the body size of a message of n orders as mq.Encode
// writes it.
func messageSize(n int) int {
	return len(sampleMessage(n))
}
