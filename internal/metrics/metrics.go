// Package metrics holds seckill's Prometheus collectors. Each binary builds
// one Metrics on a registry it owns (never the global one), so tests can
// build as many as they like.
//
// It imports client_golang only, nothing of the project, so every other
// package may import it.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Purchase results, the values of the result label: a fixed set. The
// outcomes of a well-formed purchase come first; then the client's
// mistakes (4xx that say the request itself was wrong); then the server's
// failures, the only ones that mean something is broken.
const (
	ResultAccepted         = "accepted"
	ResultSoldOut          = "sold_out"
	ResultAlreadyPurchased = "already_purchased"
	ResultRateLimited      = "rate_limited"
	ResultNotActive        = "not_active"

	ResultUnauthorized    = "unauthorized"      // 401: no, bad or expired token
	ResultInvalidRequest  = "invalid_request"   // 400: a body that is not the API's
	ResultNotFound        = "not_found"         // 404: no such sale
	ResultPayloadTooLarge = "payload_too_large" // 413

	ResultUnavailable = "unavailable" // 503: a backend does not answer
	ResultError       = "error"       // 500: a server-side failure
)

// PurchaseResults is every value of the purchase result label.
var PurchaseResults = []string{
	ResultAccepted, ResultSoldOut, ResultAlreadyPurchased, ResultRateLimited, ResultNotActive,
	ResultUnauthorized, ResultInvalidRequest, ResultNotFound, ResultPayloadTooLarge,
	ResultUnavailable, ResultError,
}

// Publish failure kinds, the values of the kind label.
const (
	PublishNack         = "nack"
	PublishReturned     = "returned"
	PublishTimeout      = "timeout"
	PublishDisconnected = "disconnected"
)

// Worker store operations, the values of the operation label of
// WorkerStoreRetries.
const (
	StorePersist    = "persist"
	StoreDeadLetter = "dead_letter"
	StoreFence      = "fence"
)

// Metrics is every collector of the api and the worker. A binary registers
// all of them; the ones it never touches simply stay at zero.
type Metrics struct {
	HTTPRequests *prometheus.CounterVec   // route, method, code class
	HTTPDuration *prometheus.HistogramVec // route, method

	Purchases          *prometheus.CounterVec // result
	SoldOutFlagAnswers prometheus.Counter
	ReserveDuration    *prometheus.HistogramVec
	ReserveBatch       prometheus.Histogram
	RedisWaitShort     prometheus.Counter

	PublishDuration     prometheus.Histogram
	ConfirmsOutstanding prometheus.Gauge
	PublishFailures     *prometheus.CounterVec // kind
	Compensations       *prometheus.CounterVec // outcome: released, noop, error
	Unconfirmed         prometheus.Counter

	WorkerDeliveries      prometheus.Counter
	WorkerRedeliveries    prometheus.Counter
	WorkerBatchSize       prometheus.Histogram
	WorkerPersistDuration prometheus.Histogram
	WorkerOrders          *prometheus.CounterVec // outcome: inserted, duplicate, <reason>_cancelled, <reason>_dead_lettered
	WorkerDeadLettered    prometheus.Counter
	WorkerRetries         prometheus.Counter
	WorkerSortedBatches   prometheus.Counter
	WorkerStoreRetries    *prometheus.CounterVec // operation: persist, dead_letter, fence
	WorkerStoreUp         prometheus.Gauge

	SaleRemaining      *prometheus.GaugeVec // sale_id
	ReconcileGap       *prometheus.GaugeVec // sale_id
	ReconcileInFlight  *prometheus.GaugeVec // sale_id
	ReconcilePersisted *prometheus.GaugeVec // sale_id

	CacheRequests *prometheus.CounterVec // result: hit, miss, error

	OrdersExpired       prometheus.Counter
	ExpiryUnitsReturned prometheus.Counter
	ExpirySweepFailures prometheus.Counter

	SettleOrders         *prometheus.CounterVec // outcome: settled, republished, released, failed
	SettleFailures       prometheus.Counter
	StockRebuilds        prometheus.Counter
	SettleBound          prometheus.Gauge
	ReconcileOldestInFly *prometheus.GaugeVec // sale_id

	EventsRelayed       *prometheus.CounterVec // event: order.paid, order.cancelled
	EventRelayFailures  prometheus.Counter
	EventsOutboxPending prometheus.Gauge

	QueueMessages   *prometheus.GaugeVec // queue, role: persist, dead
	QueueConsumers  *prometheus.GaugeVec // queue, role
	WorkerLastBatch prometheus.Gauge
}

var latencyBuckets = []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// New builds the collectors and registers them, with the Go runtime and
// process collectors, on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seckill_http_requests_total", Help: "HTTP requests by route template, method and status class.",
		}, []string{"route", "method", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "seckill_http_request_duration_seconds", Help: "HTTP request latency by route template.", Buckets: latencyBuckets,
		}, []string{"route", "method"}),
		Purchases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seckill_purchases_total", Help: "Purchase attempts by result.",
		}, []string{"result"}),
		SoldOutFlagAnswers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_soldout_flag_answers_total",
			Help: "Purchases answered from this instance's local sold-out flag (409 sold_out, or already_purchased to a buyer) without a stock backend call.",
		}),
		ReserveDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "seckill_stock_reserve_duration_seconds", Help: "Stock reservation latency by backend.", Buckets: latencyBuckets,
		}, []string{"backend"}),
		ReserveBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "seckill_stock_reserve_batch_size", Help: "Reservations decided together in one backend call.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		RedisWaitShort: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_redis_wait_short_total",
			Help: "Reservation script calls after which fewer Redis replicas than SECKILL_REDIS_WAIT_REPLICAS acknowledged the write within SECKILL_REDIS_WAIT_TIMEOUT; their reservations stand.",
		}),
		PublishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "seckill_publish_confirm_duration_seconds", Help: "Time from publish to broker confirm.", Buckets: latencyBuckets,
		}),
		ConfirmsOutstanding: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seckill_publish_confirms_outstanding", Help: "Published messages waiting for a broker confirm.",
		}),
		PublishFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seckill_publish_failures_total", Help: "Publishes that did not end in a confirm, by kind.",
		}, []string{"kind"}),
		Compensations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seckill_compensations_total", Help: "Guarded stock releases, by outcome.",
		}, []string{"outcome"}),
		Unconfirmed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_publish_unconfirmed_total", Help: "Publishes with an unknown outcome left for reconciliation.",
		}),
		WorkerDeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_worker_deliveries_total", Help: "Messages received by the worker.",
		}),
		WorkerRedeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_worker_redeliveries_total", Help: "Messages received with the redelivered flag.",
		}),
		WorkerBatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "seckill_worker_batch_size", Help: "Orders persisted per transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		WorkerPersistDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "seckill_worker_persist_duration_seconds", Help: "Latency of one batch transaction.", Buckets: latencyBuckets,
		}),
		WorkerOrders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seckill_worker_orders_total", Help: "Orders handled by the worker, by outcome.",
		}, []string{"outcome"}),
		WorkerDeadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_worker_dead_lettered_total", Help: "Messages or orders recorded as dead letters in MySQL.",
		}),
		WorkerRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_worker_retries_total", Help: "Batch transactions retried after a deadlock or lock wait.",
		}),
		WorkerSortedBatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_worker_sorted_batches_total",
			Help: "Batches not written insert-first because an order was not new or did not fit (a redelivery, a buyer already stored, a sale short of stock), then sorted order by order.",
		}),
		WorkerStoreRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seckill_worker_store_retries_total",
			Help: "Store calls the worker retried after a failure (database down, timeout), holding its messages unacked, by operation.",
		}, []string{"operation"}),
		WorkerStoreUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seckill_worker_store_up", Help: "1 when the worker's last store call succeeded, 0 while it is retrying a failed one.",
		}),
		SaleRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "seckill_sale_remaining_units", Help: "Units left per sale, as last read from the stock backend.",
		}, []string{"sale_id"}),
		ReconcileGap: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "seckill_reconcile_gap_units", Help: "total − (remaining + in flight + persisted) per sale; 0 when consistent.",
		}, []string{"sale_id"}),
		ReconcileInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "seckill_reconcile_in_flight_units", Help: "Reservations not yet in MySQL per sale.",
		}, []string{"sale_id"}),
		ReconcilePersisted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "seckill_reconcile_persisted_units", Help: "Orders in MySQL, not cancelled, per sale.",
		}, []string{"sale_id"}),
		CacheRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seckill_cache_requests_total", Help: "Read-through cache lookups by result.",
		}, []string{"result"}),
		OrdersExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_orders_expired_total", Help: "Unpaid orders cancelled because their payment window closed.",
		}),
		ExpiryUnitsReturned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_expiry_units_returned_total", Help: "Units of cancelled orders given back to the stock backend by the expiry sweeper.",
		}),
		ExpirySweepFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_expiry_sweep_failures_total", Help: "Expiry sweeps that met an error (the next sweep retries).",
		}),
		SettleOrders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seckill_settle_orders_total", Help: "Stale reservations the settler handled, by outcome: settled (MySQL holds the order), republished, released (MySQL holds it cancelled), failed (left for the next pass).",
		}, []string{"outcome"}),
		SettleFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_settle_pass_failures_total", Help: "Settle passes that met an error (the next pass retries).",
		}),
		StockRebuilds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_stock_rebuilds_total", Help: "Rebuilds of lost sale stock started or finished by the settler.",
		}),
		SettleBound: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seckill_settle_bound_seconds", Help: "How long a reservation may stay in flight: SECKILL_SETTLE_AFTER plus one settle interval.",
		}),
		ReconcileOldestInFly: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "seckill_reconcile_oldest_in_flight_seconds", Help: "Age of the oldest reservation whose order MySQL does not hold yet, per sale (0 when none).",
		}, []string{"sale_id"}),
		EventsRelayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seckill_events_relayed_total", Help: "Lifecycle events relayed from the MySQL outbox to the topic exchange (confirmed by the broker), by event; a repeat after a crash counts again.",
		}, []string{"event"}),
		EventRelayFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seckill_event_relay_failures_total", Help: "Relay passes that met an error (the events stay in the outbox; the next pass retries).",
		}),
		EventsOutboxPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seckill_events_outbox_pending", Help: "Lifecycle events recorded in MySQL and not relayed yet, as of the relay's last pass.",
		}),
		QueueMessages: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "seckill_queue_messages_ready", Help: "Messages ready for delivery in a queue, as last reported by the broker.",
		}, []string{"queue", "role"}),
		QueueConsumers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "seckill_queue_consumers", Help: "Consumers of a queue, as last reported by the broker.",
		}, []string{"queue", "role"}),
		WorkerLastBatch: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seckill_worker_last_batch_timestamp_seconds", Help: "Unix time of the worker's last committed batch; 0 before the first.",
		}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.HTTPRequests, m.HTTPDuration, m.Purchases, m.SoldOutFlagAnswers, m.ReserveDuration, m.ReserveBatch,
		m.RedisWaitShort,
		m.PublishDuration, m.ConfirmsOutstanding, m.PublishFailures, m.Compensations, m.Unconfirmed,
		m.WorkerDeliveries, m.WorkerRedeliveries, m.WorkerBatchSize, m.WorkerPersistDuration,
		m.WorkerOrders, m.WorkerDeadLettered, m.WorkerRetries, m.WorkerSortedBatches,
		m.WorkerStoreRetries, m.WorkerStoreUp,
		m.SaleRemaining, m.ReconcileGap, m.ReconcileInFlight, m.ReconcilePersisted, m.CacheRequests,
		m.OrdersExpired, m.ExpiryUnitsReturned, m.ExpirySweepFailures,
		m.SettleOrders, m.SettleFailures, m.StockRebuilds, m.SettleBound, m.ReconcileOldestInFly,
		m.EventsRelayed, m.EventRelayFailures, m.EventsOutboxPending,
		m.QueueMessages, m.QueueConsumers, m.WorkerLastBatch,
	)
	return m
}

// Discard returns Metrics registered on a throwaway registry, for tests and
// tools that do not serve them.
func Discard() *Metrics { return New(prometheus.NewRegistry()) }
