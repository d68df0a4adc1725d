package app

import (
	"context"
	"errors"
	"fmt"
)

// closers are the resources a process opened, closed last opened first.
// The api and the worker both register each resource as they open it, so a
// failed start closes what it opened and a shutdown closes the rest, in
// one way.
type closers struct {
	list []namedCloser
}

type namedCloser struct {
	name  string
	close func(ctx context.Context) error
}

// add registers f to close the resource name.
func (c *closers) add(name string, f func(ctx context.Context) error) {
	c.list = append(c.list, namedCloser{name, f})
}

// closeAll closes every resource, last opened first, and forgets them.
func (c *closers) closeAll(ctx context.Context) error {
	var errs []error
	for i := len(c.list) - 1; i >= 0; i-- {
		nc := c.list[i]
		if err := nc.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", nc.name, err))
		}
	}
	c.list = nil
	return errors.Join(errs...)
}
