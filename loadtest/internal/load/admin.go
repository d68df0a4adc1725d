package load

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/seckill/seckill/internal/httpapi"
)

// NewSale is the body of POST /admin/v1/sales.
type NewSale = httpapi.NewSaleJSON

// CreateSale opens a sale through the admin listener and returns it as the
// api shows it.
func (c *Client) CreateSale(ctx context.Context, s NewSale) (Sale, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return Sale{}, fmt.Errorf("sale request: %w", err)
	}
	var out Sale
	err = c.do(ctx, http.MethodPost, c.Admin+"/admin/v1/sales", c.adminAuth(), body, http.StatusCreated, &out)
	return out, err
}
