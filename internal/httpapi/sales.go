package httpapi

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/seckill/seckill/internal/order"
)

// defaultSalesLimit is how many sales GET /admin/v1/sales lists when the
// request names no limit.
const defaultSalesLimit = 100

// AdminSaleJSON is one sale of GET /admin/v1/sales: the sale as the API
// shows it, with remaining null and stock_loaded false when the stock
// backend does not hold the sale (lost, or not warmed yet); status then
// follows MySQL's count until a warm-up.
type AdminSaleJSON struct {
	SaleJSON
	Remaining   *int64 `json:"remaining"`
	StockLoaded bool   `json:"stock_loaded"`
}

// SalesJSON is the body of GET /admin/v1/sales.
type SalesJSON struct {
	Sales []AdminSaleJSON `json:"sales"`
}

func (h *admin) listSales(c *gin.Context) {
	limit, err := queryLimit(c, defaultSalesLimit, order.MaxSalesListed)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	list, err := h.Sales.ListSales(c.Request.Context(), limit)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	out := SalesJSON{Sales: make([]AdminSaleJSON, len(list))}
	for i, v := range list {
		out.Sales[i] = AdminSaleJSON{SaleJSON: saleJSON(v), StockLoaded: v.StockLoaded}
		if v.StockLoaded {
			rem := v.Remaining
			out.Sales[i].Remaining = &rem
		}
	}
	c.JSON(http.StatusOK, out)
}

// AddStockJSON is the body of POST /admin/v1/sales/{id}/stock.
type AddStockJSON struct {
	Add       int64  `json:"add"`
	RequestID string `json:"request_id,omitempty"`
}

// addStockBody is AddStockJSON as it is decoded.
type addStockBody struct {
	Add       *int64  `json:"add"`
	RequestID *string `json:"request_id"`
}

// requestIDForm is the form of request_id.
var requestIDForm = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,100}$`)

// requestIDOf checks the optional request_id of an admin change: "" when
// left out.
func requestIDOf(id *string) (string, error) {
	if id == nil {
		return "", nil
	}
	if !requestIDForm.MatchString(*id) {
		return "", order.Invalid("request_id must be 1 to 100 letters, digits or . _ : -")
	}
	return *id, nil
}

func (h *admin) addStock(c *gin.Context) {
	id, err := parseID(c.Param("id"))
	if err != nil {
		writeError(c, h.Log, order.ErrSaleNotFound)
		return
	}
	var in addStockBody
	if err := decodeStrict(c.Request, h.BodyLimit, &in, false); err != nil {
		writeError(c, h.Log, err)
		return
	}
	if in.Add == nil {
		writeError(c, h.Log, required(field{"add", fmt.Sprintf("the units to add, an integer from 1 to %d", order.MaxStockAdd)}))
		return
	}
	requestID, err := requestIDOf(in.RequestID)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	// The entry is written in the transaction that raises the total. A
	// retry with the same request_id adds nothing and records nothing.
	ctx, note := h.auditNote(c, order.AuditSaleStockAdded, func(e *order.AuditEntry, v order.Sale) {
		e.Target = order.SaleTarget(v.ID)
		e.Detail = fmt.Sprintf("add %d, request_id %q, total_stock %d", *in.Add, requestID, v.TotalStock)
	})
	v, err := h.Sales.AddStock(ctx, id, *in.Add, requestID)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	h.Log.InfoContext(c.Request.Context(), "sale stock added", "sale_id", id, "add", *in.Add, "request_id", requestID,
		"total_stock", v.TotalStock, "remaining", v.Remaining)
	h.auditUnlessWritten(c, note, v.Sale)
	c.JSON(http.StatusOK, saleJSON(v))
}

// queryLimit reads the optional ?limit= of a listing: an integer from 1 to
// most, def when absent. A bad value is ErrInvalid in the API's words.
func queryLimit(c *gin.Context, def, most int) (int, error) {
	q, ok := c.GetQuery("limit")
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 || n > most {
		return 0, order.Invalidf("limit must be an integer between 1 and %d", most)
	}
	return n, nil
}
