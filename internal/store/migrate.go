package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migration is one step of the schema: changes written once and spelled
// for each dialect by the helpers below. Steps are append-only: a released
// step is never edited, a change is a new step with the next version.
type migration struct {
	version int
	name    string
	changes []change
}

var migrations = []migration{
	{
		version: 1,
		name:    "sales and orders",
		changes: []change{
			createTable(table{
				name: "sales",
				columns: []column{
					{"id", serial, ""},
					{"name", varchar(200), "NOT NULL"},
					{"price_cents", bigint, "NOT NULL"},
					{"total_stock", bigint, "NOT NULL"},
					{"sold", bigint, "NOT NULL DEFAULT 0"},
					{"starts_at", datetime6, "NOT NULL"},
					{"ends_at", datetime6, "NOT NULL"},
					{"payment_window_seconds", bigint, "NOT NULL DEFAULT 0"},
					{"created_at", datetime6, "NOT NULL"},
					{"updated_at", datetime6, "NOT NULL"},
				},
				keys:   []key{index("idx_sales_ends_at", "ends_at")},
				checks: []string{"chk_sales_sold CHECK (sold >= 0 AND sold <= total_stock)"},
			}),
			createTable(table{
				name: "orders",
				columns: []column{
					{"id", serial, ""},
					{"order_no", ascii(char(36)), "NOT NULL"},
					{"sale_id", bigint, "NOT NULL"},
					{"user_id", bigint, "NOT NULL"},
					{"status", ascii(varchar(16)), "NOT NULL"},
					{"created_at", datetime6, "NOT NULL"},
					{"persisted_at", datetime6, "NOT NULL"},
					{"paid_at", datetime6, "NULL"},
					{"updated_at", datetime6, "NOT NULL"},
				},
				keys: []key{
					unique("uk_orders_order_no", "order_no"),
					unique("uk_orders_sale_user", "sale_id", "user_id"),
					index("idx_orders_sale_status", "sale_id", "status"),
				},
				foreignKeys: []foreignKey{{"fk_orders_sale", "sale_id", "sales (id)"}},
				checks:      []string{"chk_orders_status CHECK (status IN ('created', 'paid', 'cancelled'))"},
			}),
		},
	},
	{
		// Payment and expiry. released_at records that the stock backend
		// has the unit of a cancelled order back, so a sweep that died
		// between the cancel and the release is finished by the next one.
		// The sweeper reads due orders by (sale_id, status, created_at),
		// which also serves every (sale_id, status) read of the old index.
		// One order per user per sale now counts live orders only: once an
		// unpaid order expired, its buyer may buy again, and the cancelled
		// row must not stop the new one. SQLite indexes the live orders
		// only; MySQL has no partial index, and a stored column that is
		// NULL for cancelled orders gives the same.
		version: 2,
		name:    "payment expiry",
		changes: []change{
			addColumn("orders", column{"released_at", datetime6, "NULL"}, "paid_at"),
			mysqlOnly(
				addColumn("orders", column{"live_user_id", bigint,
					"GENERATED ALWAYS AS (CASE WHEN status = 'cancelled' THEN NULL ELSE user_id END) STORED"}, ""),
				addKey("orders", unique("uk_orders_sale_live_user", "sale_id", "live_user_id")),
			),
			sqliteOnly(`CREATE UNIQUE INDEX IF NOT EXISTS uk_orders_sale_live_user
				ON orders (sale_id, user_id) WHERE status <> 'cancelled'`),
			addKey("orders", index("idx_orders_sale_status_created", "sale_id", "status", "created_at")),
			dropKey("orders", "uk_orders_sale_user"),
			dropKey("orders", "idx_orders_sale_status"),
		},
	},
	{
		// Settlement. orders.reason says why a cancelled order was
		// cancelled (expired, refused by the store, discarded from the
		// dead letters); a refused order is kept as a cancelled row under
		// its own order_no, so a late copy of it is a duplicate.
		// dead_letters and dead_letter_orders hold the messages the worker
		// could not persist, for an operator to see, replay or discard.
		// stock_rebuilds records the rebuilds of a sale's lost stock and
		// the fence each one sent through the order queue.
		version: 3,
		name:    "settlement",
		changes: []change{
			addColumn("orders", column{"reason", ascii(varchar(32)), "NULL"}, "status"),
			createTable(table{
				name: "dead_letters",
				columns: []column{
					{"id", serial, ""},
					{"message_id", varchar(100), "NOT NULL DEFAULT ''"},
					{"reason", ascii(varchar(64)), "NOT NULL"},
					{"detail", varchar(1000), "NOT NULL DEFAULT ''"},
					{"body", blob, "NULL"},
					{"dead_at", datetime6, "NOT NULL"},
					{"settled", ascii(varchar(16)), "NULL"},
					{"settled_at", datetime6, "NULL"},
				},
				keys: []key{index("idx_dead_letters_settled", "settled", "id")},
			}),
			createTable(table{
				name: "dead_letter_orders",
				columns: []column{
					{"dead_letter_id", bigint, "NOT NULL"},
					{"order_no", ascii(varchar(128)), "NOT NULL"},
					{"sale_id", bigint, "NOT NULL"},
					{"user_id", bigint, "NOT NULL"},
					{"created_at", datetime6, "NOT NULL"},
				},
				primaryKey:  []string{"dead_letter_id", "order_no"},
				keys:        []key{index("idx_dead_letter_orders_sale", "sale_id")},
				foreignKeys: []foreignKey{{"fk_dead_letter_orders", "dead_letter_id", "dead_letters (id)"}},
			}),
			createTable(table{
				name: "stock_rebuilds",
				columns: []column{
					{"id", serial, ""},
					{"sale_id", bigint, "NOT NULL"},
					{"fence_id", ascii(char(36)), "NOT NULL"},
					{"requested_at", datetime6, "NOT NULL"},
					{"fence_sent_at", datetime6, "NULL"},
					{"passed_at", datetime6, "NULL"},
					{"done_at", datetime6, "NULL"},
				},
				keys: []key{
					unique("uk_stock_rebuilds_fence", "fence_id"),
					index("idx_stock_rebuilds_sale", "sale_id", "done_at"),
				},
			}),
		},
	},
	{
		// Stock added to a sale through the admin API, by request id: the
		// row is written in the transaction that raises sales.total_stock,
		// so a retry of the same request adds nothing.
		version: 5,
		name:    "stock additions",
		changes: []change{
			createTable(table{
				name: "stock_additions",
				columns: []column{
					{"request_id", ascii(varchar(100)), "NOT NULL"},
					{"sale_id", bigint, "NOT NULL"},
					{"added", bigint, "NOT NULL"},
					{"created_at", datetime6, "NOT NULL"},
				},
				primaryKey: []string{"request_id"},
				keys:       []key{index("idx_stock_additions_sale", "sale_id")},
			}),
		},
	},
	{
		// The admin audit trail: one row per change made through the admin
		// API. minute is set on aggregated entries only (token minting),
		// whose upsert the unique key (actor, action, minute) serves;
		// tally counts the changes such a row stands for.
		version: 6,
		name:    "audit log",
		changes: []change{
			createTable(table{
				name: "audit_log",
				columns: []column{
					{"id", serial, ""},
					{"at", datetime6, "NOT NULL"},
					{"actor", varchar(64), "NOT NULL"},
					{"action", ascii(varchar(64)), "NOT NULL"},
					{"target", varchar(200), "NOT NULL DEFAULT ''"},
					{"detail", varchar(1000), "NOT NULL DEFAULT ''"},
					{"remote_addr", varchar(64), "NOT NULL DEFAULT ''"},
					{"minute", datetime, "NULL"},
					{"tally", bigint, "NOT NULL DEFAULT 1"},
				},
				keys: []key{
					index("idx_audit_log_at", "at", "id"),
					unique("uk_audit_log_minute", "actor", "action", "minute"),
				},
			}),
		},
	},
	{
		// The outbox of lifecycle events: a row per order paid or
		// cancelled, written in the transaction that changes the order and
		// deleted once the broker has confirmed it. id is the event's id.
		version: 7,
		name:    "order events outbox",
		changes: []change{
			createTable(table{
				name: "order_events",
				columns: []column{
					{"id", serial, ""},
					{"kind", ascii(varchar(32)), "NOT NULL"},
					{"order_no", ascii(char(36)), "NOT NULL"},
					{"sale_id", bigint, "NOT NULL"},
					{"user_id", bigint, "NOT NULL"},
					{"status", ascii(varchar(16)), "NOT NULL"},
					{"reason", ascii(varchar(32)), "NOT NULL DEFAULT ''"},
					{"created_at", datetime6, "NOT NULL"},
					{"at", datetime6, "NOT NULL"},
				},
			}),
		},
	},
	{
		// A sale's admission: the waiting room's rate and the proof of
		// work's bits, 0 for off, set when the sale is created.
		version: 8,
		name:    "sale admission",
		changes: []change{
			addColumn("sales", column{"admission_rate", bigint, "NOT NULL DEFAULT 0"}, ""),
			addColumn("sales", column{"admission_pow_bits", integer, "NOT NULL DEFAULT 0"}, ""),
		},
	},
	{
		// Sales created through the admin API under a request id: the
		// row is written in the transaction that stores the sale, so a
		// retry of the same request creates nothing. fingerprint tells
		// a retry (same sale asked for) from a request id reused.
		version: 9,
		name:    "sale requests",
		changes: []change{
			createTable(table{
				name: "sale_requests",
				columns: []column{
					{"request_id", ascii(varchar(100)), "NOT NULL"},
					{"sale_id", bigint, "NOT NULL"},
					{"fingerprint", ascii(char(64)), "NOT NULL"},
					{"created_at", datetime6, "NOT NULL"},
				},
				primaryKey: []string{"request_id"},
				keys:       []key{index("idx_sale_requests_sale", "sale_id")},
			}),
		},
	},
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER NOT NULL PRIMARY KEY,
	name VARCHAR(200) NOT NULL,
	applied_at VARCHAR(40) NOT NULL
)`

// migrationLock names the MySQL advisory lock that serialises binaries
// migrating the same database at once.
const migrationLock = "seckill.schema_migrations"

// migrate applies every migration the database has not recorded yet.
func (s *Store) migrate(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()

	if s.dialect == dialectMySQL {
		// MySQL commits every DDL statement on its own, so a transaction
		// cannot make a step atomic; an advisory lock keeps two binaries
		// from running the same step at once.
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", migrationLock).Scan(&got); err != nil {
			return fmt.Errorf("migrate: take lock: %w", err)
		}
		if !got.Valid || got.Int64 != 1 {
			return errors.New("migrate: another process holds the migration lock")
		}
		defer func() {
			// A fresh context: the lock must go even if ctx has ended.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", migrationLock)
		}()
	}
	if _, err := conn.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	for _, m := range migrations {
		if err := s.apply(ctx, conn, m); err != nil {
			return fmt.Errorf("migrate: version %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

// apply runs one migration unless it is recorded. On SQLite the check, the
// DDL and the record share one transaction; on MySQL the caller holds the
// advisory lock and the DDL is written to be re-runnable.
func (s *Store) apply(ctx context.Context, conn *sql.Conn, m migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()

	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	for _, c := range m.changes {
		for _, d := range c.spell(s.dialect) {
			if d.check != "" {
				var found int
				if err := tx.QueryRowContext(ctx, d.check).Scan(&found); err != nil {
					return err
				}
				if found != d.want {
					continue
				}
			}
			if _, err := tx.ExecContext(ctx, d.stmt); err != nil {
				return err
			}
		}
	}
	if _, err := tx.ExecContext(ctx,
		"INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		m.version, m.name, now().Format("2006-01-02T15:04:05.000000Z")); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "schema migrated", "dialect", s.dialect.String(), "version", m.version, "name", m.name)
	return nil
}

// SchemaVersion returns the highest migration version applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.WithContext(ctx).Raw("SELECT MAX(version) FROM schema_migrations").Scan(&v).Error; err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return int(v.Int64), nil
}
