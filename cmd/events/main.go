// Command events follows seckill's orders from outside, as a notification,
// fulfilment or analytics system would: it binds a queue to the topic
// exchange seckill.orders and prints every lifecycle message it receives
// as one JSON line, {"routing_key":…,"message":…}.
//
//	go run ./cmd/events                      # every event, order.#
//	go run ./cmd/events -keys order.paid     # payments only
//	go run ./cmd/events -queue billing       # a durable queue that keeps events while the consumer is down
//
// The routing keys are order.created (an order accepted), order.paid and
// order.cancelled (with a reason: expired, rejected, discarded). Messages
// are published at least once: drop repeats by each order's event_id
// (order.paid, order.cancelled) or order_no (order.created).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/redact"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, log)
	stop()
	if err != nil {
		log.Error("events", "err", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	url      string
	exchange string
	keys     []string
	queue    string
	count    int
}

func parse(args []string) (options, error) {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	o := options{}
	def := os.Getenv("SECKILL_AMQP_URL")
	if def == "" {
		def = "amqp://guest:guest@127.0.0.1:5672/"
	}
	fs.StringVar(&o.url, "amqp", def, "RabbitMQ URL (default $SECKILL_AMQP_URL)")
	fs.StringVar(&o.exchange, "exchange", mq.Exchange, "the topic exchange seckill publishes to")
	keys := fs.String("keys", "order.#", "comma-separated binding keys, e.g. order.paid,order.cancelled")
	fs.StringVar(&o.queue, "queue", "", "a durable queue name to consume from (kept while this command is down); empty: a private queue that goes with the command")
	fs.IntVar(&o.count, "n", 0, "stop after this many messages (0: run until interrupted)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	for _, k := range strings.Split(*keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			o.keys = append(o.keys, k)
		}
	}
	if len(o.keys) == 0 {
		return options{}, errors.New("-keys: at least one binding key is required")
	}
	if o.count < 0 {
		return options{}, errors.New("-n must not be negative")
	}
	return o, nil
}

// line is what the command prints per message.
type line struct {
	RoutingKey string          `json:"routing_key"`
	Message    json.RawMessage `json:"message"`
}

// run consumes until ctx ends or -n messages were printed. ready, when
// set, is closed once the queue is bound.
func run(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	return consume(ctx, args, out, log, nil)
}

func consume(ctx context.Context, args []string, out io.Writer, log *slog.Logger, ready chan<- struct{}) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	conn, err := amqp.DialConfig(o.url, amqp.Config{Properties: amqp.Table{"connection_name": "seckill-events"}})
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact.URL(o.url), err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	// The exchange is declared as seckill declares it, so this command may
	// start first.
	if err := ch.ExchangeDeclare(o.exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", o.exchange, err)
	}
	durable := o.queue != ""
	args2 := amqp.Table(nil)
	if durable {
		args2 = amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}
	}
	q, err := ch.QueueDeclare(o.queue, durable, !durable, !durable, false, args2)
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", o.queue, err)
	}
	for _, k := range o.keys {
		if err := ch.QueueBind(q.Name, k, o.exchange, false, nil); err != nil {
			return fmt.Errorf("bind %s to %s with %s: %w", q.Name, o.exchange, k, err)
		}
	}
	if err := ch.Qos(64, 0, false); err != nil {
		return fmt.Errorf("qos: %w", err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, q.Name, "seckill-events", false, !durable, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", q.Name, err)
	}
	log.Info("listening", "exchange", o.exchange, "keys", strings.Join(o.keys, ","), "queue", q.Name)
	if ready != nil {
		close(ready)
	}
	enc := json.NewEncoder(out)
	for seen := 0; o.count == 0 || seen < o.count; seen++ {
		var d amqp.Delivery
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case d, ok = <-deliveries:
		}
		if !ok {
			return errors.New("the broker closed the channel")
		}
		msg := json.RawMessage(d.Body)
		if !json.Valid(d.Body) {
			msg, _ = json.Marshal(string(d.Body)) // shown as a string, never dropped
		}
		if err := enc.Encode(line{RoutingKey: d.RoutingKey, Message: msg}); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("ack: %w", err)
		}
	}
	return nil
}
