package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

// adminClient calls the admin listener of one api.
type adminClient struct {
	http *http.Client
	base string // e.g. http://127.0.0.1:9090
}

// call sends method path with body (JSON, or none when nil) and returns the
// status and the raw answer.
func (a adminClient) call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, raw, err
}

// createSale opens a sale of stock units, active now for an hour.
func (a adminClient) createSale(ctx context.Context, name string, stock int64) (int64, error) {
	now := time.Now().UTC()
	in := load.NewSale{
		Name: name, PriceCents: 100, TotalStock: stock,
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour),
		PaymentWindowSeconds: 3600,
	}
	status, raw, err := a.call(ctx, http.MethodPost, "/admin/v1/sales", in)
	if err != nil {
		return 0, fmt.Errorf("create sale: %w", err)
	}
	if status != http.StatusCreated {
		return 0, fmt.Errorf("create sale: %d %s", status, truncate(raw))
	}
	var out struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.ID <= 0 {
		return 0, fmt.Errorf("create sale: no id in %s", truncate(raw))
	}
	return out.ID, nil
}

// reconcile reads a sale's reconciliation.
func (a adminClient) reconcile(ctx context.Context, sale int64) (*load.Reconcile, error) {
	status, raw, err := a.call(ctx, http.MethodGet, "/admin/v1/sales/"+strconv.FormatInt(sale, 10)+"/reconcile", nil)
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("reconcile: %d %s", status, truncate(raw))
	}
	var r load.Reconcile
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	return &r, nil
}

// warmup asks for a sale's stock to be rebuilt and returns the status and
// the error code of a refusal.
func (a adminClient) warmup(ctx context.Context, sale int64) (int, string, error) {
	status, raw, err := a.call(ctx, http.MethodPost, "/admin/v1/sales/"+strconv.FormatInt(sale, 10)+"/warmup", nil)
	if err != nil {
		return 0, "", fmt.Errorf("warmup: %w", err)
	}
	var eb struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &eb)
	return status, eb.Error.Code, nil
}

// deadLetters reads how many dead letters the admin API lists; ok is false
// when it does not serve them.
func (a adminClient) deadLetters(ctx context.Context) (int, bool, error) {
	status, raw, err := a.call(ctx, http.MethodGet, "/admin/v1/dead-letters?limit=1", nil)
	if err != nil {
		return 0, false, fmt.Errorf("dead letters: %w", err)
	}
	if status != http.StatusOK {
		return 0, false, nil
	}
	var out struct {
		Total *int `json:"total"`
	}
	if jerr := json.Unmarshal(raw, &out); jerr != nil || out.Total == nil {
		return 0, false, nil //nolint:nilerr // not the dead-letter listing this tool knows: count elsewhere
	}
	return *out.Total, true, nil
}

func truncate(raw []byte) string {
	const n = 200
	if len(raw) > n {
		return string(raw[:n]) + "…"
	}
	return string(raw)
}
