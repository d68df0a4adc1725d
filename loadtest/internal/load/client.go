// Package load holds the pieces seckill's load tools share: an HTTP client
// sized for a concurrency, a typed client for the public and admin APIs,
// token sources, outcome counters, latency percentiles, reconcile polling
// and the invariants a flash sale must satisfy.
package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/seckill/seckill/internal/httpapi"
)

// maxBody bounds how much of any response is read.
const maxBody = 64 << 10

// Sale is a sale as GET /api/v1/sales/{id} shows it.
type Sale = httpapi.SaleJSON

// Reconcile is the body of GET /admin/v1/sales/{id}/reconcile.
type Reconcile = httpapi.ReconcileJSON

// NewHTTPClient returns a client whose transport keeps up to concurrency
// connections per host open and reuses them between requests. timeout bounds
// each request, body included.
func NewHTTPClient(concurrency int, timeout time.Duration) *http.Client {
	concurrency = max(concurrency, 1)
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConns:        2 * concurrency, // public and admin host
			MaxIdleConnsPerHost: concurrency,
			MaxConnsPerHost:     concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// Client talks to one api: its public and its admin listener.
type Client struct {
	HTTP       *http.Client
	Public     string // base URL of the public listener, e.g. http://127.0.0.1:8080
	Admin      string // base URL of the admin listener, e.g. http://127.0.0.1:9090
	AdminToken string // bearer token for the admin API; empty when it has none
}

// StatusError is an answer with an unexpected status.
type StatusError struct {
	Method, URL string
	Status      int
	Code        string // the error code of the body, when it has one
	Message     string
}

func (e *StatusError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
}

// Sale reads a sale from the public listener.
func (c *Client) Sale(ctx context.Context, id int64) (Sale, error) {
	var s Sale
	err := c.do(ctx, http.MethodGet, c.Public+"/api/v1/sales/"+strconv.FormatInt(id, 10), "", nil, http.StatusOK, &s)
	return s, err
}

// Reconcile reads a sale's reconciliation from the admin listener.
func (c *Client) Reconcile(ctx context.Context, id int64) (Reconcile, error) {
	var r Reconcile
	err := c.do(ctx, http.MethodGet, c.Admin+"/admin/v1/sales/"+strconv.FormatInt(id, 10)+"/reconcile",
		c.adminAuth(), nil, http.StatusOK, &r)
	return r, err
}

// MintToken asks the admin listener for a user token valid for ttl.
func (c *Client) MintToken(ctx context.Context, userID int64, ttl time.Duration) (string, error) {
	body, err := json.Marshal(httpapi.TokenRequest{UserID: userID, TTLSeconds: int64(ttl / time.Second)})
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := c.do(ctx, http.MethodPost, c.Admin+"/admin/v1/tokens", c.adminAuth(), body, http.StatusOK, &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", fmt.Errorf("POST %s/admin/v1/tokens: empty token", c.Admin)
	}
	return out.Token, nil
}

// Reply is the answer to one purchase.
type Reply struct {
	Status  int    // HTTP status; 0 when the request failed in transport
	Code    string // error code of an error body
	Err     error  // transport error
	Latency time.Duration
}

// Outcome classifies the reply.
func (r Reply) Outcome() Outcome { return Classify(r.Status, r.Code, r.Err) }

// Purchase places one order for the holder of token: POST
// /api/v1/sales/{id}/orders with no body.
func (c *Client) Purchase(ctx context.Context, saleID int64, token string) Reply {
	return c.PurchaseWithTicket(ctx, saleID, token, "")
}

// PurchaseWithTicket is Purchase carrying an admission ticket in the
// X-Admission-Ticket header; an empty ticket sends none.
func (c *Client) PurchaseWithTicket(ctx context.Context, saleID int64, token, ticket string) Reply {
	url := c.Public + "/api/v1/sales/" + strconv.FormatInt(saleID, 10) + "/orders"
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return Reply{Err: fmt.Errorf("purchase request: %w", err)}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if ticket != "" {
		req.Header.Set(httpapi.TicketHeader, ticket)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return Reply{Err: err, Latency: time.Since(start)}
	}
	defer res.Body.Close()
	rep := Reply{Status: res.StatusCode}
	if res.StatusCode == http.StatusAccepted {
		_, err = io.Copy(io.Discard, io.LimitReader(res.Body, maxBody))
	} else {
		var raw []byte
		raw, err = io.ReadAll(io.LimitReader(res.Body, maxBody))
		rep.Code = errorCode(raw)
	}
	rep.Latency = time.Since(start)
	if err != nil {
		// The status arrived but the body did not: the answer is incomplete.
		return Reply{Err: fmt.Errorf("read %d body: %w", res.StatusCode, err), Latency: rep.Latency}
	}
	return rep
}

// errorCode extracts error.code from an error body, or "" when there is none.
// The bodies the api writes for the crowd's answers are read by a prefix
// match, so a 409 costs the load generator no more than a 202 does; any
// other body goes through the JSON decoder.
func errorCode(raw []byte) string {
	if rest, ok := bytes.CutPrefix(raw, []byte(`{"error":{"code":"`)); ok {
		if code, _, ok := bytes.Cut(rest, []byte(`"`)); ok {
			switch string(code) {
			case httpapi.CodeSoldOut:
				return httpapi.CodeSoldOut
			case httpapi.CodeRateLimited:
				return httpapi.CodeRateLimited
			case httpapi.CodeUnavailable:
				return httpapi.CodeUnavailable
			}
		}
	}
	var b httpapi.ErrorBody
	if json.Unmarshal(raw, &b) != nil {
		return ""
	}
	return b.Error.Code
}

func (c *Client) adminAuth() string {
	if c.AdminToken == "" {
		return ""
	}
	return "Bearer " + c.AdminToken
}

// do sends one request and decodes a JSON answer of status want into out.
func (c *Client) do(ctx context.Context, method, url, auth string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return err // a *url.Error naming the method and URL
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	if res.StatusCode != want {
		se := &StatusError{Method: method, URL: url, Status: res.StatusCode}
		var eb httpapi.ErrorBody
		if json.Unmarshal(raw, &eb) == nil {
			se.Code, se.Message = eb.Error.Code, eb.Error.Message
		}
		return se
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode %q: %w", method, url, truncate(raw, 200), err)
	}
	return nil
}

func truncate(b []byte, n int) string {
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// IsStatus reports whether err is a StatusError with the given status.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}
