package stock

// The CAS loop of the memcached backend: read, decide, write back under
// the CAS id; the pause between lost races; the settling of a write whose
// outcome is unknown.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/seckill/seckill/internal/order"
)

// Bounds of the CAS loops, variables so tests can tighten them: the writes
// one call may lose to other writers before it gives up, the ceilings of
// the contention jitter between them, and the reads of an in-doubt settle.
var (
	casAttempts    = 200
	casJitterFirst = 50 * time.Microsecond
	casJitterMax   = 5 * time.Millisecond
	settleAttempts = 10
)

// errInDoubt marks a write that was sent without an answer: it may or may
// not have happened.
var errInDoubt = errors.New("memcached write outcome unknown")

// unavailable reports a failed or refused call: the caller fails closed.
func unavailable(op string, saleID int64, err error) error {
	return fmt.Errorf("stock: memcached %s sale %d: %w: %w", op, saleID, order.ErrUnavailable, err)
}

// update runs the CAS loop on key. decide gets the current value (nil when
// the item is missing) and returns the value to write, nil to write
// nothing, or an error that ends the loop without a write. update returns
// nil once the decided value is stored or nothing had to be written, a
// decide error as it is, errInDoubt (wrapped) when a write went unanswered,
// and order.ErrUnavailable otherwise.
func (m *Memcached) update(ctx context.Context, op string, saleID int64, decide func(cur []byte) ([]byte, error)) error {
	return m.updateKey(ctx, op, saleID, m.Key(saleID), decide)
}

// updateKey is update on another item of the sale.
func (m *Memcached) updateKey(ctx context.Context, op string, saleID int64, key string, decide func(cur []byte) ([]byte, error)) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return unavailable(op, saleID, err)
		}
		it, err := m.client.Get(key)
		switch {
		case errors.Is(err, memcache.ErrCacheMiss):
			it = nil
		case err != nil:
			return unavailable(op, saleID, err)
		}
		var cur []byte
		if it != nil {
			cur = it.Value
		}
		next, err := decide(cur)
		if errors.Is(err, errCorrupt) {
			return unavailable(op, saleID, err)
		}
		if err != nil || next == nil || (it != nil && bytes.Equal(next, cur)) {
			return err
		}
		m.writes.Add(1)
		if it != nil {
			err = m.client.CompareAndSwap(&memcache.Item{Key: key, Value: next, CasID: it.CasID})
		} else {
			err = m.client.Add(&memcache.Item{Key: key, Value: next})
		}
		switch {
		case err == nil:
			return nil
		case lostRace(err):
			m.conflicts.Add(1)
		case neverSent(err):
			return unavailable(op, saleID, err)
		default:
			return fmt.Errorf("stock: memcached %s sale %d: %w: %w", op, saleID, errInDoubt, err)
		}
		if attempt+1 >= casAttempts {
			return unavailable(op, saleID, fmt.Errorf("gave up after %d conflicting writes", casAttempts))
		}
		if err := sleepCtx(ctx, contentionJitter(attempt)); err != nil {
			return unavailable(op, saleID, err)
		}
	}
}

// lostRace tells a conditional write that found the item changed (EXISTS),
// gone (NOT_FOUND) or already added (NOT_STORED): nothing was written.
func lostRace(err error) bool {
	return errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrCacheMiss) ||
		errors.Is(err, memcache.ErrNotStored)
}

// neverSent tells a write that surely did not reach a server, or that the
// server answered with an error: nothing was stored.
func neverSent(err error) bool {
	var cte *memcache.ConnectTimeoutError
	var op *net.OpError
	switch {
	case errors.As(err, &cte), errors.Is(err, memcache.ErrNoServers), errors.Is(err, memcache.ErrMalformedKey),
		errors.Is(err, memcache.ErrServerError):
		return true
	case errors.As(err, &op) && op.Op == "dial":
		return true
	}
	return errorReply(err)
}

// errorReply tells a storage command that the server answered with an
// error line (SERVER_ERROR object too large for cache, CLIENT_ERROR …)
// instead of STORED, EXISTS, NOT_FOUND or NOT_STORED: nothing was stored.
//
// This is the one error classified by its text. gomemcache has no
// sentinel or type for such a reply: it formats the line it did not expect
// into a plain error ("memcache: unexpected response line from \"cas\": …"),
// and its memcache.ErrServerError, checked above, is never returned for a
// storage command. TestErrorReplyIsRefused pins the text against the
// library, with a server that answers SERVER_ERROR.
func errorReply(err error) bool {
	return strings.HasPrefix(err.Error(), "memcache: unexpected response line")
}

// contentionJitter is the pause after a CAS lost to another writer for
// the (attempt+1)th time: uniform up to a ceiling that doubles with each
// loss, from casJitterFirst to casJitterMax, so that writers that collided
// spread apart instead of colliding again. It is not a policy for failures
// (those end the call); it only orders concurrent writers of one item.
func contentionJitter(attempt int) time.Duration {
	ceil := casJitterMax
	if attempt < 30 {
		ceil = min(casJitterMax, casJitterFirst<<attempt)
	}
	return rand.N(ceil) + 1
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// settleReserve resolves a reservation write that went unanswered: it
// returns nil when the write is in the item (the decided outcomes stand),
// and order.ErrUnavailable once the item is known not to hold it and never
// will: the unchanged value is rewritten under a fresh CAS id, which makes
// a late copy of the lost write fail. When it cannot tell (the item cannot
// be read, or rewritten) the error is order.ErrReserveUnknown as well: the
// write may stand.
func (m *Memcached) settleReserve(ctx context.Context, saleID int64, rs []order.Reservation, decided []error, cause error) error {
	var probe *order.Reservation
	for j, err := range decided {
		if err == nil {
			probe = &rs[j]
			break
		}
	}
	if probe == nil {
		return fmt.Errorf("%w: %w", order.ErrUnavailable, cause)
	}
	key := m.Key(saleID)
	for range settleAttempts {
		it, err := m.client.Get(key)
		switch {
		case errors.Is(err, memcache.ErrCacheMiss):
			// A missing item holds no reservation and a late CAS of the
			// lost write finds nothing to swap.
			return fmt.Errorf("%w: %w", order.ErrUnavailable, cause)
		case err != nil:
			return fmt.Errorf("%w: %w: %w (and re-reading failed: %w)", order.ErrUnavailable, order.ErrReserveUnknown, cause, err)
		}
		found, err := findReservation(it.Value, saleID, probe.OrderNo)
		if err == nil {
			if found.UserID == probe.UserID && found.State == order.Reserved {
				return nil
			}
			return fmt.Errorf("%w: %w (order %s is held as %+v)", order.ErrUnavailable, cause, probe.OrderNo, found)
		}
		if !errors.Is(err, order.ErrOrderNotFound) {
			return fmt.Errorf("%w: %w: %w (and re-reading failed: %w)", order.ErrUnavailable, order.ErrReserveUnknown, cause, err)
		}
		m.writes.Add(1)
		err = m.client.CompareAndSwap(&memcache.Item{Key: key, Value: it.Value, CasID: it.CasID})
		switch {
		case err == nil:
			return fmt.Errorf("%w: %w (settled: not reserved)", order.ErrUnavailable, cause)
		case !lostRace(err):
			return fmt.Errorf("%w: %w: %w (and settling failed: %w)", order.ErrUnavailable, order.ErrReserveUnknown, cause, err)
		}
		m.conflicts.Add(1)
		if err := sleepCtx(ctx, contentionJitter(0)); err != nil {
			break
		}
	}
	return fmt.Errorf("%w: %w: %w (unsettled)", order.ErrUnavailable, order.ErrReserveUnknown, cause)
}

// get reads the sale's value; nil when the item is missing.
func (m *Memcached) get(op string, saleID int64) ([]byte, error) {
	it, err := m.client.Get(m.Key(saleID))
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return nil, nil
	case err != nil:
		return nil, unavailable(op, saleID, err)
	}
	return it.Value, nil
}
