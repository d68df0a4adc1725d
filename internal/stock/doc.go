// Package stock holds the stock backends: adapters that decide atomically
// whether a user gets a unit of a sale, implementing order.Stock. It
// imports the domain (order, admission), its metrics, the Lua scripts (scripts/lua),
// the group-commit primitive (groupcommit) and the log throttle
// (throttle), and nothing else of the project.
//
// The contract every backend satisfies is the suite in package stocktest.
//
// # Redis
//
// Redis runs the Lua scripts of scripts/lua. Each sale owns four keys that
// share one hash tag, so every script touches a single Redis Cluster slot:
//
//	<prefix>:{s<id>}:stock   string  units remaining
//	<prefix>:{s<id>}:buyers  hash    user_id → order_no
//	<prefix>:{s<id>}:resv    hash    order_no → "R:<user_id>" | "C:<user_id>"
//	<prefix>:{s<id>}:meta    hash    starts_at_ms, ends_at_ms, total
//
// A reserve.lua call whose reply is lost (a timeout, a reset) may have
// run: Reserve resolves it with resolve.lua under a fresh deadline, which
// reports the reservations that stand and records the others cancelled,
// so that a late copy of the lost call takes nothing. When Redis does not
// answer that either, the error is order.ErrReserveUnknown.
//
// A sale is loaded when both its stock and meta keys exist; until a warm-up
// loads it every reservation fails closed with order.ErrStockNotLoaded.
// Scripts make every check before their first write, so a rejected
// reservation writes nothing. Invariant of every sale:
// remaining + |reservations in state R| = total.
//
// # Memcached: the whole sale in one CAS'd value
//
// memcached has no scripts and no multi-key transactions, so every decision
// of the Memcached backend is one compare-and-swap on one item. A sale's
// whole state lives in ONE item, <prefix>:{s<id>}:state, stored without
// expiry (memcached_codec.go):
//
//	header   magic 'M', version 1, starts_at_ms, ends_at_ms, total,
//	         remaining (int64 big endian each), record count (uint32)
//	records  one per reservation, in the order they were made:
//	         kind byte   state R or C, "buyer" bit, "UUID" bit,
//	                     "persisted" bit
//	         order_no    16 raw bytes when it is a canonical UUID (the
//	                     service's UUIDv7), else uvarint length + bytes
//	         user_id     uvarint
//
// The buyer set (user → order_no) is the buyer bit: it is set on the
// reserved record that holds its user, at most one per user, and only on a
// reserved record. Remaining is kept in the header and checked against the
// records on every decode: remaining = total − |R|, or the value is corrupt
// and every call on it fails closed with order.ErrUnavailable.
//
// The persisted bit says that MySQL holds the record's order: the in-flight
// index of order.Stock is the reserved records without it
// (memcached_index.go). Reserve writes records without it, MarkPersisted
// sets it on reserved ones, Warm sets it on the persisted orders and keeps
// it on the records it carries over, and Release leaves it as it is (a
// cancelled record is never due). Values written before the bit existed
// decode as wholly unpersisted, which makes their reservations due for a
// check, the safe side. The time a reservation is next due is not stored
// in the value: it is the reservation time read from its order number
// (see Due), or a postponement kept in a second item of the sale,
// <prefix>:{s<id>}:postponed, which every replica's settler shares (see
// memcached_postpone.go).
//
// Reserve, Release, Settle and Warm are each a bounded loop of gets →
// decide → cas (memcached_cas.go): the decision (memcached_scripts.go, the
// rules of the Lua scripts in Go) is made on the bytes just read and
// written back only if nobody wrote in between (memcached's CAS id), so
// every decision is atomic and a rejection never writes. A lost race
// (EXISTS, NOT_FOUND, NOT_STORED) is tried again after a random pause
// whose ceiling doubles with each loss (contention jitter), up to
// casAttempts times, then the call fails with order.ErrUnavailable: never a sale on
// doubt. Under contention a loser always sees a changed value, so one that
// loses k times has watched k other writes succeed: a sale of N units
// makes at most N+1 attempts of any reservation before it reads sold out.
//
// Within one process the concurrent Reserve calls of a sale queue behind
// the CAS in flight, and the next one decides the whole queue in one CAS
// (group commit): the process's callers never race each other, a hot sale
// costs one read and one write of its value per batch instead of per
// caller, and conflicts remain only between processes. Decisions are made
// in arrival order, each at its caller's now, exactly as one by one.
//
// # Memcached: failure cases
//
//   - A crash of the caller between gets and cas: nothing was written.
//     There is no second write, so nothing can be half done: a unit and its
//     buyer and reservation appear together or not at all.
//   - A cas sent but not answered (timeout, broken connection): the write
//     may have happened. Reserve resolves the doubt: it reads the item again;
//     when the reservation is there the call succeeds, otherwise it rewrites
//     the unchanged value under the CAS id it just read, so that a late
//     arrival of the lost write fails its CAS, and only then reports
//     order.ErrUnavailable. When the item cannot be read or rewritten
//     either, the doubt stays: the error is order.ErrReserveUnknown as
//     well, and the caller must treat the reservation as possibly held
//     (order.Purchases records its order cancelled, so the settler gives
//     the unit back). Release and Warm are idempotent and report the
//     doubt as order.ErrUnavailable for the caller to retry.
//   - The item is missing (never warmed, evicted, server restarted or
//     removed from the server list): Reserve and Remaining fail closed with
//     order.ErrStockNotLoaded, Snapshot reports Loaded=false, Release is
//     order.ErrStockNotLoaded too (a rebuild may bring the reservation
//     back, so no unit counts as returned), and Warm rebuilds the sale from the
//     persisted orders alone, as order.Stock says. Reservations that were
//     in flight when the item was lost are gone with it; MySQL's guarded
//     sold counter stays the last guard against oversell. memcached must
//     run with -M (no eviction) for the items to stay.
//   - Two servers: a sale is one key, so it always lives on one server
//     (WeightedServers). Changing the server list moves keys and makes the
//     moved sales missing until a warm-up.
//
// # Memcached: size limit
//
// memcached refuses items above its item size (-I, 1 MiB by default). The
// value is kept below MemcachedMaxValueBytes, which leaves room for the key
// and the item header. A reservation under a UUID order number takes at
// most 26 bytes (20 for user ids below 2^21), so a sale holds at least
// MemcachedMaxUnits reservations, cancelled ones included. Warm refuses a
// sale with more units than that (order.ErrInvalid); a reservation that
// would grow the value past the limit (a sale with many cancellations)
// fails closed with order.ErrUnavailable. Every call reads the whole value,
// so the cost of a decision grows with the number of reservations: a large
// hot sale is faster on Redis.
package stock
