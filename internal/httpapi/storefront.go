package httpapi

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/gin-gonic/gin"
)

//go:embed web/storefront.html
var web embed.FS

// storefrontPage is the page GET / serves, all through the public API: the
// sales not ended, one of them polled every second with a countdown to its
// start, Buy and Pay buttons (with the embedded mode's demo token or a
// pasted one), and with ?view=live a read-only view of the sale's counts
// for operators. For a sale with admission it solves the proof of work in
// a worker and waits its turn in the waiting room before it buys.
// Everything it runs is inline and allowed by a per-answer nonce only; the
// worker is built from the page's own script through a blob: URL, the one
// source worker-src allows.
var storefrontPage = template.Must(template.ParseFS(web, "web/storefront.html"))

// storefront serves the storefront page. The page holds no data of the
// request (it reads ?sale, ?token and ?view itself and shows them as text), so
// the only value written into it is the nonce of its Content-Security-Policy.
func (h *public) storefront(c *gin.Context) {
	var raw [18]byte
	if _, err := rand.Read(raw[:]); err != nil {
		writeError(c, h.Log, err)
		return
	}
	nonce := base64.RawURLEncoding.EncodeToString(raw[:])
	var page bytes.Buffer
	if err := storefrontPage.Execute(&page, struct{ Nonce string }{nonce}); err != nil {
		writeError(c, h.Log, err)
		return
	}
	hd := c.Writer.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+
		"'; connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/html; charset=utf-8", page.Bytes())
}
