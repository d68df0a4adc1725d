// Command walk buys one unit of a sale with each client generated from
// api/openapi.yaml (ogen's and oapi-codegen's), the way an outside program
// would: read the OpenAPI document and mint a user token on the admin
// listener, then on the public one read the sale, buy,
// follow the order until the database holds it, pay it, and see a second
// purchase refused as already_purchased. It exits non-zero on the first
// answer that is not what the document promises.
//
// The clientgen test generates the two clients next to this file (in
// ./ogenclient and ./oapiclient) and runs it against a real api.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"clientwalk/oapiclient"
	"clientwalk/ogenclient"
)

func main() {
	public := flag.String("public", "", "the api's public listener, e.g. http://127.0.0.1:8080")
	admin := flag.String("admin", "", "the api's admin listener, e.g. http://127.0.0.1:9090")
	adminToken := flag.String("admin-token", "", "SECKILL_ADMIN_TOKEN of the api")
	sale := flag.Int64("sale", 1, "the sale to buy from, active and with at least two units")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	walks := []struct {
		name string
		user int64
		walk func(ctx context.Context, public, admin, adminToken string, sale, user int64) error
	}{
		{"ogen", 7_000_001, walkOgen},
		{"oapi-codegen", 7_000_002, walkOapi},
	}
	for _, w := range walks {
		if err := w.walk(ctx, *public, *admin, *adminToken, *sale, w.user); err != nil {
			fmt.Fprintf(os.Stderr, "%s client: %v\n", w.name, err)
			os.Exit(1)
		}
		fmt.Printf("%s client: read the document, bought, persisted and paid an order of sale %d as user %d\n", w.name, *sale, w.user)
	}
}

// tokens is the ogen client's security source: the admin token on the
// admin listener, a user token on the public one.
type tokens struct{ admin, user string }

func (t tokens) AdminToken(context.Context, ogenclient.OperationName) (ogenclient.AdminToken, error) {
	return ogenclient.AdminToken{Token: t.admin}, nil
}

func (t tokens) UserJWT(context.Context, ogenclient.OperationName) (ogenclient.UserJWT, error) {
	return ogenclient.UserJWT{Token: t.user}, nil
}

func walkOgen(ctx context.Context, public, admin, adminToken string, saleID, userID int64) error {
	adm, err := ogenclient.NewClient(admin, tokens{admin: adminToken})
	if err != nil {
		return err
	}
	served, err := adm.GetOpenAPI(ctx)
	if err != nil {
		return fmt.Errorf("read the document: %w", err)
	}
	yaml, ok := served.(*ogenclient.GetOpenAPIOK)
	if !ok {
		return fmt.Errorf("read the document: answered %T %+v", served, served)
	}
	if doc, err := io.ReadAll(yaml.Data); err != nil || !isOpenAPI(doc) {
		return fmt.Errorf("read the document: %q…, %v; want an OpenAPI 3 document", head(doc), err)
	}
	minted, err := adm.MintToken(ctx, &ogenclient.TokenRequest{UserID: userID, TTLSeconds: ogenclient.NewOptInt64(600)})
	if err != nil {
		return fmt.Errorf("mint a token: %w", err)
	}
	token, ok := minted.(*ogenclient.Token)
	if !ok {
		return fmt.Errorf("mint a token: answered %T %+v", minted, minted)
	}
	pub, err := ogenclient.NewClient(public, tokens{user: token.Token})
	if err != nil {
		return err
	}

	read, err := pub.GetSale(ctx, ogenclient.GetSaleParams{SaleID: saleID})
	if err != nil {
		return fmt.Errorf("read the sale: %w", err)
	}
	sale, ok := read.(*ogenclient.Sale)
	if !ok || sale.ID != saleID || sale.Status != ogenclient.SaleStatusActive || sale.Remaining < 1 {
		return fmt.Errorf("read the sale: answered %T %+v, want sale %d active with units left", read, read, saleID)
	}

	placed, err := pub.PlaceOrder(ctx, &ogenclient.EmptyObject{}, ogenclient.PlaceOrderParams{SaleID: saleID})
	if err != nil {
		return fmt.Errorf("buy: %w", err)
	}
	accepted, ok := placed.(*ogenclient.OrderAccepted)
	if !ok || accepted.OrderNo == "" {
		return fmt.Errorf("buy: answered %T %+v, want 202 with an order number", placed, placed)
	}

	// The order is pending until the worker has written it to the
	// database, then created.
	var order *ogenclient.Order
	for order == nil || order.Status == ogenclient.OrderStatusPending {
		if err := pause(ctx); err != nil {
			return fmt.Errorf("order %s still pending: %w", accepted.OrderNo, err)
		}
		got, err := pub.GetOrder(ctx, ogenclient.GetOrderParams{OrderNo: accepted.OrderNo})
		if err != nil {
			return fmt.Errorf("read the order: %w", err)
		}
		if order, ok = got.(*ogenclient.Order); !ok {
			return fmt.Errorf("read the order: answered %T %+v", got, got)
		}
	}
	if order.Status != ogenclient.OrderStatusCreated || order.SaleID != saleID || order.UserID != userID || order.CreatedAt.Null {
		return fmt.Errorf("read the order: %+v, want created, of sale %d and user %d, with created_at", order, saleID, userID)
	}

	paid, err := pub.PayOrder(ctx, &ogenclient.EmptyObject{}, ogenclient.PayOrderParams{OrderNo: order.OrderNo})
	if err != nil {
		return fmt.Errorf("pay: %w", err)
	}
	if p, ok := paid.(*ogenclient.Payment); !ok || p.Status != ogenclient.PaymentStatusPaid || p.OrderNo != order.OrderNo {
		return fmt.Errorf("pay: answered %T %+v, want paid", paid, paid)
	}

	again, err := pub.PlaceOrder(ctx, &ogenclient.EmptyObject{}, ogenclient.PlaceOrderParams{SaleID: saleID})
	if err != nil {
		return fmt.Errorf("buy again: %w", err)
	}
	conflict, ok := again.(*ogenclient.PurchaseConflictError)
	if !ok || conflict.Error.Code != ogenclient.PurchaseConflictErrorErrorCodeAlreadyPurchased ||
		conflict.OrderNo.Or("") != order.OrderNo {
		return fmt.Errorf("buy again: answered %T %+v, want 409 already_purchased naming %s", again, again, order.OrderNo)
	}
	return nil
}

func walkOapi(ctx context.Context, public, admin, adminToken string, saleID, userID int64) error {
	adm, err := oapiclient.NewClientWithResponses(admin, oapiclient.WithRequestEditorFn(bearer(adminToken)))
	if err != nil {
		return err
	}
	served, err := adm.GetOpenAPIWithResponse(ctx)
	if err != nil {
		return fmt.Errorf("read the document: %w", err)
	}
	if served.StatusCode() != http.StatusOK || !isOpenAPI(served.Body) {
		return fmt.Errorf("read the document: %s %q…, want an OpenAPI 3 document", served.Status(), head(served.Body))
	}
	ttl := int64(600)
	minted, err := adm.MintTokenWithResponse(ctx, oapiclient.MintTokenJSONRequestBody{UserId: userID, TtlSeconds: &ttl})
	if err != nil {
		return fmt.Errorf("mint a token: %w", err)
	}
	if minted.JSON200 == nil {
		return fmt.Errorf("mint a token: %s %s", minted.Status(), minted.Body)
	}
	pub, err := oapiclient.NewClientWithResponses(public, oapiclient.WithRequestEditorFn(bearer(minted.JSON200.Token)))
	if err != nil {
		return err
	}

	read, err := pub.GetSaleWithResponse(ctx, saleID)
	if err != nil {
		return fmt.Errorf("read the sale: %w", err)
	}
	if s := read.JSON200; s == nil || s.Id != saleID || s.Status != oapiclient.SaleStatusActive || s.Remaining < 1 {
		return fmt.Errorf("read the sale: %s %s, want sale %d active with units left", read.Status(), read.Body, saleID)
	}

	placed, err := pub.PlaceOrderWithResponse(ctx, saleID, &oapiclient.PlaceOrderParams{}, oapiclient.PlaceOrderJSONRequestBody{})
	if err != nil {
		return fmt.Errorf("buy: %w", err)
	}
	if placed.JSON202 == nil || placed.JSON202.OrderNo == "" {
		return fmt.Errorf("buy: %s %s, want 202 with an order number", placed.Status(), placed.Body)
	}
	orderNo := placed.JSON202.OrderNo

	var order *oapiclient.Order
	for order == nil || order.Status == oapiclient.OrderStatusPending {
		if err := pause(ctx); err != nil {
			return fmt.Errorf("order %s still pending: %w", orderNo, err)
		}
		got, err := pub.GetOrderWithResponse(ctx, orderNo)
		if err != nil {
			return fmt.Errorf("read the order: %w", err)
		}
		if order = got.JSON200; order == nil {
			return fmt.Errorf("read the order: %s %s", got.Status(), got.Body)
		}
	}
	if order.Status != oapiclient.OrderStatusCreated || order.SaleId != saleID || order.UserId != userID || order.CreatedAt == nil {
		return fmt.Errorf("read the order: %+v, want created, of sale %d and user %d, with created_at", order, saleID, userID)
	}

	paid, err := pub.PayOrderWithResponse(ctx, orderNo, oapiclient.PayOrderJSONRequestBody{})
	if err != nil {
		return fmt.Errorf("pay: %w", err)
	}
	if p := paid.JSON200; p == nil || p.Status != oapiclient.PaymentStatusPaid || p.OrderNo != orderNo {
		return fmt.Errorf("pay: %s %s, want paid", paid.Status(), paid.Body)
	}

	again, err := pub.PlaceOrderWithResponse(ctx, saleID, &oapiclient.PlaceOrderParams{}, oapiclient.PlaceOrderJSONRequestBody{})
	if err != nil {
		return fmt.Errorf("buy again: %w", err)
	}
	if c := again.JSON409; c == nil || c.Error.Code != oapiclient.PurchaseConflictErrorErrorCodeAlreadyPurchased ||
		c.OrderNo == nil || *c.OrderNo != orderNo {
		return fmt.Errorf("buy again: %s %s, want 409 already_purchased naming %s", again.Status(), again.Body, orderNo)
	}
	return nil
}

// isOpenAPI tells whether a YAML document opens as an OpenAPI 3 document.
func isOpenAPI(doc []byte) bool { return bytes.HasPrefix(doc, []byte("openapi: 3.")) }

// head is the start of a body, for a message.
func head(b []byte) []byte { return b[:min(len(b), 80)] }

// bearer sets the Authorization header of every request of an
// oapi-codegen client.
func bearer(token string) oapiclient.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

// pause waits a little before the next look at a pending order.
func pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return errors.New("gave up waiting")
	case <-time.After(50 * time.Millisecond):
		return nil
	}
}
