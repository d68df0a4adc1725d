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
	"github.com/seckill/seckill/internal/store"
)

// Worker is a running worker process minus its admin socket.
type Worker struct {
	Config   config.Worker
	Metrics  *metrics.Metrics
	Registry *prometheus.Registry
	Admin    *Bound

	log    *slog.Logger
	source *mq.Source
	mover  *mq.Mover
	events *mq.Publisher // relays the outbox's lifecycle events
	store  *store.Store
	loop   *consumer.Loop
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
	if err := EnsureDatabase(ctx, cfg.MySQLDSN); err != nil {
		return nil, err
	}
	w.store, err = store.OpenMySQL(ctx, cfg.MySQLDSN, log, store.WithMetrics(w.Metrics))
	if err != nil {
		return nil, err
	}
	opts := []mq.Option{mq.WithMetrics(w.Metrics), mq.WithPrefetch(cfg.Prefetch), mq.WithConnectionName("seckill-worker")}
	if ov.Topology != nil {
		opts = append(opts, mq.WithTopology(*ov.Topology))
	}
	w.source, err = mq.DialSource(ctx, cfg.AMQPURL, log, opts...)
	if err != nil {
		return nil, err
	}
	// The broker's own dead letters (delivery limit) go to MySQL too.
	w.mover, err = mq.NewMover(cfg.AMQPURL, w.store, log, append(opts[:len(opts):len(opts)], mq.WithConnectionName("seckill-worker-dead"))...)
	if err != nil {
		return nil, err
	}
	w.events, err = mq.DialPublisher(ctx, cfg.AMQPURL, log, append(opts[:len(opts):len(opts)], mq.WithConnectionName("seckill-worker-events"))...)
	if err != nil {
		return nil, err
	}
	initWorkerSeries(w.Metrics)
	w.loop = consumer.New(w.source, lastBatchStore{BatchStore: w.store, m: w.Metrics}, log,
		consumer.WithBatchSize(cfg.BatchSize), consumer.WithBatchWait(cfg.BatchWait), consumer.WithMetrics(w.Metrics))
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
	relayEvery := w.Config.EventRelayInterval
	if relayEvery <= 0 {
		relayEvery = defaultEventRelayInterval
	}
	relayCtx, stopRelay := context.WithCancel(ctx)
	defer stopRelay()
	go func() { relayed <- newEventRelay(w.store, w.events, w.Metrics, w.log, relayEvery).run(relayCtx) }()
	err := w.loop.Run(ctx)
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
	<-relayed
	w.close()
	stopAdmin()
	return errors.Join(err, <-served)
}

func (w *Worker) close() {
	if w.events != nil {
		ctx, cancel := context.WithTimeout(context.Background(), max(w.Config.ShutdownTimeout, time.Second))
		if err := w.events.Close(ctx); err != nil {
			w.log.Warn("close rabbitmq event publisher", "err", err)
		}
		cancel()
		w.events = nil
	}
	if w.source != nil {
		if err := w.source.Close(); err != nil {
			w.log.Warn("close rabbitmq source", "err", err)
		}
		w.source = nil
	}
	if w.store != nil {
		if err := w.store.Close(); err != nil {
			w.log.Warn("close mysql", "err", err)
		}
		w.store = nil
	}
}
