package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/seckill/seckill/internal/admission"
	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/throttle"
)

// Error codes, as api/openapi.yaml lists them by status.
const (
	CodeInvalidRequest   = "invalid_request"
	CodePayloadTooLarge  = "payload_too_large"
	CodeUnauthorized     = "unauthorized"
	CodeSaleNotFound     = "sale_not_found"
	CodeOrderNotFound    = "order_not_found"
	CodeNotStarted       = "sale_not_started"
	CodeEnded            = "sale_ended"
	CodeSoldOut          = "sold_out"
	CodeAlreadyPurchased = "already_purchased"
	CodeNotPayable       = "order_not_payable"
	CodeRateLimited      = "rate_limited"
	CodeUnavailable      = "unavailable"
	CodeNotFound         = "not_found"
	CodeRebuildPending   = "rebuild_pending"
	CodeRequestIDReused  = "request_id_reused"
	CodeInternal         = "internal"
	CodeAdmissionReq     = "admission_required"
	CodeAdmissionInvalid = "admission_invalid"
)

// errPayloadTooLarge marks a body over the limit.
var errPayloadTooLarge = errors.New("request body too large")

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
	// OrderNo repeats the held order number on 409 already_purchased, and
	// names the refused purchase's order on a 503 whose reservation's
	// outcome was unknown (order.OutcomeUnknownError).
	OrderNo string `json:"order_no,omitempty"`
}

// ErrorDetail is the error object inside ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	OrderNo string `json:"order_no,omitempty"`
}

type mapped struct {
	status int
	code   string
	// result is the purchase result label: a client's mistake has its
	// own, and metrics.ResultError is kept for server-side failures.
	// Errors a purchase never meets (an unpayable order) take the
	// nearest client result.
	result string
	msg    string
	fixed  bool // msg never varies with the error
}

// classify maps an error to its HTTP status, code and purchase result. It is
// the only place that knows this mapping.
func classify(err error) mapped {
	switch {
	case errors.Is(err, errPayloadTooLarge):
		return mapped{http.StatusRequestEntityTooLarge, CodePayloadTooLarge, metrics.ResultPayloadTooLarge, "request body too large", true}
	case errors.Is(err, order.ErrInvalid):
		return mapped{http.StatusBadRequest, CodeInvalidRequest, metrics.ResultInvalidRequest, clientMessage(err, "the request is invalid"), false}
	case errors.Is(err, order.ErrUnauthorized):
		return mapped{http.StatusUnauthorized, CodeUnauthorized, metrics.ResultUnauthorized, clientMessage(err, "a valid bearer token is required"), false}
	case errors.Is(err, order.ErrSaleNotFound):
		return mapped{http.StatusNotFound, CodeSaleNotFound, metrics.ResultNotFound, "sale not found", true}
	case errors.Is(err, order.ErrOrderNotFound):
		return mapped{http.StatusNotFound, CodeOrderNotFound, metrics.ResultNotFound, "order not found", true}
	case errors.Is(err, order.ErrNotStarted):
		return mapped{http.StatusForbidden, CodeNotStarted, metrics.ResultNotActive, "the sale has not started", true}
	case errors.Is(err, order.ErrEnded):
		return mapped{http.StatusForbidden, CodeEnded, metrics.ResultNotActive, "the sale has ended", true}
	case errors.Is(err, order.ErrRebuildPending):
		return mapped{http.StatusConflict, CodeRebuildPending, metrics.ResultUnavailable,
			"the sale's stock was lost and is being rebuilt: orders accepted before the loss are still on their way to the database (is a worker running?); the rebuild finishes on its own, retry to see it done", true}
	case errors.Is(err, order.ErrRequestReused):
		return mapped{http.StatusConflict, CodeRequestIDReused, metrics.ResultInvalidRequest,
			clientMessage(err, "request_id was already used for a different change; send a new request_id"), false}
	case errors.Is(err, order.ErrSoldOut):
		return mapped{http.StatusConflict, CodeSoldOut, metrics.ResultSoldOut, "sold out", true}
	case errors.Is(err, order.ErrAlreadyPurchased):
		return mapped{http.StatusConflict, CodeAlreadyPurchased, metrics.ResultAlreadyPurchased, "you already hold an order in this sale", false}
	case errors.Is(err, order.ErrNotPayable):
		var np *order.NotPayableError
		if errors.As(err, &np) {
			return mapped{http.StatusConflict, CodeNotPayable, metrics.ResultInvalidRequest, "the order cannot be paid: " + np.Reason, false}
		}
		return mapped{http.StatusConflict, CodeNotPayable, metrics.ResultInvalidRequest, "the order cannot be paid", true}
	case errors.Is(err, order.ErrAdmissionRequired):
		return mapped{http.StatusForbidden, CodeAdmissionReq, metrics.ResultAdmission,
			"this sale admits buyers with a ticket: get one from POST /api/v1/sales/{sale_id}/admission and send it in the X-Admission-Ticket header", true}
	case errors.Is(err, order.ErrAdmissionInvalid):
		var r *admission.RefusedError
		if errors.As(err, &r) {
			return mapped{http.StatusForbidden, CodeAdmissionInvalid, metrics.ResultAdmission, r.Message, false}
		}
		return mapped{http.StatusForbidden, CodeAdmissionInvalid, metrics.ResultAdmission, "admission refused", true}
	case errors.Is(err, order.ErrRateLimited):
		return mapped{http.StatusTooManyRequests, CodeRateLimited, metrics.ResultRateLimited, "too many requests", true}
	case errors.As(err, new(*order.OutcomeUnknownError)):
		return mapped{http.StatusServiceUnavailable, CodeUnavailable, metrics.ResultUnavailable, "", false}
	case errors.Is(err, order.ErrUnavailable), errors.Is(err, order.ErrStockNotLoaded):
		return mapped{http.StatusServiceUnavailable, CodeUnavailable, metrics.ResultUnavailable, "temporarily unavailable, try again", true}
	}
	return mapped{http.StatusInternalServerError, CodeInternal, metrics.ResultError, "internal error", true}
}

// clientMessage is what a client is told of err, a client's mistake: the
// message of the order.RequestError it carries, which the code already
// names, or otherwise.
func clientMessage(err error, otherwise string) string {
	if re, ok := errors.AsType[*order.RequestError](err); ok {
		return re.Message
	}
	return otherwise
}

// fixedBodies are the encoded bodies of errors whose message never varies,
// built once: a crowd hammering a sold-out sale gets its 409s without an
// encoder run per request.
var fixedBodies = children[mapped, []byte]{make: func(m mapped) []byte {
	b, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Code: m.code, Message: m.msg}})
	return b
}}

func fixedBody(m mapped) []byte { return fixedBodies.get(m) }

const jsonType = "application/json; charset=utf-8"

// unavailableLog lets through one "request unavailable" line per
// interval: while a backend is down every request of a crowd is a 503, and
// the first line says what the next thousands would. It is one per
// process, as the condition it reports is.
var unavailableLog = &throttle.Log{Interval: 10 * time.Second}

// writeError answers with the error body for err. Unknown errors are logged
// and answered with a generic 500.
func writeError(c *gin.Context, log *slog.Logger, err error) {
	m := classify(err)
	body := ErrorBody{Error: ErrorDetail{Code: m.code, Message: m.msg}}
	var ap *order.AlreadyPurchasedError
	var unknown *order.OutcomeUnknownError
	switch {
	case m.code == CodeAlreadyPurchased && errors.As(err, &ap):
		body.Error.OrderNo = ap.OrderNo
		body.OrderNo = ap.OrderNo
	case m.code == CodeUnavailable && errors.As(err, &unknown):
		// The purchase was refused while its reservation may hold a unit:
		// the domain records the order cancelled, and the client may poll
		// it for the final word.
		body.Error.Message = "temporarily unavailable: the purchase was not accepted, but its outcome could not be confirmed; GET /api/v1/orders/" +
			unknown.OrderNo + " shows the final status (cancelled: nothing was bought)"
		body.Error.OrderNo = unknown.OrderNo
		body.OrderNo = unknown.OrderNo
	}
	switch {
	case m.status >= 500 && m.status != http.StatusServiceUnavailable:
		log.ErrorContext(c.Request.Context(), "request failed", "route", c.FullPath(), "err", err)
	case m.status == http.StatusServiceUnavailable:
		if ok, held := unavailableLog.Allow(time.Now()); ok {
			log.WarnContext(c.Request.Context(), "request unavailable", "route", c.FullPath(), "err", err,
				"unavailable_not_logged", held)
		}
	}
	if m.fixed {
		c.Abort()
		c.Data(m.status, jsonType, fixedBody(m))
		return
	}
	c.AbortWithStatusJSON(m.status, body)
}

// purchaseResult names the result label for a purchase that ended in err.
func purchaseResult(err error) string {
	if err == nil {
		return metrics.ResultAccepted
	}
	return classify(err).result
}
