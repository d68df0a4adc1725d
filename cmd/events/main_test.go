package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/testenv"
)

const amqpURL = "amqp://guest:guest@127.0.0.1:5672/"

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPrintsEvents: bound with -keys order.paid,order.cancelled, the
// command prints what seckill's publisher sends on those keys, one JSON
// line each, and nothing of order.created.
func TestPrintsEvents(t *testing.T) {
	testenv.Listening(t, "rabbitmq", "127.0.0.1:5672")
	raw := make([]byte, 5)
	_, _ = rand.Read(raw)
	topo := mq.DefaultTopology().WithPrefix("events" + hex.EncodeToString(raw))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pub, err := mq.DialPublisher(ctx, amqpURL, log, mq.WithTopology(topo))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = pub.Close(context.Background())
		if conn, err := amqp.Dial(amqpURL); err == nil {
			if ch, err := conn.Channel(); err == nil {
				_, _ = ch.QueueDelete(topo.Queue, false, false, false)
				_, _ = ch.QueueDelete(topo.DeadQueue, false, false, false)
				_ = ch.ExchangeDelete(topo.Exchange, false, false)
				_ = ch.ExchangeDelete(topo.DeadExchange, false, false)
			}
			_ = conn.Close()
		}
	})

	var out syncBuffer
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- consume(ctx, []string{"-amqp", amqpURL, "-exchange", topo.Exchange, "-keys", "order.paid, order.cancelled", "-n", "2"}, &out, log, ready)
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("consume ended before binding: %v", err)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	o := order.Order{OrderNo: "0190d1a2-0000-7000-8000-000000000001", SaleID: 7, UserID: 42, CreatedAt: at}
	if err := pub.Publish(ctx, o); err != nil { // order.created: not bound here
		t.Fatal(err)
	}
	paid, cancelled := o, o
	paid.Status = order.StatusPaid
	cancelled.OrderNo, cancelled.Status, cancelled.Reason = "0190d1a2-0000-7000-8000-000000000002", order.StatusCancelled, order.ReasonSoldOut
	if err := pub.PublishEvents(ctx, []order.Event{
		{ID: 1, Kind: order.EventPaid, Order: paid, At: at},
		{ID: 2, Kind: order.EventCancelled, Order: cancelled, At: at},
	}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("consume: %v", err)
	}

	var got []string
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var l struct {
			RoutingKey string          `json:"routing_key"`
			Message    mq.EventMessage `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		for _, eo := range l.Message.Orders {
			got = append(got, strings.Join([]string{l.RoutingKey, l.Message.Event, eo.OrderNo, eo.Status, eo.Reason, eo.Detail}, " "))
		}
	}
	want := []string{
		"order.paid order.paid " + paid.OrderNo + " paid  ",
		"order.cancelled order.cancelled " + cancelled.OrderNo + " cancelled rejected sold_out",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-keys", "order.paid,,order.cancelled"}, true},
		{[]string{"-keys", " , "}, false},
		{[]string{"-n", "-1"}, false},
		{[]string{"-bogus"}, false},
	} {
		o, err := parse(tc.args)
		if (err == nil) != tc.ok {
			t.Errorf("parse(%q) = %+v, %v; want ok %v", tc.args, o, err, tc.ok)
		}
	}
	if o, _ := parse([]string{"-keys", "order.paid,,order.cancelled"}); strings.Join(o.keys, "|") != "order.paid|order.cancelled" {
		t.Errorf("keys = %q", o.keys)
	}
}
