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
	ResultAdmission        = "admission_refused" // 403: no ticket, or not a valid one

	ResultUnauthorized    = "unauthorized"      // 401: no, bad or expired token
	ResultInvalidRequest  = "invalid_request"   // 400: a body that is not the API's
	ResultNotFound        = "not_found"         // 404: no such sale
	ResultPayloadTooLarge = "payload_too_large" // 413

	ResultUnavailable = "unavailable" // 503: a backend does not answer
	ResultError       = "error"       // 500: a server-side failure
)

// PurchaseResults is every value of the purchase result label.
var PurchaseResults = []string{
	ResultAccepted, ResultSoldOut, ResultAlreadyPurchased, ResultRateLimited, ResultNotActive, ResultAdmission,
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
	WorkerPartitions      prometheus.Gauge

	SaleRemaining      *prometheus.GaugeVec // sale_id
	ReconcileGap       *prometheus.GaugeVec // sale_id
	ReconcileInFlight  *prometheus.GaugeVec // sale_id
	ReconcilePersisted *prometheus.GaugeVec // sale_id

	CacheRequests *prometheus.CounterVec // result: hit, miss, error

	OrdersExpired       prometheus.Counter
	ExpiryUnitsReturned prometheus.Counter
	ExpirySweepFailures prometheus.Counter

	SettleOrders         *prometheus.CounterVec // outcome: settled, republished, released, failed, deferred
	SettleFailures       prometheus.Counter
	StockRebuilds        prometheus.Counter
	SettleBound          prometheus.Gauge
	ReconcileOldestInFly *prometheus.GaugeVec // sale_id

	EventsRelayed       *prometheus.CounterVec // event: order.paid, order.cancelled
	EventRelayFailures  prometheus.Counter
	EventsOutboxPending prometheus.Gauge

	AdmissionJoins      prometheus.Counter
	AdmissionTickets    prometheus.Counter
	AdmissionRefused    *prometheus.CounterVec // reason: proof, challenge, queue_token, ticket, required
	AdmissionWaiting    *prometheus.GaugeVec   // sale_id
	AdmissionProofs     prometheus.Counter
	AdmissionChallenges prometheus.Counter

	QueueMessages   *prometheus.GaugeVec // queue, role: persist, dead
	QueueConsumers  *prometheus.GaugeVec // queue, role
	WorkerLastBatch prometheus.Gauge
}

var latencyBuckets = []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// New builds the collectors and registers them, with the Go runtime and
// process collectors, on reg.
func New(reg prometheus.Registerer) *Metrics {
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	r := registrar{reg}
	return &Metrics{
		HTTPRequests: r.counterVec("seckill_http_requests_total",
			"HTTP requests by route template, method and status class.", "route", "method", "code"),
		HTTPDuration: r.histogramVec("seckill_http_request_duration_seconds",
			"HTTP request latency by route template.", latencyBuckets, "route", "method"),
		Purchases: r.counterVec("seckill_purchases_total",
			"Purchase attempts by result.", "result"),
		SoldOutFlagAnswers: r.counter("seckill_soldout_flag_answers_total",
			"Purchases answered from this instance's local sold-out flag (409 sold_out, or already_purchased to a buyer) without a stock backend call."),
		ReserveDuration: r.histogramVec("seckill_stock_reserve_duration_seconds",
			"Stock reservation latency by backend.", latencyBuckets, "backend"),
		ReserveBatch: r.histogram("seckill_stock_reserve_batch_size",
			"Reservations decided together in one backend call.", []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}),
		RedisWaitShort: r.counter("seckill_redis_wait_short_total",
			"Reservation script calls after which fewer Redis replicas than SECKILL_REDIS_WAIT_REPLICAS acknowledged the write within SECKILL_REDIS_WAIT_TIMEOUT; their reservations stand."),
		PublishDuration: r.histogram("seckill_publish_confirm_duration_seconds",
			"Time from publish to broker confirm.", latencyBuckets),
		ConfirmsOutstanding: r.gauge("seckill_publish_confirms_outstanding",
			"Published messages waiting for a broker confirm."),
		PublishFailures: r.counterVec("seckill_publish_failures_total",
			"Publishes that did not end in a confirm, by kind.", "kind"),
		Compensations: r.counterVec("seckill_compensations_total",
			"Guarded stock releases, by outcome.", "outcome"),
		Unconfirmed: r.counter("seckill_publish_unconfirmed_total",
			"Publishes with an unknown outcome left for reconciliation."),
		WorkerDeliveries: r.counter("seckill_worker_deliveries_total",
			"Messages received by the worker."),
		WorkerRedeliveries: r.counter("seckill_worker_redeliveries_total",
			"Messages received with the redelivered flag."),
		WorkerBatchSize: r.histogram("seckill_worker_batch_size",
			"Orders persisted per transaction.", []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}),
		WorkerPersistDuration: r.histogram("seckill_worker_persist_duration_seconds",
			"Latency of one batch transaction.", latencyBuckets),
		WorkerOrders: r.counterVec("seckill_worker_orders_total",
			"Orders handled by the worker, by outcome.", "outcome"),
		WorkerDeadLettered: r.counter("seckill_worker_dead_lettered_total",
			"Messages or orders recorded as dead letters in MySQL."),
		WorkerRetries: r.counter("seckill_worker_retries_total",
			"Batch transactions retried after a deadlock or lock wait."),
		WorkerSortedBatches: r.counter("seckill_worker_sorted_batches_total",
			"Batches not written insert-first because an order was not new or did not fit (a redelivery, a buyer already stored, a sale short of stock), then sorted order by order."),
		WorkerStoreRetries: r.counterVec("seckill_worker_store_retries_total",
			"Store calls the worker retried after a failure (database down, timeout), holding its messages unacked, by operation.", "operation"),
		WorkerStoreUp: r.gauge("seckill_worker_store_up",
			"1 when the worker's last store call succeeded, 0 while it is retrying a failed one."),
		WorkerPartitions: r.gauge("seckill_worker_partitions_held",
			"Persist partitions this worker consumes (SECKILL_PERSIST_PARTITIONS > 1; with 1 it stays 0)."),
		SaleRemaining: r.gaugeVec("seckill_sale_remaining_units",
			"Units left per sale, as last read from the stock backend.", "sale_id"),
		ReconcileGap: r.gaugeVec("seckill_reconcile_gap_units",
			"total − (remaining + in flight + persisted) per sale; 0 when consistent.", "sale_id"),
		ReconcileInFlight: r.gaugeVec("seckill_reconcile_in_flight_units",
			"Reservations not yet in MySQL per sale.", "sale_id"),
		ReconcilePersisted: r.gaugeVec("seckill_reconcile_persisted_units",
			"Orders in MySQL, not cancelled, per sale.", "sale_id"),
		CacheRequests: r.counterVec("seckill_cache_requests_total",
			"Read-through cache lookups by result.", "result"),
		OrdersExpired: r.counter("seckill_orders_expired_total",
			"Unpaid orders cancelled because their payment window closed."),
		ExpiryUnitsReturned: r.counter("seckill_expiry_units_returned_total",
			"Units of cancelled orders given back to the stock backend by the expiry sweeper."),
		ExpirySweepFailures: r.counter("seckill_expiry_sweep_failures_total",
			"Expiry sweeps that met an error (the next sweep retries)."),
		SettleOrders: r.counterVec("seckill_settle_orders_total",
			"Stale reservations the settler handled, by outcome: settled (MySQL holds the order), republished, released (MySQL holds it cancelled), failed (left for the next pass), deferred (not republished while the queue held enough for the sale).", "outcome"),
		SettleFailures: r.counter("seckill_settle_pass_failures_total",
			"Settle passes that met an error (the next pass retries)."),
		StockRebuilds: r.counter("seckill_stock_rebuilds_total",
			"Rebuilds of lost sale stock started or finished by the settler."),
		SettleBound: r.gauge("seckill_settle_bound_seconds",
			"How long a reservation may stay in flight: SECKILL_SETTLE_AFTER plus one settle interval."),
		ReconcileOldestInFly: r.gaugeVec("seckill_reconcile_oldest_in_flight_seconds",
			"Age of the oldest reservation whose order MySQL does not hold yet, per sale (0 when none).", "sale_id"),
		EventsRelayed: r.counterVec("seckill_events_relayed_total",
			"Lifecycle events relayed from the MySQL outbox to the topic exchange (confirmed by the broker), by event; a repeat after a crash counts again.", "event"),
		EventRelayFailures: r.counter("seckill_event_relay_failures_total",
			"Relay passes that met an error (the events stay in the outbox; the next pass retries)."),
		EventsOutboxPending: r.gauge("seckill_events_outbox_pending",
			"Lifecycle events recorded in MySQL and not relayed yet, as of the relay's last pass."),
		AdmissionChallenges: r.counter("seckill_admission_challenges_total",
			"Proof-of-work challenges handed out."),
		AdmissionProofs: r.counter("seckill_admission_proofs_total",
			"Proofs of work accepted (each spends its challenge)."),
		AdmissionJoins: r.counter("seckill_admission_joins_total",
			"Buyers who joined a sale's admission (a waiting room, or a proof of work alone), counted once per request."),
		AdmissionTickets: r.counter("seckill_admission_tickets_total",
			"Admission tickets handed out: buyers let in to buy."),
		AdmissionRefused: r.counterVec("seckill_admission_refused_total",
			"Admission requests and purchases refused 403, by reason: proof (no work proven), challenge (forged, expired, spent, another's), queue_token, ticket (forged, expired, another's), required (a purchase without a ticket).", "reason"),
		AdmissionWaiting: r.gaugeVec("seckill_admission_waiting",
			"Buyers waiting in a sale's waiting room (places handed out and not let in yet), as this replica last saw it.", "sale_id"),
		QueueMessages: r.gaugeVec("seckill_queue_messages_ready",
			"Messages ready for delivery in a queue, as last reported by the broker.", "queue", "role"),
		QueueConsumers: r.gaugeVec("seckill_queue_consumers",
			"Consumers of a queue, as last reported by the broker.", "queue", "role"),
		WorkerLastBatch: r.gauge("seckill_worker_last_batch_timestamp_seconds",
			"Unix time of the worker's last committed batch; 0 before the first."),
	}
}

// registrar builds each collector and registers it on reg as it goes, so a
// collector of Metrics cannot be built and left unregistered.
type registrar struct{ reg prometheus.Registerer }

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	reg.MustRegister(c)
	return c
}

func (r registrar) counter(name, help string) prometheus.Counter {
	return register(r.reg, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help}))
}

func (r registrar) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return register(r.reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
}

func (r registrar) gauge(name, help string) prometheus.Gauge {
	return register(r.reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help}))
}

func (r registrar) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return register(r.reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels))
}

func (r registrar) histogram(name, help string, buckets []float64) prometheus.Histogram {
	return register(r.reg, prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}))
}

func (r registrar) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return register(r.reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels))
}

// Discard returns Metrics registered on a throwaway registry, for tests and
// tools that do not serve them.
func Discard() *Metrics { return New(prometheus.NewRegistry()) }
