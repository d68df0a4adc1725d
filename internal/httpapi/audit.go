package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/seckill/seckill/internal/order"
)

// Actors the admin listener names when no named token matched.
const (
	// ActorAdmin is the actor of SECKILL_ADMIN_TOKEN.
	ActorAdmin = "admin"
	// ActorAnonymous is the actor of every request when no admin token is
	// configured (only allowed on a loopback admin address).
	ActorAnonymous = "anonymous"
)

// actorKey is the gin context key of the request's actor, set by bearer.
const actorKey = "seckill.admin.actor"

// defaultAuditLimit is how many entries GET /admin/v1/audit returns when
// the request names no limit.
const defaultAuditLimit = 100

// AuditEntryJSON is one entry of GET /admin/v1/audit.
type AuditEntryJSON struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail"`
}

// AuditJSON is the body of GET /admin/v1/audit.
type AuditJSON struct {
	Entries []AuditEntryJSON `json:"entries"`
}

// actor is the name of the admin token the request carried.
func actor(c *gin.Context) string {
	if a := c.GetString(actorKey); a != "" {
		return a
	}
	return ActorAnonymous
}

// entry is an audit entry of this request, made now.
func entry(c *gin.Context, action, target, detail string) order.AuditEntry {
	return order.AuditEntry{
		At: time.Now(), Actor: actor(c), Action: action, Target: target, Detail: detail,
		RemoteAddr: c.ClientIP(), Count: 1,
	}
}

// auditNote returns the request's context carrying an audit note for
// action, which the store writes in the transaction of the change,
// completed by describe from the sale the change leaves; nil when no
// audit trail is kept.
func (h *admin) auditNote(c *gin.Context, action string, describe func(*order.AuditEntry, order.Sale)) (context.Context, *order.AuditNote) {
	if h.Audit == nil {
		return c.Request.Context(), nil
	}
	n := &order.AuditNote{Entry: entry(c, action, "", ""), Describe: describe}
	return order.WithAuditNote(c.Request.Context(), n), n
}

// auditUnlessWritten records a change whose note no transaction carried
// (a repository that writes no audit trail itself), completed from after.
func (h *admin) auditUnlessWritten(c *gin.Context, n *order.AuditNote, after order.Sale) {
	if n == nil || n.Written() {
		return
	}
	e := n.Complete(after)
	h.audit(c, e.Action, e.Target, e.Detail)
}

// audit records a change that has been made. A failed write is logged,
// not answered: the change stands, and the client must learn that it
// happened.
func (h *admin) audit(c *gin.Context, action, target, detail string) {
	if h.Audit == nil {
		return
	}
	if err := h.Audit.RecordAudit(c.Request.Context(), entry(c, action, target, detail)); err != nil {
		h.Log.ErrorContext(c.Request.Context(), "audit entry not written", "action", action, "target", target,
			"actor", actor(c), "err", err)
	}
}

// auditCounted records a frequent change (token minting) in the entry of
// its actor, action and minute, so that a load tool minting thousands of
// tokens adds one entry a minute.
func (h *admin) auditCounted(c *gin.Context, action, target, detail string) {
	if h.Audit == nil {
		return
	}
	if err := h.Audit.CountAudit(c.Request.Context(), entry(c, action, target, detail)); err != nil {
		h.Log.ErrorContext(c.Request.Context(), "audit entry not counted", "action", action,
			"actor", actor(c), "err", err)
	}
}

func (h *admin) listAudit(c *gin.Context) {
	limit, err := queryLimit(c, defaultAuditLimit, order.MaxAuditEntries)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	list, err := h.Audit.AuditEntries(c.Request.Context(), limit)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	out := AuditJSON{Entries: make([]AuditEntryJSON, len(list))}
	for i, e := range list {
		detail := e.Detail
		if e.Count > 1 {
			detail = fmt.Sprintf("%s (%d times in this minute)", e.Detail, e.Count)
		}
		out.Entries[i] = AuditEntryJSON{
			At: e.At.UTC().Truncate(time.Second), Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: detail,
		}
	}
	c.JSON(http.StatusOK, out)
}
