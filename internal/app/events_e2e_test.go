package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/seckill/seckill/api"
	"github.com/seckill/seckill/internal/mq"
)

// openAPIDoc is api/openapi.yaml, parsed once for every lookup of a
// message schema.
var openAPIDoc = sync.OnceValues(func() (*openapi3.T, error) {
	return openapi3.NewLoader().LoadFromData(api.OpenAPI())
})

// messageSchema is the schema api/openapi.yaml gives the body of a message
// on the order exchange.
func messageSchema(tb testing.TB, name string) *openapi3.Schema {
	tb.Helper()
	doc, err := openAPIDoc()
	if err != nil {
		tb.Fatal(err)
	}
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		tb.Fatalf("api/openapi.yaml has no schema %s", name)
	}
	return ref.Value
}

// conforms checks body against schema, as a consumer reading the
// document would.
func conforms(tb testing.TB, schema *openapi3.Schema, key string, body []byte) {
	tb.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		tb.Fatalf("%s body %s: %v", key, body, err)
	}
	if err := schema.VisitJSON(v); err != nil {
		tb.Fatalf("%s body %s does not conform to api/openapi.yaml: %v", key, body, err)
	}
}

// eventStream collects what a consumer bound to the order exchange with
// order.# receives (on real servers), or what the embedded mode kept.
type eventStream struct {
	s    *system
	mu   sync.Mutex
	keys []string
	raw  [][]byte
}

// bindEvents binds a private queue to the system's order exchange with
// order.#, as an outside consumer would, and collects every message.
func bindEvents(tb testing.TB, s *system) *eventStream {
	tb.Helper()
	es := &eventStream{s: s}
	if s.kind == "embedded" {
		return es
	}
	_, ch := dialBroker(tb)
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, "order.#", s.topology.Exchange, false, nil); err != nil {
		tb.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		tb.Fatal(err)
	}
	go func() {
		for d := range deliveries {
			es.mu.Lock()
			es.keys = append(es.keys, d.RoutingKey)
			es.raw = append(es.raw, d.Body)
			es.mu.Unlock()
		}
	}()
	return es
}

// messages returns the routing keys and bodies seen so far.
func (es *eventStream) messages() ([]string, [][]byte) {
	if es.s.kind == "embedded" {
		return es.s.api.Events.Messages()
	}
	es.mu.Lock()
	defer es.mu.Unlock()
	return append([]string(nil), es.keys...), append([][]byte(nil), es.raw...)
}

// lifecycle maps each order number to the events seen for it, as
// "order.paid" or "order.cancelled/expired", checking every body.
func (es *eventStream) lifecycle(tb testing.TB) map[string][]string {
	tb.Helper()
	keys, bodies := es.messages()
	created, changed := messageSchema(tb, "OrderCreatedMessage"), messageSchema(tb, "OrderEventMessage")
	out := make(map[string][]string)
	for i, body := range bodies {
		if keys[i] == "order.created" {
			conforms(tb, created, keys[i], body)
			var m mq.Message
			if err := json.Unmarshal(body, &m); err != nil || m.Schema != mq.SchemaVersion {
				tb.Fatalf("order.created body %s: %v", body, err)
			}
			for _, o := range m.Orders {
				out[o.OrderNo] = append(out[o.OrderNo], keys[i])
			}
			continue
		}
		conforms(tb, changed, keys[i], body)
		var m mq.EventMessage
		if err := json.Unmarshal(body, &m); err != nil {
			tb.Fatalf("%s body %s: %v", keys[i], body, err)
		}
		if m.Schema != mq.SchemaVersion || m.Event != keys[i] || m.MessageID == "" || len(m.Orders) == 0 {
			tb.Fatalf("%s body %s: want schema %d, event = routing key, a message id and orders", keys[i], body, mq.SchemaVersion)
		}
		for _, o := range m.Orders {
			if o.EventID <= 0 || o.SaleID <= 0 || o.UserID <= 0 || o.At.IsZero() || o.CreatedAt.IsZero() {
				tb.Fatalf("%s order %+v: every field is required", keys[i], o)
			}
			e := keys[i]
			if o.Reason != "" {
				e += "/" + o.Reason
			}
			out[o.OrderNo] = append(out[o.OrderNo], e)
		}
	}
	return out
}

// TestLifecycleEvents: an order bought and paid, and one left to expire,
// are told on the topic exchange — order.created for each, then order.paid
// and order.cancelled with reason expired — and only after MySQL
// committed each change.
func TestLifecycleEvents(t *testing.T) {
	for _, kind := range []string{"redis", "embedded"} {
		t.Run(kind, func(t *testing.T) {
			s := newSystem(t, kind, fastSweep)
			events := bindEvents(t, s)
			sale := s.createSaleWindow(t, 5, 0, shortWindow)
			payer, idle := s.token(t, 51), s.token(t, 52)
			s.startWorker()
			s.startBackground()

			paid := s.buyOK(t, sale, payer)
			expired := s.buyOK(t, sale, idle)
			eventually(t, "the order is payable", func() bool {
				r := s.pay(t, paid, payer)
				if r.status == http.StatusConflict && strings.Contains(string(r.raw), "retry") {
					return false // still being recorded
				}
				if r.status != http.StatusOK {
					t.Fatalf("pay: %d %s", r.status, r.raw)
				}
				return true
			})
			if r := s.pay(t, paid, payer); r.status != http.StatusOK { // paying again changes nothing
				t.Fatalf("pay again: %d %s", r.status, r.raw)
			}
			eventually(t, "the unpaid order is cancelled", func() bool { return s.orderStatus(t, expired, idle) == "cancelled" })

			want := map[string][]string{
				paid:    {"order.created", "order.paid"},
				expired: {"order.created", "order.cancelled/expired"},
			}
			if kind == "embedded" { // no broker: order.created stays inside
				want[paid], want[expired] = want[paid][1:], want[expired][1:]
			}
			var got map[string][]string
			eventually(t, "every event arrives", func() bool {
				got = events.lifecycle(t)
				return len(got[paid]) >= len(want[paid]) && len(got[expired]) >= len(want[expired])
			})
			for no, w := range want {
				if strings.Join(got[no], " ") != strings.Join(w, " ") {
					t.Errorf("events of %s: %v, want %v", no, got[no], w)
				}
			}
		})
	}
}
