package mq

import (
	"strconv"
	"strings"
	"time"
)

// The hand-written codec of the canonical body: the exact bytes
// json.Marshal writes for a Message, which is what every seckill
// publisher sends. Encode and Decode take it first, since the worker and
// the api spend more time in encoding/json's reflection than in anything
// else they do per order; whatever it does not recognise (escapes in a
// string, other whitespace, key order or number forms, an unusual year)
// goes through encoding/json as before. Both paths give the same result
// for every body the fast one accepts (TestCodecMatchesJSON, FuzzDecodeCanonical).

// appendCanonical appends the body json.Marshal would write for m. It
// reports false, having appended nothing usable, when a value needs what
// it does not do (a string that json.Marshal would escape, a time
// json.Marshal would refuse).
func appendCanonical(b []byte, m *Message) ([]byte, bool) {
	var ok bool
	b = append(b, `{"schema":`...)
	b = strconv.AppendInt(b, int64(m.Schema), 10)
	b = append(b, `,"message_id":`...)
	if b, ok = appendPlainString(b, m.MessageID); !ok {
		return nil, false
	}
	if len(m.Orders) > 0 {
		b = append(b, `,"orders":[`...)
		for i := range m.Orders {
			o := &m.Orders[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"order_no":`...)
			if b, ok = appendPlainString(b, o.OrderNo); !ok {
				return nil, false
			}
			b = append(b, `,"sale_id":`...)
			b = strconv.AppendInt(b, o.SaleID, 10)
			b = append(b, `,"user_id":`...)
			b = strconv.AppendInt(b, o.UserID, 10)
			b = append(b, `,"reserved_at":"`...)
			if y := o.ReservedAt.Year(); y < 0 || y > 9999 || o.ReservedAt.Location() != time.UTC {
				return nil, false
			}
			b = o.ReservedAt.AppendFormat(b, time.RFC3339Nano)
			b = append(b, `"}`...)
		}
		b = append(b, ']')
	}
	if m.Fence != nil {
		b = append(b, `,"fence":{"id":`...)
		if b, ok = appendPlainString(b, m.Fence.ID); !ok {
			return nil, false
		}
		b = append(b, `,"sale_id":`...)
		b = strconv.AppendInt(b, m.Fence.SaleID, 10)
		b = append(b, '}')
	}
	return append(b, '}'), true
}

// appendPlainString appends s quoted, when json.Marshal would write it
// without escapes: printable ASCII other than '"', '\\', '<', '>', '&'.
func appendPlainString(b []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) {
			return b, false
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

func plainByte(c byte) bool {
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// canonicalReader reads a canonical body from the front; any mismatch
// sets bad, and every later read then returns zero values. The body is
// one string, so the strings read share its memory.
type canonicalReader struct {
	b   string
	bad bool
}

// lit consumes s.
func (r *canonicalReader) lit(s string) {
	if r.bad || !strings.HasPrefix(r.b, s) {
		r.bad = true
		return
	}
	r.b = r.b[len(s):]
}

// peek consumes s and reports true when the input starts with it.
func (r *canonicalReader) peek(s string) bool {
	if r.bad || !strings.HasPrefix(r.b, s) {
		return false
	}
	r.b = r.b[len(s):]
	return true
}

// str reads a quoted string without escapes.
func (r *canonicalReader) str() string {
	r.lit(`"`)
	if r.bad {
		return ""
	}
	end := strings.IndexByte(r.b, '"')
	if end < 0 {
		r.bad = true
		return ""
	}
	s := r.b[:end]
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '\\' {
			r.bad = true
			return ""
		}
	}
	r.b = r.b[end+1:]
	return s
}

// int reads an integer as JSON writes one: an optional minus and digits
// without a leading zero, within int64.
func (r *canonicalReader) int() int64 {
	if r.bad {
		return 0
	}
	n := 0
	if n < len(r.b) && r.b[n] == '-' {
		n++
	}
	digits := n
	for n < len(r.b) && r.b[n] >= '0' && r.b[n] <= '9' {
		n++
	}
	switch {
	case n == digits, n-digits > 1 && r.b[digits] == '0':
		r.bad = true
		return 0
	}
	v, err := strconv.ParseInt(r.b[:n], 10, 64)
	if err != nil {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

// time reads a quoted UTC time as time.Time.MarshalJSON writes it:
// 2006-01-02T15:04:05[.fraction]Z, a fraction of 1 to 9 digits.
func (r *canonicalReader) time() time.Time {
	s := r.str()
	if r.bad {
		return time.Time{}
	}
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
		s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		r.bad = true
		return time.Time{}
	}
	num := func(p string) int {
		v := 0
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c < '0' || c > '9' {
				r.bad = true
				return 0
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(s[0:4]), num(s[5:7]), num(s[8:10])
	hour, minute, sec := num(s[11:13]), num(s[14:16]), num(s[17:19])
	nsec := 0
	if frac := s[19 : len(s)-1]; frac != "" {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			r.bad = true
			return time.Time{}
		}
		nsec = num(frac[1:])
		for range 10 - len(frac) {
			nsec *= 10
		}
	}
	if r.bad || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		r.bad = true
		return time.Time{}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // past the end of its month
		r.bad = true
		return time.Time{}
	}
	return t
}

// decodeCanonical parses a canonical body as json.Unmarshal would. It
// reports false when the body is not in the canonical form, whether or
// not it is valid JSON: the caller then parses it with encoding/json.
func decodeCanonical(body []byte) (m Message, ok bool) {
	r := canonicalReader{b: string(body)}
	r.lit(`{"schema":`)
	m.Schema = int(r.int())
	r.lit(`,"message_id":`)
	m.MessageID = r.str()
	if r.peek(`,"orders":[`) {
		// A message carries one order per 100 bytes at least.
		m.Orders = make([]MessageOrder, 0, len(body)/100+1)
		for {
			r.lit(`{"order_no":`)
			var o MessageOrder
			o.OrderNo = r.str()
			r.lit(`,"sale_id":`)
			o.SaleID = r.int()
			r.lit(`,"user_id":`)
			o.UserID = r.int()
			r.lit(`,"reserved_at":`)
			o.ReservedAt = r.time()
			r.lit(`}`)
			if r.bad {
				return Message{}, false
			}
			m.Orders = append(m.Orders, o)
			if !r.peek(",") {
				break
			}
		}
		r.lit(`]`)
	}
	if r.peek(`,"fence":{"id":`) {
		f := MessageFence{ID: r.str()}
		r.lit(`,"sale_id":`)
		f.SaleID = r.int()
		r.lit(`}`)
		m.Fence = &f
	}
	r.lit(`}`)
	if r.bad || len(r.b) != 0 {
		return Message{}, false
	}
	return m, true
}
