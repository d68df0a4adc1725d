// Package stock holds the stock backends, the adapters that decide
// atomically whether a user gets a unit of a sale (order.Stock), and the
// waiting rooms (Room). It imports the domain (order, admission), its
// metrics, the Lua scripts (scripts/lua), the group-commit primitive and
// the log throttle, and nothing else of the project.
//
// Every backend passes the one contract suite in package stocktest. Both
// fail closed: an error never means a unit was sold, and a call whose
// outcome is unknown says so (order.ErrReserveUnknown).
//
//   - Redis runs the Lua scripts. A sale's keys share one hash tag,
//     <prefix>:{s<id>}:stock, :buyers, :resv, :meta, :pend, so every
//     script touches one Redis Cluster slot. A sale is loaded when its
//     stock and meta keys exist; every script checks before its first
//     write, so a rejected reservation writes nothing.
//   - Memcached keeps a sale's whole state in one item and decides each
//     call with gets → decide → cas on it (memcached_cas.go), with the
//     scripts' rules written in Go (memcached_scripts.go) and the value's
//     layout in memcached_codec.go.
//
// Invariant of every sale on either backend: remaining + |reserved| =
// total. docs/design.md (The reservation) tells how each backend keeps it,
// how a lost reply is resolved, and memcached's failure cases and size
// limit.
package stock
