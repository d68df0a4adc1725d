package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/consumer"
	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store"
)

// Worker is a running worker process minus its admin socket.
type Worker struct {
	Config   config.Worker
	Metrics  *metrics.Metrics
	Registry *prometheus.Registry
	Admin    *Bound

	log     *slog.Logger
	closers closers
	source  *mq.Source
	mover   *mq.Mover
	events  *mq.Publisher // relays the outbox's lifecycle events
	store   *store.Store
	loop    *consumer.Loop
	// With several persist partitions the worker consumes through these
	// instead of loop: members finds the other workers, partitions runs a
	// loop for each partition this worker holds.
	members    *mq.Members
	partitions *consumer.Partitions
}

// NewWorker connects to RabbitMQ and MySQL and binds the admin listener.
func NewWorker(ctx context.Context, cfg config.Worker, log *slog.Logger, ov Overrides) (_ *Worker, err error) {
	reg := prometheus.NewRegistry()
	w := &Worker{Config: cfg, log: log, Registry: reg, Metrics: metrics.New(reg)}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	// Each resource is registered as it is opened and closed last opened
	// first: the event publisher, the source's channel and connection,
	// then the database.
	if err := EnsureDatabase(ctx, cfg.MySQLDSN); err != nil {
		return nil, err
	}
	w.store, err = store.OpenMySQL(ctx, cfg.MySQLDSN, log, store.WithMetrics(w.Metrics))
	if err != nil {
		return nil, err
	}
	w.closers.add("mysql", func(context.Context) error { return w.store.Close() })
	opts := []mq.Option{mq.WithMetrics(w.Metrics), mq.WithPrefetch(cfg.Prefetch), mq.WithConnectionName("seckill-worker")}
	if ov.Topology != nil {
		opts = append(opts, mq.WithTopology(*ov.Topology))
	}
	w.source, err = mq.DialSource(ctx, cfg.AMQPURL, log, opts...)
	if err != nil {
		return nil, err
	}
	w.closers.add("rabbitmq source", func(context.Context) error { return w.source.Close() })
	// The broker's own dead letters (delivery limit) go to MySQL too.
	w.mover, err = mq.NewMover(cfg.AMQPURL, w.store, log, append(opts[:len(opts):len(opts)], mq.WithConnectionName("seckill-worker-dead"))...)
	if err != nil {
		return nil, err
	}
	w.events, err = mq.DialPublisher(ctx, cfg.AMQPURL, log, append(opts[:len(opts):len(opts)], mq.WithConnectionName("seckill-worker-events"))...)
	if err != nil {
		return nil, err
	}
	w.closers.add("rabbitmq event publisher", w.events.Close)
	initWorkerSeries(w.Metrics)
	newLoop := func(src order.Source) *consumer.Loop {
		return consumer.New(src, lastBatchStore{BatchStore: w.store, m: w.Metrics}, log,
			consumer.WithBatchSize(cfg.BatchSize), consumer.WithBatchWait(cfg.BatchWait), consumer.WithMetrics(w.Metrics),
			consumer.WithAckDelay(cfg.AckDelay, max(1, cfg.Prefetch/2)))
	}
	topo := mq.DefaultTopology()
	if ov.Topology != nil {
		topo = *ov.Topology
	}
	if n := topo.Partitions; n > 1 {
		// w.source stays for the queue depths; each held partition gets a
		// source (and connection) of its own.
		w.members, err = mq.NewMembers(cfg.AMQPURL, log, mq.DefaultHeartbeat, opts...)
		if err != nil {
			return nil, err
		}
		open := func(ctx context.Context, k int) (order.Source, func() error, error) {
			src, err := mq.DialSource(ctx, cfg.AMQPURL, log, append(opts[:len(opts):len(opts)],
				mq.WithPartition(k), mq.WithConnectionName(fmt.Sprintf("seckill-worker-partition-%d", k)))...)
			if err != nil {
				return nil, nil, err
			}
			return src, src.Close, nil
		}
		w.partitions = consumer.NewPartitions(n, w.members, open, newLoop, w.members.Heartbeat(), log)
		w.partitions.OnHeld(func(n int) { w.Metrics.WorkerPartitions.Set(float64(n)) })
	} else {
		w.loop = newLoop(w.source)
	}
	bound, err := Bind(Listener{Name: "admin", Addr: cfg.AdminAddr, Handler: httpapi.NewOps(reg, cfg.AdminToken, log, w.Metrics)})
	if err != nil {
		return nil, err
	}
	w.Admin = bound[0]
	return w, nil
}

// Run consumes, and moves the broker's dead letters to MySQL, until ctx
// ends. Shutdown order: cancel the consumer, finish and ack the in-flight
// batch, stop the mover, close the channel and connection, then the
// database, then the admin listener.
func (w *Worker) Run(ctx context.Context) error {
	sctx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- Serve(sctx, w.log, w.Config.ShutdownTimeout, w.Admin) }()

	probeCtx, stopProbe := context.WithCancel(ctx)
	probed := w.watchQueues(probeCtx)
	moved := make(chan error, 1)
	go func() { moved <- w.mover.Run(ctx) }()
	relayed := make(chan error, 1)
	relayCtx, stopRelay := context.WithCancel(ctx)
	defer stopRelay()
	relay := newEventRelay(w.store, w.events, w.Metrics, w.log, orDefault(w.Config.EventRelayInterval, defaultEventRelayInterval))
	go func() { relayed <- relay.run(relayCtx) }()
	var err error
	if w.partitions != nil {
		mctx, stopMembers := context.WithCancel(ctx)
		membersDone := make(chan struct{})
		go func() { _ = w.members.Run(mctx); close(membersDone) }()
		err = w.partitions.Run(ctx)
		stopMembers()
		<-membersDone
	} else {
		err = w.loop.Run(ctx)
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("consumer: %w", err)
	}
	stopProbe()
	probed()
	if merr := <-moved; merr != nil {
		err = errors.Join(err, fmt.Errorf("dead-letter mover: %w", merr))
	}
	stopRelay()
	if rerr := <-relayed; rerr != nil {
		err = errors.Join(err, fmt.Errorf("event relay: %w", rerr))
	}
	w.close()
	stopAdmin()
	return errors.Join(err, <-served)
}

// close closes what the worker opened, last opened first; a failure is
// logged, the rest is closed anyway.
func (w *Worker) close() {
	ctx, cancel := context.WithTimeout(context.Background(), max(w.Config.ShutdownTimeout, time.Second))
	defer cancel()
	if err := w.closers.closeAll(ctx); err != nil {
		w.log.Warn("worker shutdown", "err", err)
	}
}
