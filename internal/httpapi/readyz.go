package httpapi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/seckill/seckill/internal/throttle"
)

// DefaultReadyTTL is how long an answer of GET /readyz is served again:
// however many probes arrive, the backends are pinged once a second.
const DefaultReadyTTL = time.Second

// readyLogInterval is how often a backend that does not answer is logged
// while it stays down.
const readyLogInterval = 10 * time.Second

// readyMemo keeps the last readiness result for ttl. Probes that find it
// stale wait for one of them to ping the backends, instead of all pinging
// at once.
type readyMemo struct {
	ttl    time.Duration // <= 0: no memo
	mu     sync.Mutex
	at     time.Time
	failed []string // the backends that did not answer; nil when all did
	valid  bool
	log    throttle.Log // the "not ready" lines
}

// ReadyJSON is the body of a 503 from GET /readyz: the standard error
// body, plus each backend that does not answer, named, with the fixed text
// "does not answer". Why it does not (addresses, driver errors) goes to the
// log only.
type ReadyJSON struct {
	Status string            `json:"status"`
	Failed map[string]string `json:"failed"`
	Error  ErrorDetail       `json:"error"`
}

func (h *public) readyz(c *gin.Context) {
	names := h.notReady(c.Request.Context())
	if len(names) > 0 {
		failed := make(map[string]string, len(names))
		for _, n := range names {
			failed[n] = "does not answer"
		}
		c.JSON(http.StatusServiceUnavailable, ReadyJSON{
			Status: "unavailable", Failed: failed,
			Error: ErrorDetail{Code: CodeUnavailable, Message: "not ready: no answer from " + strings.Join(names, ", ")},
		})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// notReady names the backends that do not answer, from the memo while it
// is fresh.
func (h *public) notReady(ctx context.Context) []string {
	m := &h.ready
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if m.valid && m.ttl > 0 && now.Sub(m.at) < m.ttl && !now.Before(m.at) {
		return m.failed
	}
	m.failed, m.at, m.valid = h.ping(ctx), now, true
	return m.failed
}

// ping asks every backend, at most 2s in all, and logs those that do not
// answer (at most once per readyLogInterval, with the number of failed
// rounds not logged since). A probe's own cancellation does not end it:
// its result is served to the others.
func (h *public) ping(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	var (
		names []string
		errs  []error
	)
	for _, ch := range h.Checks {
		if err := ch.Ping(ctx); err != nil {
			names, errs = append(names, ch.Name), append(errs, err)
		}
	}
	if len(names) == 0 {
		return nil
	}
	if ok, held := h.ready.log.Allow(time.Now()); ok {
		for i, n := range names {
			h.Log.WarnContext(ctx, "not ready: a backend does not answer", "backend", n, "err", errs[i],
				"failed_probes_not_logged", held)
		}
	}
	return names
}
