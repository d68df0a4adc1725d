package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/seckill/seckill/internal/order"
)

// DeadLetterAdmin is what the dead-letter routes drive:
// order.DeadLetterDesk implements it.
type DeadLetterAdmin interface {
	List(ctx context.Context, limit int) ([]order.DeadLetter, int64, error)
	Replay(ctx context.Context, ids []int64, all bool) (int, error)
	Discard(ctx context.Context, ids []int64) (int, error)
}

// defaultDeadLetterLimit is how many dead letters a list returns when the
// request names no limit.
const defaultDeadLetterLimit = 50

// DeadLetterJSON is one dead letter in GET /admin/v1/dead-letters.
type DeadLetterJSON struct {
	ID     int64           `json:"id"`
	Reason string          `json:"reason"`
	Detail string          `json:"detail"`
	DeadAt time.Time       `json:"dead_at"`
	Orders []DeadOrderJSON `json:"orders"`
}

// DeadOrderJSON is one order a dead letter holds.
type DeadOrderJSON struct {
	OrderNo string `json:"order_no"`
	SaleID  int64  `json:"sale_id"`
	UserID  int64  `json:"user_id"`
}

// DeadLettersJSON is the body of GET /admin/v1/dead-letters.
type DeadLettersJSON struct {
	DeadLetters []DeadLetterJSON `json:"dead_letters"`
	Total       int64            `json:"total"`
}

// DeadLetterIDsJSON is the body of the replay and discard routes.
type DeadLetterIDsJSON struct {
	IDs []int64 `json:"ids"`
	All bool    `json:"all"`
}

// DeadLetterDiscardJSON is the body of POST /admin/v1/dead-letters/discard:
// ids only, a discard never takes "all".
type DeadLetterDiscardJSON struct {
	IDs []int64 `json:"ids"`
}

func (h *admin) listDeadLetters(c *gin.Context) {
	limit, err := queryLimit(c, defaultDeadLetterLimit, order.MaxDeadLetterIDs)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	list, total, err := h.DeadLetters.List(c.Request.Context(), limit)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	out := DeadLettersJSON{DeadLetters: make([]DeadLetterJSON, len(list)), Total: total}
	for i, d := range list {
		orders := make([]DeadOrderJSON, len(d.Orders))
		for j, o := range d.Orders {
			orders[j] = DeadOrderJSON{OrderNo: o.OrderNo, SaleID: o.SaleID, UserID: o.UserID}
		}
		out.DeadLetters[i] = DeadLetterJSON{
			ID: d.ID, Reason: d.Reason, Detail: d.Detail, DeadAt: d.DeadAt.UTC().Truncate(time.Second), Orders: orders,
		}
	}
	c.JSON(http.StatusOK, out)
}

func (h *admin) replayDeadLetters(c *gin.Context) {
	var in DeadLetterIDsJSON
	if err := decodeStrict(c.Request, h.BodyLimit, &in, false); err != nil {
		writeError(c, h.Log, err)
		return
	}
	n, err := h.DeadLetters.Replay(c.Request.Context(), in.IDs, in.All)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	h.Log.InfoContext(c.Request.Context(), "dead letters replayed", "asked", len(in.IDs), "all", in.All, "replayed", n)
	asked := fmt.Sprintf("ids %v", in.IDs)
	if in.All {
		asked = "all"
	}
	h.audit(c, order.AuditDeadLettersReplayed, "dead letters", fmt.Sprintf("asked %s, replayed %d", asked, n))
	c.JSON(http.StatusOK, gin.H{"replayed": n})
}

func (h *admin) discardDeadLetters(c *gin.Context) {
	var in DeadLetterDiscardJSON
	if err := decodeStrict(c.Request, h.BodyLimit, &in, false); err != nil {
		writeError(c, h.Log, err)
		return
	}
	n, err := h.DeadLetters.Discard(c.Request.Context(), in.IDs)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	h.Log.InfoContext(c.Request.Context(), "dead letters discarded", "asked", len(in.IDs), "discarded", n)
	h.audit(c, order.AuditDeadLettersDiscarded, "dead letters", fmt.Sprintf("asked ids %v, discarded %d", in.IDs, n))
	c.JSON(http.StatusOK, gin.H{"discarded": n})
}
