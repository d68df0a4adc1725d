package order

// Fence is a marker a stock rebuild sends through the order queue behind
// every order published before it. The queue has a single active consumer
// and the worker records a fence as passed only after committing (or
// recording as dead letters) everything it received before it, so once a
// fence has passed, MySQL holds every order of the sale that was in the
// queue when the fence was sent.
type Fence struct {
	// ID names the fence (a UUID); the rebuild that sent it waits for it.
	ID     string
	SaleID int64
}
