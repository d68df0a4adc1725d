package stock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/throttle"
)

// waitLogInterval is the least time between two logs of replicas that fell
// behind; the ones in between are counted in the next log.
const waitLogInterval = 10 * time.Second

// replicaWait is the Redis backend's wait for replicas after a reservation
// (WithReplicaWait).
//
// WAIT counts the replicas that acknowledged every write of the connection
// it is sent on, so it follows the script on the script's own connection:
// both go in one pipeline to the sale's master (on a Redis Cluster, the
// master of the sale's slot). A call that granted nothing carries the WAIT
// too, one round trip either way, and its answer is ignored.
//
// When fewer replicas than asked acknowledge within the timeout, the
// reservations stand: the master decided and wrote them, the buyers are
// answered as usual, and the shortfall is counted
// (seckill_redis_wait_short_total) and logged at most once per
// waitLogInterval. The wait narrows the window in which a failover loses
// acknowledged reservations (a promoted replica lacks only what it had not
// acknowledged) without closing it; the settler's merge and MySQL's guard
// remain the repair.
type replicaWait struct {
	replicas int
	timeout  time.Duration
	log      *slog.Logger
	metrics  *metrics.Metrics

	shortLog throttle.Log
}

// newReplicaWait returns the wait c asks for, or nil when it asks for none.
// It panics on a wait that cannot work: a negative count, a timeout under
// WAIT's millisecond (0 would block forever), or a client whose pipeline
// may spread over several connections.
func newReplicaWait(client redis.UniversalClient, c config) *replicaWait {
	switch {
	case c.waitReplicas < 0:
		panic(fmt.Sprintf("stock: replica wait of %d replicas: must be 0 or more", c.waitReplicas))
	case c.waitReplicas == 0:
		return nil
	case c.waitTimeout < time.Millisecond:
		panic(fmt.Sprintf("stock: replica wait timeout %v: must be at least 1ms", c.waitTimeout))
	}
	switch client.(type) {
	case *redis.Client, *redis.ClusterClient:
	default:
		panic(fmt.Sprintf("stock: replica wait needs a *redis.Client or *redis.ClusterClient, not %T", client))
	}
	return &replicaWait{replicas: c.waitReplicas, timeout: c.waitTimeout, log: c.log, metrics: c.metrics,
		shortLog: throttle.Log{Interval: waitLogInterval}}
}

// reserveWaiting runs one reserve.lua call of n reservations followed by
// WAIT on the same connection of the sale's master and returns the
// script's reply as reserveReply reads it.
func (r *Redis) reserveWaiting(ctx context.Context, keys []string, args []any, n int) ([]string, error) {
	var master *redis.Client
	switch c := r.client.(type) {
	case *redis.ClusterClient:
		m, err := c.MasterForKey(ctx, keys[0])
		if err != nil {
			return nil, err
		}
		master = m
	case *redis.Client:
		master = c
	}
	reply, acked, waitErr, err := r.wait.pipeline(ctx, master, keys, args, n, false)
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		// The master lost its script cache: EVAL runs and caches it.
		reply, acked, waitErr, err = r.wait.pipeline(ctx, master, keys, args, n, true)
	}
	if cc, ok := r.client.(*redis.ClusterClient); ok && err != nil {
		if redis.HasErrorPrefix(err, "MOVED") || redis.HasErrorPrefix(err, "ASK") {
			// The slot moved and the script did not run. The cluster client
			// follows the redirect and learns the new slot map; this one
			// call goes without a wait.
			reply, err = reserveReply(reserveScript.Run(ctx, r.client, keys, args...), n)
			if err == nil && granted(reply) {
				r.wait.short(ctx, 0, errors.New("the sale's slot moved: the call was redirected and not waited for"))
			}
			return reply, err
		}
		var rerr redis.Error
		if !errors.As(err, &rerr) {
			// The master may be gone: look up the slots again.
			cc.ReloadState(ctx)
		}
	}
	if err != nil {
		return nil, err
	}
	if granted(reply) && (waitErr != nil || acked < int64(r.wait.replicas)) {
		r.wait.short(ctx, acked, waitErr)
	}
	return reply, nil
}

// pipeline sends the reservation script (EVALSHA, or EVAL when eval) and
// WAIT in one pipeline on master, that is on one connection, and returns
// the script's reply and error apart from WAIT's.
func (w *replicaWait) pipeline(ctx context.Context, master *redis.Client, keys []string, args []any, n int, eval bool) (reply []string, acked int64, waitErr, err error) {
	var script *redis.Cmd
	var wait *redis.Cmd
	// Each command carries its own outcome; the pipeline's error is the
	// first of them.
	_, _ = master.Pipelined(ctx, func(p redis.Pipeliner) error {
		if eval {
			script = reserveScript.Eval(ctx, p, keys, args...)
		} else {
			script = reserveScript.EvalSha(ctx, p, keys, args...)
		}
		wait = p.Do(ctx, "wait", w.replicas, w.timeout.Milliseconds())
		return nil
	})
	reply, err = reserveReply(script, n)
	acked, waitErr = wait.Int64()
	return reply, acked, waitErr, err
}

// granted reports whether a reserve.lua reply holds a reservation made.
func granted(reply []string) bool {
	for i := 0; i < len(reply); i += 2 {
		if reply[i] == statusOK {
			return true
		}
	}
	return false
}

// short records a call whose reservations fewer replicas than asked
// acknowledged in time (acked of them; err when WAIT itself failed).
func (w *replicaWait) short(ctx context.Context, acked int64, err error) {
	if w.metrics != nil {
		w.metrics.RedisWaitShort.Inc()
	}
	ok, suppressed := w.shortLog.Allow(time.Now())
	if !ok {
		return
	}
	attrs := []any{"acked", acked, "want", w.replicas, "timeout", w.timeout, "suppressed_since_last_log", suppressed}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	w.log.WarnContext(ctx, "stock: fewer redis replicas than asked acknowledged reservations in time; "+
		"they stand, and a failover before the replicas catch up may lose them", attrs...)
}
