package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// UsageError is a bad command line, or a target that cannot be used before
// the run starts: exit status 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode reports err on stderr under the tool's name and maps it to the
// exit status: 0 for none, 2 for a UsageError, 1 for any other failure.
func ExitCode(tool string, err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, tool+":", err)
	var ue *UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// Main runs a tool's run with the program's arguments, stdout and stderr,
// and returns the exit status ExitCode gives its error, for main to pass to
// os.Exit.
func Main(tool string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) int {
	return ExitCode(tool, run(context.Background(), os.Args[1:], os.Stdout, os.Stderr), os.Stderr)
}
