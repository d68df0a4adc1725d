package stock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/scripts/lua"
)

var _ order.Stock = (*Redis)(nil)

// The scripts, shared by every Redis: Run sends EVALSHA and falls back to
// EVAL when the server does not know the script yet.
var (
	reserveScript = redis.NewScript(lua.Reserve)
	releaseScript = redis.NewScript(lua.Release)
	warmScript    = redis.NewScript(lua.Warm)
	restockScript = redis.NewScript(lua.Restock)
	resolveScript = redis.NewScript(lua.Resolve)
)

// resolveTimeout bounds the settling of a reserve call that went
// unanswered (see resolve): a fresh deadline, since the call's own may be
// what ran out.
const resolveTimeout = time.Second

// Batch limits: the number of reservations per reserve.lua call and of
// orders per warm.lua call. They bound the arguments of one script call
// (Lua's unpack and the server's argument buffer), not the size of a batch
// or a sale.
var (
	reserveChunk = 500
	warmChunk    = 1000
)

// scanCount is the COUNT hint of the HSCAN that reads a sale's reservations.
var scanCount int64 = 1000

// snapshotAttempts bounds how often Snapshot re-reads a sale whose stock
// moved while its reservations were being scanned.
const snapshotAttempts = 3

// Redis is the stock backend on Redis: every decision is one Lua script on
// the sale's keys. It is safe for concurrent use.
type Redis struct {
	client   redis.UniversalClient
	prefix   string
	metrics  *metrics.Metrics
	wait     *replicaWait // nil: no wait for replicas
	combined combiners
}

// NewRedis returns a stock backend on client. The prefix (WithPrefix) must
// not contain '{' or '}': the sale's hash tag has to be the first one in each
// key. NewRedis panics on such a prefix, and on a replica wait
// (WithReplicaWait) that cannot work.
func NewRedis(client redis.UniversalClient, opts ...Option) *Redis {
	c := newConfig(opts)
	if c.prefix == "" || strings.ContainsAny(c.prefix, "{}") {
		panic(fmt.Sprintf("stock: invalid key prefix %q: must be non-empty and free of '{' and '}'", c.prefix))
	}
	r := &Redis{client: client, prefix: c.prefix, metrics: c.metrics, wait: newReplicaWait(client, c)}
	r.combined.opts = c.batchOpts
	r.combined.decide = func(ctx context.Context, saleID int64, rs []order.Reservation, nows []time.Time) []error {
		// One script call judges the window at one time: the latest of the
		// batch, which is when the decision is being made.
		var now time.Time
		for _, t := range nows {
			if t.After(now) {
				now = t
			}
		}
		return r.ReserveBatch(ctx, saleID, rs, now)
	}
	return r
}

// saleKeys are the keys of one sale, in the order the scripts take them.
type saleKeys struct {
	stock, buyers, resv, meta, pend string
}

func (r *Redis) keys(saleID int64) saleKeys {
	base := r.prefix + ":{s" + strconv.FormatInt(saleID, 10) + "}:"
	return saleKeys{stock: base + "stock", buyers: base + "buyers", resv: base + "resv", meta: base + "meta", pend: base + "pend"}
}

// Script statuses, as the Lua scripts reply them.
const (
	statusOK         = "OK"
	statusNotLoaded  = "NOT_LOADED"
	statusNotStarted = "NOT_STARTED"
	statusEnded      = "ENDED"
	statusSoldOut    = "SOLD_OUT"
	statusDup        = "DUP"
	statusOrderUsed  = "ORDER_USED"
	statusConflict   = "CONFLICT"
	statusOversold   = "OVERSOLD"
)

// statusErr is the one place where a script's status becomes a domain error.
// detail is the status's companion value (an order_no for DUP, ORDER_USED
// and CONFLICT). An unknown status fails closed.
func statusErr(status, detail string) error {
	switch status {
	case statusOK:
		return nil
	case statusNotLoaded:
		return order.ErrStockNotLoaded
	case statusNotStarted:
		return order.ErrNotStarted
	case statusEnded:
		return order.ErrEnded
	case statusSoldOut:
		return order.ErrSoldOut
	case statusDup:
		return &order.AlreadyPurchasedError{OrderNo: detail}
	case statusOrderUsed:
		return fmt.Errorf("%w: order number %s is already known to the sale", order.ErrInvalid, detail)
	case statusConflict:
		return fmt.Errorf("%w: order %s belongs to another user in the stock backend", order.ErrInvalid, detail)
	case statusOversold:
		return fmt.Errorf("%w: the sale holds %s more reservations than units; stock not written", order.ErrUnavailable, detail)
	default:
		return fmt.Errorf("%w: unknown stock script status %q", order.ErrUnavailable, status)
	}
}

// backendErr reports a failed call to Redis: the outcome is unknown to the
// caller, which fails closed.
func backendErr(op string, saleID int64, err error) error {
	return fmt.Errorf("stock: %s sale %d: %w: %w", op, saleID, order.ErrUnavailable, err)
}

// Warm loads the sale's window and rebuilds its stock as total − |RESERVED|
// after adding s.Persisted: not-cancelled orders as reservations with their
// buyer, cancelled ones as cancelled. Reservations in flight stay counted.
// A large sale is sent in several script calls; only the last one writes the
// window and the stock, so a sale that was not loaded stays unloaded until
// the warm-up completes.
func (r *Redis) Warm(ctx context.Context, s order.StockSale) error {
	if s.ID <= 0 || s.TotalStock < 0 || !s.EndsAt.After(s.StartsAt) {
		return fmt.Errorf("stock: warm sale %d: %w: want id > 0, total >= 0, ends after starts", s.ID, order.ErrInvalid)
	}
	for _, o := range s.Persisted {
		if o.OrderNo == "" || o.UserID <= 0 || (o.SaleID != 0 && o.SaleID != s.ID) {
			return fmt.Errorf("stock: warm sale %d: %w: persisted order %q of user %d, sale %d",
				s.ID, order.ErrInvalid, o.OrderNo, o.UserID, o.SaleID)
		}
	}
	k := r.keys(s.ID)
	keys := []string{k.stock, k.buyers, k.resv, k.meta, k.pend}
	head := []any{s.TotalStock, s.StartsAt.UnixMilli(), s.EndsAt.UnixMilli()}
	rebuild := "0"
	if s.Rebuild {
		rebuild = "1"
	}
	rest := s.Persisted
	for {
		chunk := rest[:min(len(rest), warmChunk)]
		rest = rest[len(chunk):]
		finish := "0"
		if len(rest) == 0 {
			finish = "1"
		}
		args := make([]any, 0, len(head)+2+3*len(chunk))
		args = append(args, head...)
		args = append(args, finish, rebuild)
		for _, o := range chunk {
			cancelled := "0"
			if o.Status == order.StatusCancelled {
				cancelled = "1"
			}
			args = append(args, o.OrderNo, o.UserID, cancelled)
		}
		reply, err := warmScript.Run(ctx, r.client, keys, args...).StringSlice()
		if err != nil {
			return backendErr("warm", s.ID, err)
		}
		if len(reply) != 2 {
			return backendErr("warm", s.ID, fmt.Errorf("unexpected reply %q", reply))
		}
		if err := statusErr(reply[0], reply[1]); err != nil {
			return fmt.Errorf("stock: warm sale %d: %w", s.ID, err)
		}
		if finish == "1" {
			return nil
		}
	}
}

// Restock raises the sale's total and its stock by as much to total when
// the total it holds is below; a repeat changes nothing (restock.lua).
func (r *Redis) Restock(ctx context.Context, saleID, total int64) (int64, bool, error) {
	if saleID <= 0 || total < 0 {
		return 0, false, fmt.Errorf("stock: restock sale %d: %w: want id > 0, total >= 0", saleID, order.ErrInvalid)
	}
	k := r.keys(saleID)
	reply, err := restockScript.Run(ctx, r.client, []string{k.stock, k.buyers, k.resv, k.meta, k.pend}, total).StringSlice()
	if err != nil {
		return 0, false, backendErr("restock", saleID, err)
	}
	if len(reply) != 3 {
		return 0, false, backendErr("restock", saleID, fmt.Errorf("unexpected reply %q", reply))
	}
	if err := statusErr(reply[0], reply[1]); err != nil {
		return 0, false, fmt.Errorf("stock: restock sale %d: %w", saleID, err)
	}
	rem, err := strconv.ParseInt(reply[1], 10, 64)
	if err != nil {
		return 0, false, backendErr("restock", saleID, fmt.Errorf("unexpected remaining %q", reply[1]))
	}
	return rem, reply[2] == "1", nil
}

// Reserve takes one unit for res.UserID under res.OrderNo at now.
//
// Concurrent reservations of one sale in this process are combined: while
// one script call of the sale is in flight the next callers queue, and the
// first of them decides the whole queue in the next call, in arrival order
// and at the latest of their times. The script decides each reservation
// exactly as it would alone.
func (r *Redis) Reserve(ctx context.Context, res order.Reservation, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return backendErr("reserve", res.SaleID, err)
	}
	return r.combined.reserve(ctx, res, now)
}

// ReserveBatch decides reservations of one sale together, in order, in as
// few script calls as the batch limit allows. It returns one error per
// reservation, nil for the reserved ones. A later reservation of the same
// user sees the earlier one: the same user twice gets an
// *order.AlreadyPurchasedError the second time. With a replica wait
// (WithReplicaWait) each call that granted a reservation is followed by
// WAIT on its connection; a shortfall leaves the decisions as they are.
func (r *Redis) ReserveBatch(ctx context.Context, saleID int64, rs []order.Reservation, now time.Time) []error {
	errs := make([]error, len(rs))
	pending := make([]int, 0, len(rs)) // indexes of rs sent to the script
	for i, res := range rs {
		if res.SaleID != saleID || saleID <= 0 || res.UserID <= 0 || res.OrderNo == "" {
			errs[i] = fmt.Errorf("stock: reserve sale %d: %w: reservation of user %d, sale %d, order %q",
				saleID, order.ErrInvalid, res.UserID, res.SaleID, res.OrderNo)
			continue
		}
		pending = append(pending, i)
	}
	if len(pending) == 0 {
		return errs
	}
	start := time.Now()
	k := r.keys(saleID)
	keys := []string{k.stock, k.buyers, k.resv, k.meta, k.pend}
	for len(pending) > 0 {
		chunk := pending[:min(len(pending), reserveChunk)]
		pending = pending[len(chunk):]
		args := make([]any, 0, 1+2*len(chunk))
		args = append(args, now.UnixMilli())
		for _, i := range chunk {
			args = append(args, rs[i].UserID, rs[i].OrderNo)
		}
		var reply []string
		var err error
		if r.wait == nil {
			reply, err = reserveReply(reserveScript.Run(ctx, r.client, keys, args...), len(chunk))
		} else {
			reply, err = r.reserveWaiting(ctx, keys, args, len(chunk))
		}
		switch {
		case err == nil:
			for j, i := range chunk {
				errs[i] = statusErr(reply[2*j], reply[2*j+1])
			}
		case sentUnanswered(err):
			r.resolve(ctx, saleID, rs, chunk, err, errs)
		default:
			for _, i := range chunk {
				errs[i] = backendErr("reserve", saleID, err)
			}
		}
		if r.metrics != nil {
			r.metrics.ReserveBatch.Observe(float64(len(chunk)))
		}
	}
	if r.metrics != nil {
		r.metrics.ReserveDuration.WithLabelValues("redis").Observe(time.Since(start).Seconds())
	}
	return errs
}

// reserveReply reads the reply of a reserve.lua call of n reservations as
// its flat list of status and detail pairs. The script answers the number
// n alone when every reservation is OK. A reply of another shape is an
// error.
func reserveReply(cmd *redis.Cmd, n int) ([]string, error) {
	v, err := cmd.Result()
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case int64:
		if v != int64(n) {
			return nil, fmt.Errorf("unexpected reply %d for %d reservations", v, n)
		}
		out := make([]string, 2*n)
		for i := range n {
			out[2*i] = statusOK
		}
		return out, nil
	case []any:
		if len(v) != 2*n {
			return nil, fmt.Errorf("unexpected reply of %d values for %d reservations", len(v), n)
		}
		out := make([]string, len(v))
		for i, x := range v {
			str, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("unexpected reply value %v (%T)", x, x)
			}
			out[i] = str
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply %v (%T)", v, v)
}

// sentUnanswered tells a failed script call that may have run: the command
// may have reached the server and its reply was lost (a timeout, a reset).
// A reply that is an error, a connection never made, or a client that
// never sent it (closed, pool exhausted, context ended first) ran nothing.
func sentUnanswered(err error) bool {
	var reply redis.Error
	var op *net.OpError
	switch {
	case errors.As(err, &reply), errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout):
		return false
	case errors.As(err, &op) && op.Op == "dial":
		return false
	}
	return true
}

// resolve settles the reservations rs[chunk], whose reserve call went
// unanswered with cause, with one resolve.lua call under a fresh deadline
// and sets their errors: nil for the ones that stand (the lost call ran),
// order.ErrUnavailable for the ones that do not and now never will, and
// order.ErrReserveUnknown (with order.ErrUnavailable) for all of them when
// resolving fails too: the backend is unreachable and the reservations
// may hold units.
func (r *Redis) resolve(ctx context.Context, saleID int64, rs []order.Reservation, chunk []int, cause error, errs []error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resolveTimeout)
	defer cancel()
	args := make([]any, 0, 2*len(chunk))
	for _, i := range chunk {
		args = append(args, rs[i].UserID, rs[i].OrderNo)
	}
	reply, err := resolveScript.Run(ctx, r.client, []string{r.keys(saleID).resv}, args...).StringSlice()
	if err == nil && len(reply) != len(chunk) {
		err = fmt.Errorf("unexpected reply of %d values for %d reservations", len(reply), len(chunk))
	}
	for j, i := range chunk {
		switch {
		case err != nil:
			errs[i] = fmt.Errorf("stock: reserve sale %d: %w: %w: %w (and resolving failed: %w)",
				saleID, order.ErrUnavailable, order.ErrReserveUnknown, cause, err)
		case reply[j] == "R":
			errs[i] = nil
		default:
			errs[i] = backendErr("reserve", saleID, fmt.Errorf("%w (resolved: not reserved)", cause))
		}
	}
}

// Release moves the reservation RESERVED → CANCELLED, returns the unit and
// frees the buyer. It reports whether this call made the move; an unknown or
// already cancelled order is (false, nil) and writes nothing. A held
// reservation whose stock key is missing is order.ErrStockNotLoaded and
// stays held: the next warm-up settles it.
func (r *Redis) Release(ctx context.Context, saleID int64, orderNo string) (bool, error) {
	k := r.keys(saleID)
	reply, err := releaseScript.Run(ctx, r.client, []string{k.stock, k.buyers, k.resv, k.pend}, orderNo).Result()
	if err != nil {
		return false, backendErr("release", saleID, err)
	}
	switch v := reply.(type) {
	case int64:
		return v == 1, nil
	case string:
		if err := statusErr(v, orderNo); err != nil {
			return false, fmt.Errorf("stock: release sale %d order %s: %w", saleID, orderNo, err)
		}
	}
	return false, backendErr("release", saleID, fmt.Errorf("unexpected reply %v", reply))
}

// Remaining is the live number of units left.
func (r *Redis) Remaining(ctx context.Context, saleID int64) (int64, error) {
	n, err := r.client.Get(ctx, r.keys(saleID).stock).Int64()
	switch {
	case errors.Is(err, redis.Nil):
		return 0, order.ErrStockNotLoaded
	case err != nil:
		return 0, backendErr("remaining", saleID, err)
	}
	return n, nil
}

// Lookup finds orderNo among the given sales' reservations with one
// pipelined round trip. The first sale in saleIDs that holds it wins.
func (r *Redis) Lookup(ctx context.Context, saleIDs []int64, orderNo string) (order.Reservation, error) {
	if len(saleIDs) == 0 || orderNo == "" {
		return order.Reservation{}, order.ErrOrderNotFound
	}
	cmds := make([]*redis.StringCmd, len(saleIDs))
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range saleIDs {
			cmds[i] = p.HGet(ctx, r.keys(id).resv, orderNo)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return order.Reservation{}, backendErr("lookup", saleIDs[0], err)
	}
	for i, cmd := range cmds {
		v, err := cmd.Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			return order.Reservation{}, backendErr("lookup", saleIDs[i], err)
		}
		res, err := parseReservation(saleIDs[i], orderNo, v)
		if err != nil {
			return order.Reservation{}, backendErr("lookup", saleIDs[i], err)
		}
		return res, nil
	}
	return order.Reservation{}, order.ErrOrderNotFound
}

// parseReservation reads a resv hash value, "R:<user_id>" or "C:<user_id>".
func parseReservation(saleID int64, orderNo, v string) (order.Reservation, error) {
	state, user, ok := strings.Cut(v, ":")
	uid, err := strconv.ParseInt(user, 10, 64)
	if !ok || err != nil || uid <= 0 {
		return order.Reservation{}, fmt.Errorf("malformed reservation %s = %q", orderNo, v)
	}
	res := order.Reservation{OrderNo: orderNo, SaleID: saleID, UserID: uid}
	switch state {
	case "R":
		res.State = order.Reserved
	case "C":
		res.State = order.Cancelled
	default:
		return order.Reservation{}, fmt.Errorf("malformed reservation %s = %q", orderNo, v)
	}
	return res, nil
}

// Snapshot returns the sale's remaining stock and every reservation. The
// reservations are read with HSCAN, so a large sale never blocks the server;
// when the stock moved during the scan the read is repeated, up to a few
// times, so a quiet sale always gets a consistent view.
func (r *Redis) Snapshot(ctx context.Context, saleID int64) (order.StockSnapshot, error) {
	var snap order.StockSnapshot
	for range snapshotAttempts {
		before, err := r.loaded(ctx, saleID)
		if err != nil {
			return order.StockSnapshot{}, err
		}
		resv, err := r.scanReservations(ctx, saleID)
		if err != nil {
			return order.StockSnapshot{}, err
		}
		after, err := r.loaded(ctx, saleID)
		if err != nil {
			return order.StockSnapshot{}, err
		}
		snap = order.StockSnapshot{Loaded: after.loaded, Remaining: after.remaining, Reservations: resv}
		if before == after {
			break
		}
	}
	return snap, nil
}

type loadState struct {
	loaded    bool
	remaining int64
}

// loaded reads whether the sale is loaded and its remaining stock.
func (r *Redis) loaded(ctx context.Context, saleID int64) (loadState, error) {
	k := r.keys(saleID)
	var stock *redis.StringCmd
	var meta *redis.IntCmd
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		stock = p.Get(ctx, k.stock)
		meta = p.Exists(ctx, k.meta)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return loadState{}, backendErr("snapshot", saleID, err)
	}
	n, err := stock.Int64()
	switch {
	case errors.Is(err, redis.Nil):
		return loadState{}, nil
	case err != nil:
		return loadState{}, backendErr("snapshot", saleID, err)
	}
	return loadState{loaded: meta.Val() == 1, remaining: n}, nil
}

func (r *Redis) scanReservations(ctx context.Context, saleID int64) (map[string]order.Reservation, error) {
	key := r.keys(saleID).resv
	out := make(map[string]order.Reservation)
	var cursor uint64
	for {
		kv, next, err := r.client.HScan(ctx, key, cursor, "", scanCount).Result()
		if err != nil {
			return nil, backendErr("snapshot", saleID, err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			res, err := parseReservation(saleID, kv[i], kv[i+1])
			if err != nil {
				return nil, backendErr("snapshot", saleID, err)
			}
			out[kv[i]] = res
		}
		if next == 0 {
			return out, nil
		}
		cursor = next
	}
}

// Dump returns every raw key and value the backend holds for the sale, as
// "stock", "meta/<field>", "buyers/<user_id>", "resv/<order_no>" and
// "pending/<order_no>" (the in-flight index, its due time in ms). It
// reads whole hashes at once and is meant for tests and debugging.
func (r *Redis) Dump(ctx context.Context, saleID int64) (map[string]string, error) {
	k := r.keys(saleID)
	var stock *redis.StringCmd
	var pend *redis.ZSliceCmd
	hashes := map[string]*redis.MapStringStringCmd{}
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		stock = p.Get(ctx, k.stock)
		hashes["meta"] = p.HGetAll(ctx, k.meta)
		hashes["buyers"] = p.HGetAll(ctx, k.buyers)
		hashes["resv"] = p.HGetAll(ctx, k.resv)
		pend = p.ZRangeWithScores(ctx, k.pend, 0, -1)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, backendErr("dump", saleID, err)
	}
	out := make(map[string]string)
	if v, err := stock.Result(); err == nil {
		out["stock"] = v
	}
	for name, cmd := range hashes {
		for f, v := range cmd.Val() {
			out[name+"/"+f] = v
		}
	}
	for _, z := range pend.Val() {
		out["pending/"+fmt.Sprint(z.Member)] = strconv.FormatInt(int64(z.Score), 10)
	}
	return out, nil
}

// Forget deletes every key of the sale.
func (r *Redis) Forget(ctx context.Context, saleID int64) error {
	k := r.keys(saleID)
	// The keys share a slot, so one DEL works on a cluster too.
	if err := r.client.Del(ctx, k.stock, k.buyers, k.resv, k.meta, k.pend).Err(); err != nil {
		return backendErr("forget", saleID, err)
	}
	return nil
}

// Due lists up to limit reservations of the in-flight index due before
// before, oldest first, with one ZRANGE and one HMGET. An index entry whose
// reservation is no longer RESERVED (a release that raced the read) is
// skipped and dropped from the index.
func (r *Redis) Due(ctx context.Context, saleID int64, before time.Time, limit int) ([]order.Reservation, error) {
	if limit <= 0 {
		return nil, nil
	}
	k := r.keys(saleID)
	zs, err := r.client.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{
		Key: k.pend, Start: "-inf", Stop: "(" + strconv.FormatInt(before.UnixMilli(), 10),
		ByScore: true, Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, backendErr("due", saleID, err)
	}
	if len(zs) == 0 {
		return nil, nil
	}
	nos := make([]string, len(zs))
	for i, z := range zs {
		nos[i] = fmt.Sprint(z.Member)
	}
	states, err := r.client.HMGet(ctx, k.resv, nos...).Result()
	if err != nil {
		return nil, backendErr("due", saleID, err)
	}
	out := make([]order.Reservation, 0, len(zs))
	var stale []any
	for i, v := range states {
		raw, _ := v.(string)
		res, err := parseReservation(saleID, nos[i], raw)
		if raw == "" || err != nil || res.State != order.Reserved {
			stale = append(stale, nos[i])
			continue
		}
		res.ReservedAt = order.OrderTime(nos[i])
		if res.ReservedAt.IsZero() {
			res.ReservedAt = time.UnixMilli(int64(zs[i].Score))
		}
		out = append(out, res)
	}
	if len(stale) > 0 {
		if err := r.client.ZRem(ctx, k.pend, stale...).Err(); err != nil {
			return nil, backendErr("due", saleID, err)
		}
	}
	return out, nil
}

// Postpone moves the next check of these reservations to at. ZADD XX only
// touches members already in the index.
func (r *Redis) Postpone(ctx context.Context, saleID int64, orderNos []string, at time.Time) error {
	if len(orderNos) == 0 {
		return nil
	}
	zs := make([]redis.Z, len(orderNos))
	for i, no := range orderNos {
		zs[i] = redis.Z{Score: float64(at.UnixMilli()), Member: no}
	}
	if err := r.client.ZAddXX(ctx, r.keys(saleID).pend, zs...).Err(); err != nil {
		return backendErr("postpone", saleID, err)
	}
	return nil
}

// MarkPersisted drops these reservations from the in-flight index.
func (r *Redis) MarkPersisted(ctx context.Context, saleID int64, orderNos []string) error {
	if len(orderNos) == 0 {
		return nil
	}
	members := make([]any, len(orderNos))
	for i, no := range orderNos {
		members[i] = no
	}
	if err := r.client.ZRem(ctx, r.keys(saleID).pend, members...).Err(); err != nil {
		return backendErr("mark persisted", saleID, err)
	}
	return nil
}
