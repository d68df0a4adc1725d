package mq

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/seckill/seckill/internal/order"
)

// codecMessages are messages the canonical codec writes itself, and some it
// hands to encoding/json.
func codecMessages() map[string]Message {
	at := time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.UTC)
	one := func(no string, sale, user int64, t time.Time) MessageOrder {
		return MessageOrder{OrderNo: no, SaleID: sale, UserID: user, ReservedAt: t}
	}
	many := make([]MessageOrder, 64)
	for i := range many {
		many[i] = one(uuid.NewString(), 7, int64(i+1)*1_000_003, at.Add(time.Duration(i)*time.Microsecond))
	}
	return map[string]Message{
		"one order":  {Schema: 1, MessageID: "m", Orders: []MessageOrder{one("0190a000-0000-7000-8000-000000000001", 1, 2, at)}},
		"64 orders":  {Schema: 1, MessageID: uuid.NewString(), Orders: many},
		"fence":      {Schema: 1, MessageID: "f", Fence: &MessageFence{ID: "f", SaleID: 9}},
		"no orders":  {Schema: 1, MessageID: "m"},
		"both":       {Schema: 1, MessageID: "m", Orders: many[:2], Fence: &MessageFence{ID: "f", SaleID: 9}},
		"empty ids":  {Schema: 0, Orders: []MessageOrder{one("", 0, 0, time.Time{})}},
		"extremes":   {Schema: -3, MessageID: "x", Orders: []MessageOrder{one("a", -9223372036854775808, 9223372036854775807, at)}},
		"whole secs": {Schema: 1, MessageID: "m", Orders: []MessageOrder{one("a", 1, 1, at.Truncate(time.Second))}},
		"millis":     {Schema: 1, MessageID: "m", Orders: []MessageOrder{one("a", 1, 1, at.Truncate(time.Millisecond))}},
		"year 9999":  {Schema: 1, MessageID: "m", Orders: []MessageOrder{one("a", 1, 1, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC))}},
		"leap day":   {Schema: 1, MessageID: "m", Orders: []MessageOrder{one("a", 1, 1, time.Date(2028, 2, 29, 0, 0, 0, 1, time.UTC))}},
		// encoding/json's own: escapes, a year it refuses, another zone.
		"escape":      {Schema: 1, MessageID: `q"<&>\`, Orders: []MessageOrder{one("tab\there", 1, 1, at)}},
		"unicode":     {Schema: 1, MessageID: "m", Orders: []MessageOrder{one("é\u2028", 1, 1, at)}},
		"bad utf-8":   {Schema: 1, MessageID: "m\xff", Orders: []MessageOrder{one("a", 1, 1, at)}},
		"year 10000":  {Schema: 1, MessageID: "m", Orders: []MessageOrder{one("a", 1, 1, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))}},
		"fixed zone":  {Schema: 1, MessageID: "m", Orders: []MessageOrder{one("a", 1, 1, at.In(time.FixedZone("x", 3600)))}},
		"fence quote": {Schema: 1, MessageID: "f", Fence: &MessageFence{ID: `"`, SaleID: 1}},
		"less than":   {Schema: 1, MessageID: "<", Orders: []MessageOrder{one("a", 1, 1, at)}},
		"greater":     {Schema: 1, MessageID: "m", Orders: []MessageOrder{one(">", 1, 1, at)}},
		"ampersand":   {Schema: 1, MessageID: "m", Orders: []MessageOrder{one("a&b", 1, 1, at)}},
		"backslash":   {Schema: 1, MessageID: `\`, Orders: []MessageOrder{one("a", 1, 1, at)}},
		"newline":     {Schema: 1, MessageID: "m", Fence: &MessageFence{ID: "\n", SaleID: 1}},
	}
}

// jsonOwn names the codecMessages the canonical codec leaves to
// encoding/json.
var jsonOwn = map[string]bool{
	"escape": true, "unicode": true, "bad utf-8": true, "fixed zone": true, "fence quote": true,
	"less than": true, "greater": true, "ampersand": true, "backslash": true, "newline": true,
}

// TestCodecMatchesJSON: for every message, marshal writes what json.Marshal
// writes, and decodeCanonical, when it takes the body, reads what
// json.Unmarshal reads. Every message that needs no escape and has a
// UTC time of a four-digit year goes through the fast paths.
func TestCodecMatchesJSON(t *testing.T) {
	for name, m := range codecMessages() {
		t.Run(name, func(t *testing.T) {
			want, wantErr := json.Marshal(&m)
			got, err := marshal(&m)
			if (err != nil) != (wantErr != nil) || string(got) != string(want) {
				t.Fatalf("marshal:\n got %s (%v)\nwant %s (%v)", got, err, want, wantErr)
			}
			if wantErr != nil {
				return
			}
			_, fast := appendCanonical(nil, &m)
			plain := !jsonOwn[name]
			if fast != plain {
				t.Errorf("appendCanonical took it: %v, want %v", fast, plain)
			}
			var viaJSON Message
			if err := json.Unmarshal(want, &viaJSON); err != nil {
				t.Fatal(err)
			}
			viaCodec, ok := decodeCanonical(want)
			if ok != plain {
				t.Errorf("decodeCanonical took %s: %v, want %v", want, ok, plain)
			}
			if ok && !reflect.DeepEqual(viaCodec, viaJSON) {
				t.Errorf("decodeCanonical:\n got %+v\nwant %+v", viaCodec, viaJSON)
			}
		})
	}
}

// TestDecodeOutsideTheCanonicalForm: valid bodies that are not byte for
// byte what seckill writes, and broken ones, go to encoding/json, and
// Decode answers what it answered before the fast path.
func TestDecodeOutsideTheCanonicalForm(t *testing.T) {
	const order1 = `{"order_no":"a","sale_id":1,"user_id":2,"reserved_at":"2026-11-28T10:00:00Z"}`
	tests := []struct {
		name string
		body string
		ok   bool // Decode succeeds
	}{
		{"canonical", `{"schema":1,"message_id":"m","orders":[` + order1 + `]}`, true},
		{"spaces", `{ "schema": 1, "message_id": "m", "orders": [` + order1 + `] }`, true},
		{"keys reordered", `{"message_id":"m","schema":1,"orders":[` + order1 + `]}`, true},
		{"key case", `{"Schema":1,"message_id":"m","orders":[` + order1 + `]}`, true},
		{"unknown key", `{"schema":1,"message_id":"m","orders":[` + order1 + `],"extra":true}`, true},
		{"escaped id", `{"schema":1,"message_id":"\u006d","orders":[` + order1 + `]}`, true},
		{"time offset", `{"schema":1,"message_id":"m","orders":[{"order_no":"a","sale_id":1,"user_id":2,"reserved_at":"2026-11-28T11:00:00+01:00"}]}`, true},
		{"time comma", `{"schema":1,"message_id":"m","orders":[{"order_no":"a","sale_id":1,"user_id":2,"reserved_at":"2026-11-28T10:00:00,5Z"}]}`, true},
		{"time lower z", `{"schema":1,"message_id":"m","orders":[{"order_no":"a","sale_id":1,"user_id":2,"reserved_at":"2026-11-28T10:00:00z"}]}`, false},
		{"february 30", `{"schema":1,"message_id":"m","orders":[{"order_no":"a","sale_id":1,"user_id":2,"reserved_at":"2026-02-30T10:00:00Z"}]}`, false},
		{"second 60", `{"schema":1,"message_id":"m","orders":[{"order_no":"a","sale_id":1,"user_id":2,"reserved_at":"2026-11-28T10:00:60Z"}]}`, false},
		{"ten digits", `{"schema":1,"message_id":"m","orders":[{"order_no":"a","sale_id":1,"user_id":2,"reserved_at":"2026-11-28T10:00:00.1234567891Z"}]}`, true},
		{"no time", `{"schema":1,"message_id":"m","orders":[{"order_no":"a","sale_id":1,"user_id":2}]}`, true},
		{"leading zero", `{"schema":1,"message_id":"m","orders":[{"order_no":"a","sale_id":01,"user_id":2,"reserved_at":"2026-11-28T10:00:00Z"}]}`, false},
		{"float id", `{"schema":1,"message_id":"m","orders":[{"order_no":"a","sale_id":1.0,"user_id":2,"reserved_at":"2026-11-28T10:00:00Z"}]}`, false},
		{"overflow", `{"schema":1,"message_id":"m","orders":[{"order_no":"a","sale_id":9223372036854775808,"user_id":2,"reserved_at":"2026-11-28T10:00:00Z"}]}`, false},
		{"schema 2", `{"schema":2,"message_id":"m","orders":[` + order1 + `]}`, false},
		{"empty orders", `{"schema":1,"message_id":"m","orders":[]}`, false},
		{"null orders", `{"schema":1,"message_id":"m","orders":null}`, false},
		{"trailing comma", `{"schema":1,"message_id":"m","orders":[` + order1 + `,]}`, false},
		{"trailing bytes", `{"schema":1,"message_id":"m","orders":[` + order1 + `]}x`, false},
		{"truncated", `{"schema":1,"message_id":"m","orders":[` + order1, false},
		{"incomplete order", `{"schema":1,"message_id":"m","orders":[{"order_no":"","sale_id":1,"user_id":2,"reserved_at":"2026-11-28T10:00:00Z"}]}`, false},
		{"fence", `{"schema":1,"message_id":"f","fence":{"id":"f","sale_id":3}}`, true},
		{"fence and orders", `{"schema":1,"message_id":"f","orders":[` + order1 + `],"fence":{"id":"f","sale_id":3}}`, false},
		{"not json", `orders`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			m, orders, err := Decode(body)
			if (err == nil) != tc.ok {
				t.Fatalf("Decode: err %v, want ok %v", err, tc.ok)
			}
			wm, wo, werr := decodeJSON(body)
			if (err == nil) != (werr == nil) || !reflect.DeepEqual(m, wm) || !reflect.DeepEqual(orders, wo) {
				t.Fatalf("Decode = %+v, %+v, %v\nencoding/json alone = %+v, %+v, %v", m, orders, err, wm, wo, werr)
			}
		})
	}
}

// decodeJSON is Decode without the canonical codec: what it did before.
func decodeJSON(body []byte) (Message, []order.Order, error) {
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return Message{}, nil, err
	}
	if m.Schema != SchemaVersion || (m.Fence != nil && (len(m.Orders) > 0 || m.Fence.ID == "" || m.Fence.SaleID <= 0)) ||
		(m.Fence == nil && len(m.Orders) == 0) {
		return Message{}, nil, errBadMessage
	}
	if m.Fence != nil {
		return m, nil, nil
	}
	out := make([]order.Order, len(m.Orders))
	for i, o := range m.Orders {
		if o.OrderNo == "" || o.SaleID <= 0 || o.UserID <= 0 {
			return Message{}, nil, errBadMessage
		}
		out[i] = order.Order{OrderNo: o.OrderNo, SaleID: o.SaleID, UserID: o.UserID, Status: order.StatusCreated, CreatedAt: o.ReservedAt}
	}
	return m, out, nil
}

var errBadMessage = errors.New("bad message")

// FuzzDecodeCanonical: whatever body decodeCanonical takes, json.Unmarshal
// takes too and reads the same message from.
func FuzzDecodeCanonical(f *testing.F) {
	for _, m := range codecMessages() {
		if b, err := json.Marshal(&m); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := decodeCanonical(body)
		if !ok {
			return
		}
		var want Message
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("decodeCanonical took %q, json.Unmarshal refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", body, got, want)
		}
	})
}

func benchOrders(n int) []order.Order {
	out := make([]order.Order, n)
	at := time.Now()
	for i := range out {
		out[i] = order.Order{OrderNo: uuid.NewString(), SaleID: 12, UserID: int64(1_000_000 + i), CreatedAt: at}
	}
	return out
}

// BenchmarkEncode and BenchmarkDecode: a message of 25 orders, the size
// the api's publisher sends under load.
func BenchmarkEncode(b *testing.B) {
	orders := benchOrders(25)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode("m", orders); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	body, err := Encode("m", benchOrders(25))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}
