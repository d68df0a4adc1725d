package load

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// NewFlagSet returns the flag set of a tool: parse errors and -h go to
// stderr, and the usage text is "usage: <tool> [flags]", about, then every
// flag but the hidden ones (flags a tool passes to its own child
// processes).
func NewFlagSet(tool, about string, stderr io.Writer, hidden ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(tool, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: "+tool+" [flags]\n\n"+about+"\n\nflags:")
		if len(hidden) == 0 {
			fs.PrintDefaults()
			return
		}
		fs.VisitAll(func(f *flag.Flag) {
			for _, h := range hidden {
				if f.Name == h {
					return
				}
			}
			name, use := flag.UnquoteUsage(f)
			fmt.Fprintf(fs.Output(), "  -%s %s\n    \t%s", f.Name, name, strings.ReplaceAll(use, "\n", "\n    \t"))
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(fs.Output(), " (default %s)", f.DefValue)
			}
			fmt.Fprintln(fs.Output())
		})
	}
	return fs
}

// ParseFlags parses args into fs: flag.ErrHelp for -h, a UsageError for
// any other mistake.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{Err: err}
	}
	return nil
}
