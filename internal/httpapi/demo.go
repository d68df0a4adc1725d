package httpapi

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Demo tokens (POST /api/v1/demo/token, the embedded mode only) are for
// fresh random users with ids from demoUserFirst on, below 2^53 so that a
// page's JavaScript holds them exactly; each lasts demoTokenTTL. A client
// address gets demoTokenBurst of them at once and demoTokenRate a second
// after that.
const (
	demoUserFirst  = 1_000_000_000_000_000
	demoUserSpan   = 8_000_000_000_000_000
	demoTokenTTL   = time.Hour
	demoTokenRate  = 2
	demoTokenBurst = 20
	demoTokenKeys  = 1 << 12
)

// DemoTokenJSON is the body of POST /api/v1/demo/token.
type DemoTokenJSON struct {
	Token  string `json:"token"`
	UserID int64  `json:"user_id"`
}

// demoToken hands out a user token for a fresh random user, so that the
// storefront of the embedded mode can buy without a pasted token. The
// per-IP purchase limit, when on, counts these requests too.
func (h *public) demoToken(c *gin.Context) {
	if err := h.tryDemoToken(c); err != nil {
		writeError(c, h.Log, err)
	}
}

func (h *public) tryDemoToken(c *gin.Context) error {
	if err := h.limitIP(c); err != nil {
		return err
	}
	if err := limit(c, h.demoLimit, clientKey(c)); err != nil {
		return err
	}
	var body struct{}
	if err := decodeStrict(c.Request, h.BodyLimit, &body, true); err != nil {
		return err
	}
	n, err := rand.Int(rand.Reader, big.NewInt(demoUserSpan))
	if err != nil {
		return fmt.Errorf("demo user id: %w", err)
	}
	user := demoUserFirst + n.Int64()
	tok, err := h.Tokens.Mint(user, demoTokenTTL)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, DemoTokenJSON{Token: tok, UserID: user})
	return nil
}
