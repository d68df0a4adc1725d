// Package order is the domain of seckill: sales, orders, the purchase
// decision and the small interfaces the decision needs from its adapters.
//
// The package imports no gin, GORM, Redis or AMQP types. Adapters live in
// sibling packages (stock, mq, store) and are pinned to these interfaces with
// compile-time assertions in their own files.
package order
