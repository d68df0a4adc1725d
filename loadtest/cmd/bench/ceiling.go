package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/loadtest/internal/load"
)

// ceilingTopology is a scratch exchange and quorum queue for the raw
// publisher, bound like the order flow's.
type ceilingTopology struct {
	Exchange string
	Queue    string
}

func newCeilingTopology(prefix string) ceilingTopology {
	return ceilingTopology{Exchange: prefix + "bench.ceiling", Queue: prefix + "bench.ceiling"}
}

func (t ceilingTopology) declare(ch *amqp.Channel) error {
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
// when it could not be sent or its confirm never came.
type ceilingLoad struct {
	URL      string
	Topology ceilingTopology
	Batch    int
	InFlight int
	Warmup   time.Duration
	Duration time.Duration
	SaleID   int64 // the sale id written into the orders
	// OnStart, when set, is called as the publishers start: Warmup later
	// the measured window begins. It must not block.
	OnStart func()
}

// run publishes for Warmup + Duration and returns the records.
func (c ceilingLoad) run(ctx context.Context) (load.LoopResult, error) {
	conn, err := amqp.DialConfig(c.URL, amqp.Config{Properties: amqp.Table{"connection_name": "seckill-bench-ceiling"}})
	if err != nil {
		return load.LoopResult{}, fmt.Errorf("ceiling: dial: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return load.LoopResult{}, fmt.Errorf("ceiling: channel: %w", err)
	}
	if err := c.Topology.declare(ch); err != nil {
		return load.LoopResult{}, fmt.Errorf("ceiling: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return load.LoopResult{}, fmt.Errorf("ceiling: confirm mode: %w", err)
	}
	var returned atomic.Int64
	returns := ch.NotifyReturn(make(chan amqp.Return, 1024))
	var listen sync.WaitGroup
	listen.Go(func() {
		for range returns {
			returned.Add(1)
		}
	})

	var user atomic.Int64
	end := c.Warmup + c.Duration
	recs := make([][]load.Record, max(c.InFlight, 1))
	var wg sync.WaitGroup
	start := time.Now()
	if c.OnStart != nil {
		c.OnStart()
	}
	for w := range recs {
		wg.Go(func() {
			orders := make([]order.Order, c.Batch)
			for ctx.Err() == nil && time.Since(start) < end {
				t0 := time.Now()
				outcome := c.publishOne(ctx, ch, orders, &user)
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
	if n := returned.Load(); n > 0 {
		return load.LoopResult{Start: start, Records: all, Elapsed: elapsed},
			fmt.Errorf("ceiling: %d messages returned as unroutable", n)
	}
	return load.LoopResult{Start: start, Records: all, Elapsed: elapsed}, ctx.Err()
}

// publishOne fills orders with fresh orders, publishes them as one message
// and waits for the confirm.
func (c ceilingLoad) publishOne(ctx context.Context, ch *amqp.Channel, orders []order.Order, user *atomic.Int64) load.Outcome {
	now := time.Now()
	for i := range orders {
		no, err := order.NewOrderNo()
		if err != nil {
			return load.TransportError
		}
		orders[i] = order.Order{OrderNo: no, SaleID: c.SaleID, UserID: user.Add(1), Status: order.StatusPending, CreatedAt: now}
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
