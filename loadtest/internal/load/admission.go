package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/seckill/seckill/internal/httpapi"
)

// The admission answers, as the api writes them.
type (
	// Challenge is the answer to POST /api/v1/sales/{id}/challenge.
	Challenge = httpapi.ChallengeJSON
	// Ticket is the 200 answer to POST /api/v1/sales/{id}/admission.
	Ticket = httpapi.TicketJSON
	// Waiting is its 202 answer.
	Waiting = httpapi.WaitingJSON
)

// AdmitReply is the answer to one admission request: a ticket (200), a
// place to wait in (202), or an error reply.
type AdmitReply struct {
	Reply
	Ticket  Ticket
	Waiting Waiting
}

// Challenge asks for a proof-of-work challenge of a sale for the holder of
// token. The reply is 200 with the challenge, or the error.
func (c *Client) Challenge(ctx context.Context, saleID int64, token string) (Challenge, Reply) {
	var ch Challenge
	r := c.postJSON(ctx, c.saleURL(saleID, "/challenge"), token, []byte("{}"), &ch, nil)
	return ch, r
}

// Join asks a sale's admission for the holder of token: with a solved
// challenge and its nonce, or with neither when the sale asks for no proof
// of work.
func (c *Client) Join(ctx context.Context, saleID int64, token, challenge, nonce string) AdmitReply {
	body := []byte("{}")
	if challenge != "" {
		body, _ = json.Marshal(map[string]string{"challenge": challenge, "nonce": nonce})
	}
	return c.admit(ctx, saleID, token, body)
}

// Poll asks again, with the queue token of the last 202.
func (c *Client) Poll(ctx context.Context, saleID int64, token, queueToken string) AdmitReply {
	body, _ := json.Marshal(map[string]string{"queue_token": queueToken})
	return c.admit(ctx, saleID, token, body)
}

func (c *Client) admit(ctx context.Context, saleID int64, token string, body []byte) AdmitReply {
	var a AdmitReply
	a.Reply = c.postJSON(ctx, c.saleURL(saleID, "/admission"), token, body, &a.Ticket, &a.Waiting)
	return a
}

func (c *Client) saleURL(saleID int64, suffix string) string {
	return c.Public + "/api/v1/sales/" + strconv.FormatInt(saleID, 10) + suffix
}

// postJSON sends POST url with a JSON body as the holder of token and
// decodes a 200 answer into ok and a 202 answer into accepted (when not
// nil); any other status is an error reply with its code.
func (c *Client) postJSON(ctx context.Context, url, token string, body []byte, ok, accepted any) Reply {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Reply{Err: fmt.Errorf("request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.HTTP.Do(req)
	if err != nil {
		return Reply{Err: err, Latency: time.Since(start)}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	rep := Reply{Status: res.StatusCode, Latency: time.Since(start)}
	if err != nil {
		return Reply{Err: fmt.Errorf("read %d body: %w", res.StatusCode, err), Latency: rep.Latency}
	}
	out := ok
	switch {
	case res.StatusCode == http.StatusAccepted && accepted != nil:
		out = accepted
	case res.StatusCode != http.StatusOK:
		rep.Code = errorCode(raw)
		return rep
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return Reply{Err: fmt.Errorf("POST %s: decode %q: %w", url, truncate(raw, 200), err), Latency: rep.Latency}
	}
	return rep
}
