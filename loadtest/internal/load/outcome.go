package load

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seckill/seckill/internal/httpapi"
)

// Outcome is the class of one purchase reply.
type Outcome int

// The outcomes a purchase can have.
const (
	Accepted         Outcome = iota // 202
	SoldOut                         // 409 sold_out
	AlreadyPurchased                // 409 already_purchased
	RateLimited                     // 429
	OtherClient                     // any other 4xx
	ServerError                     // 5xx
	TransportError                  // no complete HTTP answer
	OtherStatus                     // 1xx, 2xx other than 202, 3xx
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	"accepted", "sold_out", "already_purchased", "rate_limited", "other_4xx", "5xx", "transport_error", "other_status",
}

func (o Outcome) String() string {
	if o < 0 || o >= numOutcomes {
		return "unknown"
	}
	return outcomeNames[o]
}

// Classify maps a purchase reply (status, error code of its body, transport
// error) to its outcome.
func Classify(status int, code string, err error) Outcome {
	switch {
	case err != nil || status == 0:
		return TransportError
	case status == http.StatusAccepted:
		return Accepted
	case status == http.StatusConflict && code == httpapi.CodeSoldOut:
		return SoldOut
	case status == http.StatusConflict && code == httpapi.CodeAlreadyPurchased:
		return AlreadyPurchased
	case status == http.StatusTooManyRequests:
		return RateLimited
	case status >= 500:
		return ServerError
	case status >= 400:
		return OtherClient
	}
	return OtherStatus
}

// Counters count outcomes; safe for concurrent use.
type Counters struct {
	n [numOutcomes]atomic.Int64
}

// Add counts one reply of outcome o and returns how many of that outcome
// there are now.
func (c *Counters) Add(o Outcome) int64 { return c.n[o].Add(1) }

// Get returns how many replies of outcome o were counted.
func (c *Counters) Get(o Outcome) int64 { return c.n[o].Load() }

// Total returns how many replies were counted.
func (c *Counters) Total() int64 {
	var t int64
	for i := range c.n {
		t += c.n[i].Load()
	}
	return t
}

// Snapshot copies the counters.
func (c *Counters) Snapshot() Counts {
	return Counts{
		Accepted: c.Get(Accepted), SoldOut: c.Get(SoldOut), AlreadyPurchased: c.Get(AlreadyPurchased),
		RateLimited: c.Get(RateLimited), OtherClient: c.Get(OtherClient), ServerError: c.Get(ServerError),
		TransportError: c.Get(TransportError), OtherStatus: c.Get(OtherStatus),
	}
}

// Counts is a copy of Counters.
type Counts struct {
	Accepted         int64 `json:"accepted"`
	SoldOut          int64 `json:"sold_out"`
	AlreadyPurchased int64 `json:"already_purchased"`
	RateLimited      int64 `json:"rate_limited"`
	OtherClient      int64 `json:"other_4xx"`
	ServerError      int64 `json:"server_5xx"`
	TransportError   int64 `json:"transport_errors"`
	OtherStatus      int64 `json:"other_status"`
}

// Total is the number of replies counted.
func (c Counts) Total() int64 {
	return c.Accepted + c.SoldOut + c.AlreadyPurchased + c.RateLimited + c.OtherClient + c.ServerError +
		c.TransportError + c.OtherStatus
}

// Tally counts the detail behind the outcomes that need explaining: which
// status and code the other 4xx, 5xx and other statuses had, and the first
// transport errors. Safe for concurrent use.
type Tally struct {
	mu     sync.Mutex
	detail map[string]int64
	errs   []string
}

// maxErrSamples bounds how many transport errors a Tally keeps.
const maxErrSamples = 3

// Note records the detail of r if its outcome needs explaining.
func (t *Tally) Note(r Reply) {
	o := r.Outcome()
	switch o {
	case OtherClient, ServerError, OtherStatus:
		key := http.StatusText(r.Status)
		if r.Code != "" {
			key = r.Code
		}
		key = strconv.Itoa(r.Status) + " " + key
		t.mu.Lock()
		if t.detail == nil {
			t.detail = map[string]int64{}
		}
		t.detail[key]++
		t.mu.Unlock()
	case TransportError:
		t.mu.Lock()
		if len(t.errs) < maxErrSamples {
			t.errs = append(t.errs, r.Err.Error())
		}
		t.mu.Unlock()
	}
}

// Detail returns the counts by "status code" of the unusual replies.
func (t *Tally) Detail() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int64, len(t.detail))
	for k, v := range t.detail {
		out[k] = v
	}
	return out
}

// Errors returns the first transport errors seen.
func (t *Tally) Errors() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.errs...)
}

// Moment keeps the earliest of several marks of the same event, e.g. the
// first sold-out reply; safe for concurrent use.
type Moment struct {
	ns atomic.Int64 // 0: not marked
}

// Mark records that the event happened d after the reference time; the
// earliest mark wins.
func (m *Moment) Mark(d time.Duration) {
	v := max(int64(d), 1)
	for {
		cur := m.ns.Load()
		if cur != 0 && cur <= v {
			return
		}
		if m.ns.CompareAndSwap(cur, v) {
			return
		}
	}
}

// Get returns the earliest mark and whether there was one.
func (m *Moment) Get() (time.Duration, bool) {
	v := m.ns.Load()
	return time.Duration(v), v != 0
}
