// Command spike fires a flash sale at a running seckill api and proves its
// invariants. It reads the sale, prepares one token per user, releases every
// user at once with one purchase each, waits for the queue to drain and
// checks the sale: no more 202s than the stock left at the start, every 202
// persisted, the reconciliation consistent, no 5xx and no transport error.
//
// With -admission every user first walks the sale's admission as a buyer
// does (a challenge and its proof of work, the waiting room, polled as the
// answers say) and buys with its ticket; the summary adds what the door
// did (challenges, proofs and their CPU time, joins, time in the room,
// tickets, refusals) and checks that every purchase carried a ticket and
// that tickets came no faster than the sale's rate.
//
// Exit status: 0 when every invariant holds, 1 when one fails, 2 on a usage
// error or when the api cannot be reached before the start.
package main

import (
	"fmt"
	"os"

	"github.com/seckill/seckill/loadtest/internal/load"
)

func main() { os.Exit(load.Main("spike", run)) }

func usage(format string, args ...any) error {
	return &load.UsageError{Err: fmt.Errorf(format, args...)}
}
