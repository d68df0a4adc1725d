package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/seckill/seckill/internal/admission"
	"github.com/seckill/seckill/internal/order"
)

// TicketHeader carries an admission ticket on a purchase.
const TicketHeader = "X-Admission-Ticket"

// Admitter is the door in front of sales (admission.Gate).
type Admitter interface {
	Challenge(ctx context.Context, saleID, userID int64) (admission.Challenge, error)
	Admit(ctx context.Context, saleID, userID int64, req admission.Request) (admission.Result, error)
	// Check lets a purchase through: nil for a sale without admission, or
	// with a valid ticket.
	Check(ctx context.Context, saleID, userID int64, ticket string) error
}

// AdmissionJSON is a sale's admission setting, as created and shown.
type AdmissionJSON struct {
	RatePerSecond int64 `json:"rate_per_second"`
	PowBits       int   `json:"pow_bits"`
}

// ChallengeJSON is the answer to POST /api/v1/sales/{id}/challenge.
type ChallengeJSON struct {
	Challenge string    `json:"challenge"`
	Bits      int       `json:"bits"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TicketJSON is the 200 answer to POST /api/v1/sales/{id}/admission.
type TicketJSON struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expires_at"`
}

// WaitingJSON is the 202 answer to POST /api/v1/sales/{id}/admission.
type WaitingJSON struct {
	Position     int64  `json:"position"`
	Ahead        int64  `json:"ahead"`
	RetryAfterMs int64  `json:"retry_after_ms"`
	QueueToken   string `json:"queue_token"`
}

// admissionBody is the body of POST /api/v1/sales/{id}/admission.
type admissionBody struct {
	Challenge  string `json:"challenge"`
	Nonce      string `json:"nonce"`
	QueueToken string `json:"queue_token"`
}

// door runs the common opening of the admission routes, cheapest first as
// a purchase does: the per-IP bucket, the sale id, the token, the body and
// the per-user bucket. It answers the error itself and reports ok.
func (h *public) door(c *gin.Context, body any) (saleID, userID int64, ok bool) {
	err := func() error {
		if err := h.limitIP(c); err != nil {
			return err
		}
		var err error
		if saleID, err = parseID(c.Param("sale_id")); err != nil {
			return order.ErrSaleNotFound
		}
		if userID, err = h.Tokens.UserFromHeader(c.GetHeader("Authorization")); err != nil {
			return err
		}
		if err := decodeStrict(c.Request, h.BodyLimit, body, true); err != nil {
			return err
		}
		return h.limitUser(c, userID)
	}()
	if err != nil {
		h.admissionError(c, err)
		return 0, 0, false
	}
	return saleID, userID, true
}

func (h *public) challenge(c *gin.Context) {
	saleID, userID, ok := h.door(c, &struct{}{})
	if !ok {
		return
	}
	ch, err := h.Admission.Challenge(c.Request.Context(), saleID, userID)
	if err != nil {
		h.admissionError(c, err)
		return
	}
	h.Metrics.AdmissionChallenges.Inc()
	c.JSON(http.StatusOK, ChallengeJSON{Challenge: ch.Token, Bits: ch.Bits, ExpiresAt: ch.ExpiresAt.UTC()})
}

func (h *public) admit(c *gin.Context) {
	var in admissionBody
	saleID, userID, ok := h.door(c, &in)
	if !ok {
		return
	}
	req := admission.Request{Challenge: in.Challenge, Nonce: in.Nonce, QueueToken: in.QueueToken}
	r, err := h.Admission.Admit(c.Request.Context(), saleID, userID, req)
	if err != nil {
		h.admissionError(c, err)
		return
	}
	if r.Joined {
		h.Metrics.AdmissionJoins.Inc()
		if in.Challenge != "" {
			h.Metrics.AdmissionProofs.Inc()
		}
	}
	h.Metrics.AdmissionWaiting.WithLabelValues(strconv.FormatInt(saleID, 10)).Set(float64(r.Waiting))
	if r.Ticket != "" {
		h.Metrics.AdmissionTickets.Inc()
		c.JSON(http.StatusOK, TicketJSON{Ticket: r.Ticket, ExpiresAt: r.ExpiresAt.UTC()})
		return
	}
	c.Header("Retry-After", strconv.Itoa(retryAfter(r.RetryAfter)))
	c.JSON(http.StatusAccepted, WaitingJSON{
		Position: r.Position, Ahead: r.Ahead, RetryAfterMs: r.RetryAfter.Milliseconds(), QueueToken: r.QueueToken,
	})
}

// admissionError answers err and counts a refusal by its reason.
func (h *public) admissionError(c *gin.Context, err error) {
	h.countRefusal(err)
	writeError(c, h.Log, err)
}

// countRefusal counts a 403 of the admission by what was refused.
func (h *public) countRefusal(err error) {
	var r *admission.RefusedError
	switch {
	case errors.As(err, &r):
		h.Metrics.AdmissionRefused.WithLabelValues(r.Reason).Inc()
	case errors.Is(err, order.ErrAdmissionRequired):
		h.Metrics.AdmissionRefused.WithLabelValues("required").Inc()
	}
}
