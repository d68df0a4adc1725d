package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"golang.org/x/sync/errgroup"

	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/loadtest/internal/load"
	"github.com/seckill/seckill/loadtest/internal/scratch"
)

// eventWait bounds how long the events scenario waits for the relayed
// events after the workers are back: a guard against a hang.
const eventWait = 60 * time.Second

// eventListener is an outside consumer bound to the order exchange with
// order.#: it counts, per order number, every lifecycle message it gets.
type eventListener struct {
	conn *amqp.Connection
	mu   sync.Mutex
	seen map[string]map[string]int // order_no → routing key → copies
	bad  []string                  // bodies it could not read
}

func listenEvents(amqpURL, exchange string) (*eventListener, error) {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return nil, fmt.Errorf("events: connect: %w", err)
	}
	deliveries, err := bindAll(conn, exchange)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("events: bind to %s: %w", exchange, err)
	}
	l := &eventListener{conn: conn, seen: make(map[string]map[string]int)}
	go l.collect(deliveries)
	return l, nil
}

// bindAll consumes, on a channel of conn, a private queue bound to
// exchange with order.#.
func bindAll(conn *amqp.Connection, exchange string) (<-chan amqp.Delivery, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return nil, err
	}
	if err := ch.QueueBind(q.Name, "order.#", exchange, false, nil); err != nil {
		return nil, err
	}
	return ch.Consume(q.Name, "chaos-events", true, true, false, false, nil)
}

func (l *eventListener) collect(deliveries <-chan amqp.Delivery) {
	for d := range deliveries {
		var nos []string
		if d.RoutingKey == mq.RoutingCreated {
			var m mq.Message
			if err := json.Unmarshal(d.Body, &m); err == nil {
				for _, o := range m.Orders {
					nos = append(nos, o.OrderNo)
				}
			}
		} else {
			var m mq.EventMessage
			if err := json.Unmarshal(d.Body, &m); err == nil && m.Event == d.RoutingKey {
				for _, o := range m.Orders {
					nos = append(nos, o.OrderNo)
				}
			}
		}
		l.mu.Lock()
		if len(nos) == 0 {
			l.bad = append(l.bad, fmt.Sprintf("%s %.200s", d.RoutingKey, d.Body))
		}
		for _, no := range nos {
			if l.seen[no] == nil {
				l.seen[no] = make(map[string]int, 2)
			}
			l.seen[no][d.RoutingKey]++
		}
		l.mu.Unlock()
	}
}

// missing returns the order numbers of nos without a key message, and how
// many copies beyond the first the others got.
func (l *eventListener) missing(key string, nos []string) (absent []string, repeats int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, no := range nos {
		n := l.seen[no][key]
		if n == 0 {
			absent = append(absent, no)
		}
		repeats += max(n-1, 0)
	}
	return absent, repeats
}

func (l *eventListener) close() { _ = l.conn.Close() }

// injectEventsRelayCrash proves that a lifecycle event committed in MySQL
// is published even when its relay dies: with an outside consumer bound
// to order.#, a spike runs; once MySQL holds every order both workers are
// killed (SIGKILL), so nothing relays; every other buyer pays, which
// commits order.paid events nobody publishes yet; then worker1 is started
// and killed again as soon as the first of them arrives, mid-relay, and
// both are started.
// Every 202 must have reached the consumer as order.created and every
// payment as order.paid (repeats are allowed: at least once).
func injectEventsRelayCrash(ctx context.Context, s *suite, st *state) error {
	l, err := listenEvents(s.o.amqpURL, scratch.Topology(s.queuePrefix).Exchange)
	if err != nil {
		return err
	}
	defer l.close()
	s.spikeWith(ctx, st, s.sz.users, 0, nil)
	if err := s.waitPersisted(ctx, st); err != nil {
		return err
	}
	for _, w := range s.cl.workers {
		s.cl.kill(w)
	}
	st.note("killed both workers (SIGKILL): nothing relays events")
	var paid []string
	var payErr error
	for i, a := range st.accepted {
		if i%2 == 0 {
			paid = append(paid, a.OrderNo)
		}
	}
	payErr = s.payAll(ctx, st, paid)
	st.note("paid %d orders with no worker running: their order.paid events are committed, not published", len(paid))
	if payErr != nil {
		return payErr
	}
	w := s.cl.workers[0]
	if err := s.cl.start(ctx, w); err != nil {
		return err
	}
	// Killed the moment the consumer sees its first order.paid: the
	// relay is publishing, and has not deleted what it published.
	firstSeen := time.Now().Add(5 * time.Second)
	for time.Now().Before(firstSeen) && ctx.Err() == nil {
		if absent, _ := l.missing("order.paid", paid); len(absent) < len(paid) {
			break
		}
		sleep(ctx, 2*time.Millisecond)
	}
	s.cl.kill(w)
	absent, _ := l.missing("order.paid", paid)
	st.note("%s started, and killed (SIGKILL) once the consumer had %d of %d order.paid events", w.name, len(paid)-len(absent), len(paid))
	for _, w := range s.cl.workers {
		if err := s.cl.start(ctx, w); err != nil {
			return err
		}
	}
	st.note("both workers restarted")

	created := make([]string, len(st.accepted))
	for i, a := range st.accepted {
		created[i] = a.OrderNo
	}
	deadline := time.Now().Add(eventWait)
	for {
		noCreate, createRepeats := l.missing(mq.RoutingCreated, created)
		noPaid, paidRepeats := l.missing("order.paid", paid)
		if len(noCreate)+len(noPaid) == 0 {
			st.note("every order.created (%d, %d repeats) and order.paid (%d, %d repeats) reached the consumer",
				len(created), createRepeats, len(paid), paidRepeats)
			break
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			st.faultErrs = append(st.faultErrs,
				fmt.Sprintf("events lost: %d of %d order.created missing %s, %d of %d order.paid missing %s",
					len(noCreate), len(created), examples(noCreate), len(noPaid), len(paid), examples(noPaid)))
			break
		}
		sleep(ctx, pollEvery)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bad) > 0 {
		st.faultErrs = append(st.faultErrs, fmt.Sprintf("%d messages the consumer could not read, e.g. %s", len(l.bad), l.bad[0]))
	}
	return nil
}

// waitPersisted waits until MySQL holds every accepted order of the sale.
func (s *suite) waitPersisted(ctx context.Context, st *state) error {
	deadline := time.Now().Add(eventWait)
	for {
		rows, err := s.mysql.orders(ctx, st.sale)
		if err == nil {
			held := 0
			for _, a := range st.accepted {
				if _, ok := rows[a.OrderNo]; ok {
					held++
				}
			}
			if held == len(st.accepted) {
				st.note("MySQL holds all %d accepted orders", held)
				return nil
			}
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			if err != nil {
				return fmt.Errorf("MySQL does not hold every accepted order after %s: %w", eventWait, err)
			}
			return fmt.Errorf("MySQL does not hold every accepted order after %s", eventWait)
		}
		sleep(ctx, pollEvery)
	}
}

// payAll pays each order through the apis in turn, as its buyer.
func (s *suite) payAll(ctx context.Context, st *state, nos []string) error {
	users := make(map[string]int64, len(st.accepted))
	for _, a := range st.accepted {
		users[a.OrderNo] = a.UserID
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, no := range nos {
		api := s.cl.apis[i%len(s.cl.apis)]
		g.Go(func() error { return s.pay(gctx, api.public, no, users[no]) })
	}
	return g.Wait()
}

// pay pays one order at the api whose public base URL is base.
func (s *suite) pay(ctx context.Context, base, orderNo string, user int64) error {
	tok, err := s.spiker.tokens.Token(ctx, user)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, purchaseTimeout)
	defer cancel()
	r := load.PostBearer(ctx, s.spiker.http, base+"/api/v1/orders/"+orderNo+"/pay", tok)
	switch {
	case r.Err != nil:
		return fmt.Errorf("pay %s: %w", orderNo, r.Err)
	case r.Status != http.StatusOK:
		return fmt.Errorf("pay %s: %d %s", orderNo, r.Status, r.Code)
	}
	return nil
}
