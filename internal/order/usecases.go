package order

import (
	"log/slog"
	"time"
)

// UseCases are the domain's use cases over one set of adapters, as New
// builds them. The HTTP edge and the background passes each take the one
// they drive.
type UseCases struct {
	// Purchases decides purchases and answers a buyer's order reads.
	Purchases *Purchases
	// Catalog reads sales and carries out the admin's changes to them.
	Catalog *Catalog
	// Payments pays orders and expires the unpaid ones.
	Payments *Payments
	// Settler settles the reservations in flight and rebuilds lost stock.
	Settler *Settler
	// DeadLetterDesk lists, replays and discards dead letters.
	DeadLetterDesk *DeadLetterDesk
}

// config is what the options set; New hands each use case its part.
type config struct {
	now func() time.Time
	bus SoldOutBus
	// deadLetters keeps what the worker could not persist (WithDeadLetters).
	deadLetters DeadLetters
	// sales serves the static fields of the public sale read, in front of
	// the repository (WithSaleCache); nil reads the repository.
	sales SaleCache
	// onUnconfirmed is called for publishes whose outcome was unknown.
	onUnconfirmed func(o Order, err error)
	// settleAfter is the age past which Settle handles a reservation;
	// settleEvery is how often Settle runs.
	settleAfter, settleEvery time.Duration
	// backlog and republishBound hold a settle pass's republishing back
	// while the queue holds orders (WithSettleBacklog).
	backlog        Backlog
	republishBound int
	publishWithin  time.Duration
	// The fenced rebuild of lost stock (WithRebuilds).
	rebuilds     Rebuilds
	fencer       Fencer
	held         HeldOrders
	rebuildQuiet time.Duration
	// maxUnits bounds a sale's total_stock (WithUnitLimit); 0 is no bound.
	maxUnits int64
}

// Option configures the use cases New builds.
type Option func(*config)

// WithClock sets the clock, for tests.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// New builds the use cases over the adapters. They share one set of
// sold-out flags, one stock warmer and one way of returning units, so
// that a unit given back by any of them reopens the sale for the
// purchases of this instance.
func New(stock Stock, pub Publisher, repo Repository, log *slog.Logger, opts ...Option) UseCases {
	c := config{now: time.Now, settleAfter: DefaultSettleAfter, settleEvery: DefaultSettleInterval,
		republishBound: DefaultRepublishBound}
	for _, o := range opts {
		o(&c)
	}
	if c.publishWithin > 0 {
		c.rebuildQuiet = max(c.rebuildQuiet, c.publishWithin+publishRouteMargin)
	}
	deadline := publishDeadline(c.publishWithin)
	flags := &soldOutFlags{stock: stock, log: log, now: c.now, bus: c.bus, maxBuyers: 1 << 20}
	units := &unitReturner{stock: stock, repo: repo, flags: flags}
	find := &reservationFinder{sales: repo, stock: stock, now: c.now}
	warmer := &stockWarmer{stock: stock, repo: repo, held: c.held, rebuilds: c.rebuilds, fencer: c.fencer,
		quiet: c.rebuildQuiet, flags: flags, log: log, now: c.now}
	return UseCases{
		Purchases: &Purchases{stock: stock, pub: pub, repo: repo, tombstones: c.deadLetters, flags: flags,
			find: find, deadline: deadline, onUnconfirmed: c.onUnconfirmed, log: log, now: c.now},
		Catalog: &Catalog{stock: stock, repo: repo, sales: &saleCache{cache: c.sales, repo: repo, log: log},
			warmer: warmer, flags: flags, maxUnits: c.maxUnits, settleBound: c.settleAfter + c.settleEvery,
			log: log, now: c.now},
		Payments: &Payments{repo: repo, find: find, units: units, log: log, now: c.now},
		Settler: &Settler{stock: stock, pub: pub, repo: repo, backlog: c.backlog, republishBound: c.republishBound,
			settleAfter: c.settleAfter, deadline: deadline, warmer: warmer, units: units, flags: flags, log: log},
		DeadLetterDesk: &DeadLetterDesk{store: c.deadLetters, pub: pub, units: units, log: log, now: c.now},
	}
}
