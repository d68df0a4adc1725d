// Command spike fires a flash sale at a running seckill api and proves its
// invariants. It reads the sale, prepares one token per user, releases every
// user at once with one purchase each, waits for the queue to drain and
// checks the sale: no more 202s than the stock left at the start, every 202
// persisted, the reconciliation consistent, no 5xx and no transport error.
//
// Exit status: 0 when every invariant holds, 1 when one fails, 2 on a usage
// error or when the api cannot be reached before the start.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode reports err on stderr and maps it to the exit status.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "spike:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// usageError is a bad flag or an api that cannot be used before the start.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usage(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}
