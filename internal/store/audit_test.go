package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/store/storetest"
)

// TestAudit: entries read back newest first with what was written; counted
// entries make one row per actor, action and minute whose count and time
// follow the latest change (an entry may stand for several changes); long strings are cut to their columns.
func TestAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if got, err := s.AuditEntries(ctx, 10); err != nil || len(got) != 0 {
			t.Fatalf("empty trail = %v, %v", got, err)
		}
		record := func(e order.AuditEntry) {
			t.Helper()
			if err := s.RecordAudit(ctx, e); err != nil {
				t.Fatalf("record %+v: %v", e, err)
			}
		}
		count := func(e order.AuditEntry) {
			t.Helper()
			if err := s.CountAudit(ctx, e); err != nil {
				t.Fatalf("count %+v: %v", e, err)
			}
		}
		minute := t0.Truncate(time.Minute)
		record(order.AuditEntry{At: minute.Add(time.Second), Actor: "alice", Action: order.AuditSaleCreated,
			Target: "sale 1", Detail: "created", RemoteAddr: "192.0.2.7"})
		mint := order.AuditEntry{Actor: "bob", Action: order.AuditTokensMinted, Target: "user tokens", Detail: "minted"}
		for i := range 3 {
			mint.At = minute.Add(time.Duration(10+i) * time.Second)
			count(mint)
		}
		record(order.AuditEntry{At: minute.Add(20 * time.Second), Actor: "alice", Action: order.AuditSaleWarmed,
			Target: "sale 1", Detail: strings.Repeat("é", 1200)})
		mint.At = minute.Add(time.Minute + time.Second) // the next minute: a new entry
		count(mint)
		mint.Actor = "carol" // another actor: a new entry, of changes counted together
		mint.At = minute.Add(time.Minute + 2*time.Second)
		mint.Count = 5
		count(mint)
		mint.Count = 2
		count(mint)

		got, err := s.AuditEntries(ctx, 10)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		want := []order.AuditEntry{
			{At: minute.Add(time.Minute + 2*time.Second), Actor: "carol", Action: order.AuditTokensMinted, Count: 7},
			{At: minute.Add(time.Minute + time.Second), Actor: "bob", Action: order.AuditTokensMinted, Count: 1},
			{At: minute.Add(20 * time.Second), Actor: "alice", Action: order.AuditSaleWarmed, Count: 1},
			{At: minute.Add(12 * time.Second), Actor: "bob", Action: order.AuditTokensMinted, Count: 3},
			{At: minute.Add(time.Second), Actor: "alice", Action: order.AuditSaleCreated, Count: 1},
		}
		if len(got) != len(want) {
			t.Fatalf("entries = %+v, want %d", got, len(want))
		}
		for i, w := range want {
			g := got[i]
			if !g.At.Equal(w.At) || g.Actor != w.Actor || g.Action != w.Action || g.Count != w.Count {
				t.Errorf("entry %d = %v %s %s ×%d, want %v %s %s ×%d", i, g.At, g.Actor, g.Action, g.Count, w.At, w.Actor, w.Action, w.Count)
			}
		}
		if e := got[4]; e.Target != "sale 1" || e.Detail != "created" || e.RemoteAddr != "192.0.2.7" || e.At.Location() != time.UTC {
			t.Errorf("sale entry = %+v", e)
		}
		if e := got[3]; e.Target != "user tokens" || e.Detail != "minted" {
			t.Errorf("counted entry = %+v", e)
		}
		if d := got[2].Detail; d != strings.Repeat("é", 1000) {
			t.Errorf("long detail kept %d characters, want 1000", len([]rune(d)))
		}
		if got, err := s.AuditEntries(ctx, 2); err != nil || len(got) != 2 || got[0].Actor != "carol" {
			t.Errorf("limit 2 = %+v, %v", got, err)
		}
	})
}

// TestAuditInTransaction: the entry an admin change carries in its context
// is written by the transaction that makes the change, completed from the
// sale it leaves, and only when that transaction commits.
func TestAuditInTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		note := func(action string) *order.AuditNote {
			return &order.AuditNote{
				Entry: order.AuditEntry{At: t0, Actor: "alice", Action: action, RemoteAddr: "192.0.2.7"},
				Describe: func(e *order.AuditEntry, v order.Sale) {
					e.Target = order.SaleTarget(v.ID)
					e.Detail = "total_stock " + strconv.FormatInt(v.TotalStock, 10)
				},
			}
		}
		created := note(order.AuditSaleCreated)
		sale, _, err := s.CreateSale(order.WithAuditNote(ctx, created), order.NewSale{
			Name: "audited", PriceCents: 100, TotalStock: 5, StartsAt: t0, EndsAt: t0.Add(time.Hour),
		})
		if err != nil || !created.Written() {
			t.Fatalf("create sale = %v, written %v; want the entry written by its transaction", err, created.Written())
		}
		added := note(order.AuditSaleStockAdded)
		if _, err := s.AddStock(order.WithAuditNote(ctx, added), sale.ID, 3, "req-1", t0); err != nil || !added.Written() {
			t.Fatalf("add stock = %v, written %v", err, added.Written())
		}
		failed := note(order.AuditSaleStockAdded)
		if _, err := s.AddStock(order.WithAuditNote(ctx, failed), sale.ID+100, 3, "req-2", t0); err == nil || failed.Written() {
			t.Fatalf("add stock to no sale = %v, written %v; want an error and nothing written", err, failed.Written())
		}
		got, err := s.AuditEntries(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, e := range got {
			lines = append(lines, e.Actor+" "+e.Action+" "+e.Target+" "+e.Detail)
		}
		want := []string{
			"alice sale.stock_added " + order.SaleTarget(sale.ID) + " total_stock 8",
			"alice sale.created " + order.SaleTarget(sale.ID) + " total_stock 5",
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Fatalf("trail\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
	})
}
