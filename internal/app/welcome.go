package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Welcome creates the embedded mode's demo sales (1, open to all; 2,
// behind a waiting room and a proof of work) and tells a newcomer, in a
// few lines, what runs where and how to buy.
func Welcome(ctx context.Context, a *API, bound []*Bound, log *slog.Logger) error {
	sale, err := a.DemoSale(ctx)
	if err != nil {
		return err
	}
	room, err := a.DemoAdmissionSale(ctx)
	if err != nil {
		return err
	}
	tok, err := a.Tokens.Mint(1, 24*time.Hour)
	if err != nil {
		return err
	}
	var public, admin string
	for _, b := range bound {
		switch b.Name {
		case "public":
			public = reachable(b.Addr)
		case "admin":
			admin = reachable(b.Addr)
		}
	}
	log.Warn("EMBEDDED MODE: in-process Redis, queue and SQLite; for trying seckill, not for production")
	log.Info("public API", "url", "http://"+public)
	log.Info("admin API", "url", "http://"+admin)
	log.Info("demo sale open", "sale_id", sale.ID, "units", sale.TotalStock, "ends_at", sale.EndsAt.Format(time.RFC3339))
	log.Info("demo sale with a waiting room open", "sale_id", room.ID, "units", room.TotalStock,
		"rate_per_second", room.Admission.RatePerSecond, "pow_bits", room.Admission.PowBits)
	fmt.Println()
	if a.Config.StorefrontServed() {
		fmt.Printf("  open the storefront (it buys as a fresh demo user):\n    http://%s/?sale=%d\n"+
			"  watch the sale live:\n    http://%s/?sale=%d&view=live\n"+
			"  queue for the sale behind a waiting room and a proof of work:\n    http://%s/?sale=%d\n",
			public, sale.ID, public, sale.ID, public, room.ID)
	}
	fmt.Printf("  buy one unit as user 1:\n    curl -i -X POST http://%s/api/v1/sales/%d/orders -H 'Authorization: Bearer %s'\n"+
		"  see it sell out:\n    go run ./loadtest/cmd/spike -target http://%s -admin http://%s -sale %d -users 20000\n\n",
		public, sale.ID, tok, public, admin, sale.ID)
	return nil
}

// reachable turns a listen address such as ":8080" into one a client can
// dial.
func reachable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
