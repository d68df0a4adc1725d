// Package stock holds the stock backends: adapters that decide atomically
// whether a user gets a unit of a sale, implementing order.Stock.
//
// Redis runs the Lua scripts of scripts/lua. Each sale owns four keys that
// share one hash tag, so every script touches a single Redis Cluster slot:
//
//	<prefix>:{s<id>}:stock   string  units remaining
//	<prefix>:{s<id>}:buyers  hash    user_id → order_no
//	<prefix>:{s<id>}:resv    hash    order_no → "R:<user_id>" | "C:<user_id>"
//	<prefix>:{s<id>}:meta    hash    starts_at_ms, ends_at_ms, total
//
// A sale is loaded when both its stock and meta keys exist; until a warm-up
// loads it every reservation fails closed with order.ErrStockNotLoaded.
// Scripts make every check before their first write, so a rejected
// reservation writes nothing. Invariant of every sale:
// remaining + |reservations in state R| = total.
//
// The contract every backend satisfies is the suite in package stocktest.
package stock
