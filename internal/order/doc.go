// Package order is the domain of seckill: sales, orders, the purchase
// decision and the small interfaces the decision needs from its adapters
// (ports.go and beside each use case), and the ports of the persisting
// side, where accepted orders come back out of the queue and are written to
// MySQL in batches (persist.go: Source, Delivery, BatchStore, BatchResult).
//
// The package imports only the standard library and small libraries (uuid):
// no other seckill package, no gin, GORM, Redis or AMQP types. Adapters live
// in sibling packages (stock, mq, store) and are pinned to these interfaces
// with compile-time assertions in their own files.
//
// # Vocabulary
//
// Each of these words means one thing across seckill:
//
//   - persisted: MySQL holds the order. Stock.MarkPersisted takes such
//     reservations out of the in-flight index; the memcached backend's
//     records carry it as their persisted bit.
//   - settle: the settler's pass over the in-flight index (Service.Settle),
//     which marks reservations persisted, republishes or releases them.
//   - resolve: Reserve's second look at a call whose reply was lost, which
//     finds out whether the reservation stands (ErrReserveUnknown when it
//     cannot).
//   - known sold out: this instance's sold-out flag answers a purchase
//     without a backend call (Service.KnownSoldOut).
//   - announce: telling every api instance that a sale sold out or has
//     units again (SoldOutBus.Announce, Service.Announced).
package order
