package order

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// SoldOutBus carries "sale sold out" and "units are back" between api
// instances, so that one instance learning it spares every other one the
// trip to the stock backend.
type SoldOutBus interface {
	Announce(ctx context.Context, saleID int64, soldOut bool) error
}

// WithSoldOutBus shares sold-out flags with other instances. Their
// announcements reach this one through Purchases.Announced.
func WithSoldOutBus(b SoldOutBus) Option { return func(c *config) { c.bus = b } }

// soldOutMaxAge bounds how long a flag is trusted without the backend
// confirming it: should an announcement that units are back be lost, the
// flag is re-checked within this time.
const soldOutMaxAge = 3 * time.Second

// soldOutFlags is the local sold-out flag per sale. A flag becomes active
// once the sale's buyers are known, so that a buyer asking again still hears
// already_purchased with their order number instead of sold_out, and a
// sold-out request never reaches the stock backend. One instance serves
// every use case: purchases raise flags, and whichever use case brings
// units back (a release, a warm-up, added stock) drops them.
type soldOutFlags struct {
	stock interface {
		Snapshot(ctx context.Context, saleID int64) (StockSnapshot, error)
	}
	log *slog.Logger
	now func() time.Time
	bus SoldOutBus
	// maxBuyers bounds the buyer map a flag may hold; a bigger sale is not
	// flagged and keeps asking the backend.
	maxBuyers int
	m         sync.Map // sale id → *soldOutFlag
}

type soldOutFlag struct {
	expires time.Time
	buyers  map[int64]string // user → order_no they hold
}

// check answers from the flag: (orderNo, true) for a buyer, ("", true) for
// anybody else, (_, false) when there is no live flag.
func (f *soldOutFlags) check(saleID, userID int64) (string, bool) {
	v, ok := f.m.Load(saleID)
	if !ok {
		return "", false
	}
	fl := v.(*soldOutFlag)
	if fl.buyers == nil || f.now().After(fl.expires) {
		return "", false
	}
	return fl.buyers[userID], true
}

// soldOut records that the backend said sold out. The first time (or once
// the flag expired) it loads the buyers in the background and announces it.
func (f *soldOutFlags) soldOut(ctx context.Context, saleID int64, announce bool) {
	if v, ok := f.m.Load(saleID); ok {
		fl := v.(*soldOutFlag)
		if fl.buyers == nil || !f.now().After(fl.expires) {
			return // loading, or live
		}
	}
	fl := &soldOutFlag{}
	f.m.Store(saleID, fl)
	go f.load(context.WithoutCancel(ctx), saleID, fl, announce)
}

func (f *soldOutFlags) load(ctx context.Context, saleID int64, fl *soldOutFlag, announce bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	snap, err := f.stock.Snapshot(ctx, saleID)
	if err != nil || !snap.Loaded || snap.Remaining > 0 || len(snap.Reservations) > f.maxBuyers {
		f.m.CompareAndDelete(saleID, fl)
		if err != nil {
			f.log.WarnContext(ctx, "sold-out flag not set: snapshot failed", "sale_id", saleID, "err", err)
		}
		return
	}
	buyers := make(map[int64]string, len(snap.Reservations))
	for no, r := range snap.Reservations {
		if r.State == Reserved {
			buyers[r.UserID] = no
		}
	}
	live := &soldOutFlag{expires: f.now().Add(soldOutMaxAge), buyers: buyers}
	if !f.m.CompareAndSwap(saleID, fl, live) {
		return // cleared meanwhile: units came back
	}
	if announce && f.bus != nil {
		if err := f.bus.Announce(ctx, saleID, true); err != nil {
			f.log.WarnContext(ctx, "sold-out announcement failed", "sale_id", saleID, "err", err)
		}
	}
}

// available drops the flag: units came back (release, warm-up).
func (f *soldOutFlags) available(ctx context.Context, saleID int64, announce bool) {
	f.m.Delete(saleID)
	if announce && f.bus != nil {
		if err := f.bus.Announce(ctx, saleID, false); err != nil {
			f.log.WarnContext(ctx, "units-back announcement failed", "sale_id", saleID, "err", err)
		}
	}
}
