package order

import "context"

// eachSale calls fn for every sale in turn and returns the first error fn
// returned: the passes over open sales (Settle, ExpireDue) go on past a
// failing sale so that one broken sale does not hold up the others. It
// stops early once ctx is done.
func eachSale(ctx context.Context, sales []Sale, fn func(Sale) error) error {
	var first error
	for _, sale := range sales {
		if err := fn(sale); err != nil && first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return first
}
