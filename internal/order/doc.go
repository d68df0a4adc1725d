// Package order is the domain of seckill: sales, orders, the use cases
// that act on them, and the small interfaces those need from their
// adapters (ports.go and beside each use case), and the ports of the
// persisting side, where accepted orders come back out of the queue and
// are written to MySQL in batches (persist.go: Source, Delivery,
// BatchStore, BatchResult).
//
// The package imports only the standard library and small libraries (uuid):
// no other seckill package, no gin, GORM, Redis or AMQP types. Adapters live
// in sibling packages (stock, mq, store) and are pinned to these interfaces
// with compile-time assertions in their own files.
//
// # Use cases
//
// Each use case is a type of its own holding only the ports it uses, and
// each edge takes the one it drives: Purchases (purchase.go), Catalog
// (catalog.go, restock.go), Payments (payment.go), Settler (settle.go) and
// DeadLetterDesk (deadletter.go). New builds all five over the adapters in
// one call rather than one constructor each: they share state that must be
// one instance per process (the sold-out flags, which any use case that
// brings units back clears; the stock warmer behind CreateSale, Warmup and
// the settler's rebuilds; the unit returns of expiry, settling and
// discard), and one constructor keeps that sharing inside the package
// instead of exporting those pieces for the wiring to pass around.
//
// # Vocabulary
//
// Each of these words means one thing across seckill:
//
//   - persisted: MySQL holds the order. Stock.MarkPersisted takes such
//     reservations out of the in-flight index; the memcached backend's
//     records carry it as their persisted bit.
//   - settle: the settler's pass over the in-flight index (Settler.Settle),
//     which marks reservations persisted, republishes or releases them.
//   - resolve: Reserve's second look at a call whose reply was lost, which
//     finds out whether the reservation stands (ErrReserveUnknown when it
//     cannot).
//   - known sold out: this instance's sold-out flag answers a purchase
//     without a backend call (Purchases.KnownSoldOut).
//   - announce: telling every api instance that a sale sold out or has
//     units again (SoldOutBus.Announce, Purchases.Announced).
//   - open, closed: a dead letter is open until an operator replays or
//     discards it (DeadLetterDesk.Replay, DeadLetterDesk.Discard), which
//     closes it for good (ClosedReplayed, ClosedDiscarded).
//   - acked, rejected: what the worker tells the queue of a delivery once
//     it is done with it (Delivery.Ack, Delivery.Reject).
package order
