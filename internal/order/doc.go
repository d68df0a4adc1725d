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
package order
