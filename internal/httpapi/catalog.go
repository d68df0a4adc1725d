package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/seckill/seckill/internal/order"
)

// SaleCatalog serves the public listing and live counts of sales straight
// from the domain (the database and the stock backend, no cache), so that
// the counts it answers are the database's own. order.Catalog implements
// it.
type SaleCatalog interface {
	// ListSales lists up to limit sales, newest first, with their live
	// remaining stock.
	ListSales(ctx context.Context, limit int) ([]order.SaleView, error)
	// StoredSale returns one sale as the database holds it (its sold
	// count), never a cached copy, with its remaining stock.
	StoredSale(ctx context.Context, id int64) (order.SaleView, error)
}

// The bounds of GET /api/v1/sales: the newest publicSalesScanned sales are
// looked at and at most publicSalesListed of those not ended are listed.
const (
	publicSalesScanned = 100
	publicSalesListed  = 50
)

// publicListingTTL is how long one answer of GET /api/v1/sales is served
// again: however many pages poll it, one replica reads the store for it
// once per period.
const publicListingTTL = time.Second

// PublicSalesJSON is the body of GET /api/v1/sales.
type PublicSalesJSON struct {
	Sales []SaleJSON `json:"sales"`
}

// SaleStatsJSON is the body of GET /api/v1/sales/{id}/stats: a sale's
// counts for a live view. Accepted is total_stock − remaining, the units
// taken (reserved, on their way through the queue, or in the database);
// Persisted is the number of orders the database holds for the sale, not
// cancelled. Once the queue has drained, the two are equal.
type SaleStatsJSON struct {
	SaleID     int64  `json:"sale_id"`
	TotalStock int64  `json:"total_stock"`
	Remaining  int64  `json:"remaining"`
	Accepted   int64  `json:"accepted"`
	Persisted  int64  `json:"persisted"`
	Status     string `json:"status"`
}

// listingMemo keeps the last answer of GET /api/v1/sales for
// publicListingTTL. Requests that find it stale wait for one of them to
// read the store again, instead of all reading it at once.
type listingMemo struct {
	mu   sync.Mutex
	at   time.Time
	body []byte
}

// get returns the memorised body while it is fresh at now, else the body
// read returns, which it then keeps. An error is not kept.
func (m *listingMemo) get(now time.Time, read func() ([]byte, error)) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.body != nil && now.Sub(m.at) < publicListingTTL && !now.Before(m.at) {
		return m.body, nil
	}
	body, err := read()
	if err != nil {
		return nil, err
	}
	m.at, m.body = now, body
	return body, nil
}

func (h *public) listSales(c *gin.Context) {
	ctx := c.Request.Context()
	body, err := h.listing.get(time.Now(), func() ([]byte, error) { return h.readListing(ctx) })
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	c.Data(http.StatusOK, jsonType, body)
}

// readListing lists the sales that have not ended among the newest ones,
// newest first. A sale whose stock the backend does not hold (lost, or not
// warmed yet) shows the database's count as remaining, as its status does.
func (h *public) readListing(ctx context.Context) ([]byte, error) {
	list, err := h.Catalog.ListSales(ctx, publicSalesScanned)
	if err != nil {
		return nil, err
	}
	out := PublicSalesJSON{Sales: make([]SaleJSON, 0, min(len(list), publicSalesListed))}
	for _, v := range list {
		if v.Status == order.SaleEnded {
			continue
		}
		if !v.StockLoaded {
			v.Remaining = max(v.TotalStock-v.Sold, 0)
		}
		out.Sales = append(out.Sales, saleJSON(v))
		if len(out.Sales) == publicSalesListed {
			break
		}
	}
	return json.Marshal(out)
}

func (h *public) saleStats(c *gin.Context) {
	_, v, ok := callForSale(c, h.Log, "sale_id", h.Catalog.StoredSale)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, SaleStatsJSON{
		SaleID: v.ID, TotalStock: v.TotalStock, Remaining: v.Remaining,
		Accepted: max(v.TotalStock-v.Remaining, 0), Persisted: v.Sold, Status: string(v.Status),
	})
}
