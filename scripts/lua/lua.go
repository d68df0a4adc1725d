// Package lua holds the Redis Lua scripts of the stock backend. Each script
// is a .lua file in this directory, embedded at build time, so the same
// source runs on a Redis server and on the in-process Redis of the embedded
// mode. The key and argument layout of each script is documented at its top.
package lua

import _ "embed" // the scripts are embedded

// Reserve decides one or more reservations of one sale atomically.
//
//go:embed reserve.lua
var Reserve string

// Release moves a reservation RESERVED → CANCELLED and returns its unit once.
//
//go:embed release.lua
var Release string

// Warm loads a sale's window and rebuilds its stock and buyers from the
// persisted orders and the reservations in flight.
//
//go:embed warm.lua
var Warm string

// Restock raises a sale's total and its stock to a new total, only upwards
// and only once.
//
//go:embed restock.lua
var Restock string

// Room is a sale's waiting room: places in arrival order, let in at the
// sale's rate.
//
//go:embed room.lua
var Room string

// Resolve settles reservations whose reserve call went unanswered: it
// reports the ones that stand and bars the others for good.
//
//go:embed resolve.lua
var Resolve string
