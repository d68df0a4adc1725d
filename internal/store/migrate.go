package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migration is one step of the schema, with its DDL for each dialect.
// Steps are append-only: a released step is never edited, a change is a
// new step with the next version.
type migration struct {
	version int
	name    string
	mysql   []string
	sqlite  []string
	// mysqlUnless are MySQL steps run after mysql, each only when its
	// check finds nothing: MySQL has no IF [NOT] EXISTS for columns and
	// indexes, and a step may be re-run after a crash half-way through.
	mysqlUnless []guardedDDL
}

// guardedDDL is a DDL statement run only when the count its check query
// returns matches want (0: "missing", 1: "present").
type guardedDDL struct {
	check string
	want  int
	stmt  string
}

// mysqlColumnExists and mysqlIndexExists count a column or index of the
// current database's table.
const (
	mysqlColumnExists = `SELECT COUNT(*) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s' AND COLUMN_NAME = '%s'`
	mysqlIndexExists = `SELECT COUNT(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s' AND INDEX_NAME = '%s'`
)

func ifMissing(check, stmt string) guardedDDL { return guardedDDL{check: check, want: 0, stmt: stmt} }
func ifPresent(check, stmt string) guardedDDL { return guardedDDL{check: check, want: 1, stmt: stmt} }

var migrations = []migration{
	{
		version: 1,
		name:    "sales and orders",
		mysql: []string{
			`CREATE TABLE IF NOT EXISTS sales (
				id BIGINT NOT NULL AUTO_INCREMENT,
				name VARCHAR(200) NOT NULL,
				price_cents BIGINT NOT NULL,
				total_stock BIGINT NOT NULL,
				sold BIGINT NOT NULL DEFAULT 0,
				starts_at DATETIME(6) NOT NULL,
				ends_at DATETIME(6) NOT NULL,
				payment_window_seconds BIGINT NOT NULL DEFAULT 0,
				created_at DATETIME(6) NOT NULL,
				updated_at DATETIME(6) NOT NULL,
				PRIMARY KEY (id),
				KEY idx_sales_ends_at (ends_at),
				CONSTRAINT chk_sales_sold CHECK (sold >= 0 AND sold <= total_stock)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
			`CREATE TABLE IF NOT EXISTS orders (
				id BIGINT NOT NULL AUTO_INCREMENT,
				order_no CHAR(36) CHARACTER SET ascii NOT NULL,
				sale_id BIGINT NOT NULL,
				user_id BIGINT NOT NULL,
				status VARCHAR(16) CHARACTER SET ascii NOT NULL,
				created_at DATETIME(6) NOT NULL,
				persisted_at DATETIME(6) NOT NULL,
				paid_at DATETIME(6) NULL,
				updated_at DATETIME(6) NOT NULL,
				PRIMARY KEY (id),
				UNIQUE KEY uk_orders_order_no (order_no),
				UNIQUE KEY uk_orders_sale_user (sale_id, user_id),
				KEY idx_orders_sale_status (sale_id, status),
				CONSTRAINT fk_orders_sale FOREIGN KEY (sale_id) REFERENCES sales (id),
				CONSTRAINT chk_orders_status CHECK (status IN ('created', 'paid', 'cancelled'))
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		},
		sqlite: []string{
			`CREATE TABLE IF NOT EXISTS sales (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				name TEXT NOT NULL,
				price_cents INTEGER NOT NULL,
				total_stock INTEGER NOT NULL,
				sold INTEGER NOT NULL DEFAULT 0,
				starts_at DATETIME NOT NULL,
				ends_at DATETIME NOT NULL,
				payment_window_seconds INTEGER NOT NULL DEFAULT 0,
				created_at DATETIME NOT NULL,
				updated_at DATETIME NOT NULL,
				CONSTRAINT chk_sales_sold CHECK (sold >= 0 AND sold <= total_stock)
			)`,
			`CREATE INDEX IF NOT EXISTS idx_sales_ends_at ON sales (ends_at)`,
			`CREATE TABLE IF NOT EXISTS orders (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				order_no TEXT NOT NULL,
				sale_id INTEGER NOT NULL REFERENCES sales (id),
				user_id INTEGER NOT NULL,
				status TEXT NOT NULL,
				created_at DATETIME NOT NULL,
				persisted_at DATETIME NOT NULL,
				paid_at DATETIME NULL,
				updated_at DATETIME NOT NULL,
				CONSTRAINT chk_orders_status CHECK (status IN ('created', 'paid', 'cancelled'))
			)`,
			`CREATE UNIQUE INDEX IF NOT EXISTS uk_orders_order_no ON orders (order_no)`,
			`CREATE UNIQUE INDEX IF NOT EXISTS uk_orders_sale_user ON orders (sale_id, user_id)`,
			`CREATE INDEX IF NOT EXISTS idx_orders_sale_status ON orders (sale_id, status)`,
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
		// row must not stop the new one (MySQL has no partial index; a
		// stored column that is NULL for cancelled orders gives the same).
		version: 2,
		name:    "payment expiry",
		mysqlUnless: []guardedDDL{
			ifMissing(fmt.Sprintf(mysqlColumnExists, "orders", "released_at"),
				`ALTER TABLE orders ADD COLUMN released_at DATETIME(6) NULL AFTER paid_at`),
			ifMissing(fmt.Sprintf(mysqlColumnExists, "orders", "live_user_id"),
				`ALTER TABLE orders ADD COLUMN live_user_id BIGINT
					GENERATED ALWAYS AS (CASE WHEN status = 'cancelled' THEN NULL ELSE user_id END) STORED`),
			ifMissing(fmt.Sprintf(mysqlIndexExists, "orders", "uk_orders_sale_live_user"),
				`ALTER TABLE orders ADD UNIQUE KEY uk_orders_sale_live_user (sale_id, live_user_id)`),
			ifMissing(fmt.Sprintf(mysqlIndexExists, "orders", "idx_orders_sale_status_created"),
				`ALTER TABLE orders ADD KEY idx_orders_sale_status_created (sale_id, status, created_at)`),
			ifPresent(fmt.Sprintf(mysqlIndexExists, "orders", "uk_orders_sale_user"),
				`ALTER TABLE orders DROP INDEX uk_orders_sale_user`),
			ifPresent(fmt.Sprintf(mysqlIndexExists, "orders", "idx_orders_sale_status"),
				`ALTER TABLE orders DROP INDEX idx_orders_sale_status`),
		},
		sqlite: []string{
			`ALTER TABLE orders ADD COLUMN released_at DATETIME NULL`,
			`CREATE UNIQUE INDEX IF NOT EXISTS uk_orders_sale_live_user ON orders (sale_id, user_id) WHERE status <> 'cancelled'`,
			`CREATE INDEX IF NOT EXISTS idx_orders_sale_status_created ON orders (sale_id, status, created_at)`,
			`DROP INDEX IF EXISTS uk_orders_sale_user`,
			`DROP INDEX IF EXISTS idx_orders_sale_status`,
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
		mysql: []string{
			`CREATE TABLE IF NOT EXISTS dead_letters (
				id BIGINT NOT NULL AUTO_INCREMENT,
				message_id VARCHAR(100) NOT NULL DEFAULT '',
				reason VARCHAR(64) CHARACTER SET ascii NOT NULL,
				detail VARCHAR(1000) NOT NULL DEFAULT '',
				body MEDIUMBLOB NULL,
				dead_at DATETIME(6) NOT NULL,
				settled VARCHAR(16) CHARACTER SET ascii NULL,
				settled_at DATETIME(6) NULL,
				PRIMARY KEY (id),
				KEY idx_dead_letters_settled (settled, id)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
			`CREATE TABLE IF NOT EXISTS dead_letter_orders (
				dead_letter_id BIGINT NOT NULL,
				order_no VARCHAR(128) CHARACTER SET ascii NOT NULL,
				sale_id BIGINT NOT NULL,
				user_id BIGINT NOT NULL,
				created_at DATETIME(6) NOT NULL,
				PRIMARY KEY (dead_letter_id, order_no),
				KEY idx_dead_letter_orders_sale (sale_id),
				CONSTRAINT fk_dead_letter_orders FOREIGN KEY (dead_letter_id) REFERENCES dead_letters (id)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
			`CREATE TABLE IF NOT EXISTS stock_rebuilds (
				id BIGINT NOT NULL AUTO_INCREMENT,
				sale_id BIGINT NOT NULL,
				fence_id CHAR(36) CHARACTER SET ascii NOT NULL,
				requested_at DATETIME(6) NOT NULL,
				fence_sent_at DATETIME(6) NULL,
				passed_at DATETIME(6) NULL,
				done_at DATETIME(6) NULL,
				PRIMARY KEY (id),
				UNIQUE KEY uk_stock_rebuilds_fence (fence_id),
				KEY idx_stock_rebuilds_sale (sale_id, done_at)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		},
		mysqlUnless: []guardedDDL{
			ifMissing(fmt.Sprintf(mysqlColumnExists, "orders", "reason"),
				`ALTER TABLE orders ADD COLUMN reason VARCHAR(32) CHARACTER SET ascii NULL AFTER status`),
		},
		sqlite: []string{
			`ALTER TABLE orders ADD COLUMN reason TEXT NULL`,
			`CREATE TABLE IF NOT EXISTS dead_letters (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				message_id TEXT NOT NULL DEFAULT '',
				reason TEXT NOT NULL,
				detail TEXT NOT NULL DEFAULT '',
				body BLOB NULL,
				dead_at DATETIME NOT NULL,
				settled TEXT NULL,
				settled_at DATETIME NULL
			)`,
			`CREATE INDEX IF NOT EXISTS idx_dead_letters_settled ON dead_letters (settled, id)`,
			`CREATE TABLE IF NOT EXISTS dead_letter_orders (
				dead_letter_id INTEGER NOT NULL REFERENCES dead_letters (id),
				order_no TEXT NOT NULL,
				sale_id INTEGER NOT NULL,
				user_id INTEGER NOT NULL,
				created_at DATETIME NOT NULL,
				PRIMARY KEY (dead_letter_id, order_no)
			)`,
			`CREATE INDEX IF NOT EXISTS idx_dead_letter_orders_sale ON dead_letter_orders (sale_id)`,
			`CREATE TABLE IF NOT EXISTS stock_rebuilds (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				sale_id INTEGER NOT NULL,
				fence_id TEXT NOT NULL,
				requested_at DATETIME NOT NULL,
				fence_sent_at DATETIME NULL,
				passed_at DATETIME NULL,
				done_at DATETIME NULL
			)`,
			`CREATE UNIQUE INDEX IF NOT EXISTS uk_stock_rebuilds_fence ON stock_rebuilds (fence_id)`,
			`CREATE INDEX IF NOT EXISTS idx_stock_rebuilds_sale ON stock_rebuilds (sale_id, done_at)`,
		},
	},
	{
		// Stock added to a sale through the admin API, by request id: the
		// row is written in the transaction that raises sales.total_stock,
		// so a retry of the same request adds nothing.
		version: 5,
		name:    "stock additions",
		mysql: []string{
			`CREATE TABLE IF NOT EXISTS stock_additions (
				request_id VARCHAR(100) CHARACTER SET ascii NOT NULL,
				sale_id BIGINT NOT NULL,
				added BIGINT NOT NULL,
				created_at DATETIME(6) NOT NULL,
				PRIMARY KEY (request_id),
				KEY idx_stock_additions_sale (sale_id)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		},
		sqlite: []string{
			`CREATE TABLE IF NOT EXISTS stock_additions (
				request_id TEXT NOT NULL PRIMARY KEY,
				sale_id INTEGER NOT NULL,
				added INTEGER NOT NULL,
				created_at DATETIME NOT NULL
			)`,
			`CREATE INDEX IF NOT EXISTS idx_stock_additions_sale ON stock_additions (sale_id)`,
		},
	},
	{
		// The admin audit trail: one row per change made through the admin
		// API. minute is set on aggregated entries only (token minting),
		// whose upsert the unique key (actor, action, minute) serves;
		// tally counts the changes such a row stands for.
		version: 6,
		name:    "audit log",
		mysql: []string{
			`CREATE TABLE IF NOT EXISTS audit_log (
				id BIGINT NOT NULL AUTO_INCREMENT,
				at DATETIME(6) NOT NULL,
				actor VARCHAR(64) NOT NULL,
				action VARCHAR(64) CHARACTER SET ascii NOT NULL,
				target VARCHAR(200) NOT NULL DEFAULT '',
				detail VARCHAR(1000) NOT NULL DEFAULT '',
				remote_addr VARCHAR(64) NOT NULL DEFAULT '',
				minute DATETIME NULL,
				tally BIGINT NOT NULL DEFAULT 1,
				PRIMARY KEY (id),
				KEY idx_audit_log_at (at, id),
				UNIQUE KEY uk_audit_log_minute (actor, action, minute)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		},
		sqlite: []string{
			`CREATE TABLE IF NOT EXISTS audit_log (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				at DATETIME NOT NULL,
				actor TEXT NOT NULL,
				action TEXT NOT NULL,
				target TEXT NOT NULL DEFAULT '',
				detail TEXT NOT NULL DEFAULT '',
				remote_addr TEXT NOT NULL DEFAULT '',
				minute DATETIME NULL,
				tally INTEGER NOT NULL DEFAULT 1
			)`,
			`CREATE INDEX IF NOT EXISTS idx_audit_log_at ON audit_log (at, id)`,
			`CREATE UNIQUE INDEX IF NOT EXISTS uk_audit_log_minute ON audit_log (actor, action, minute)`,
		},
	},
	{
		// The outbox of lifecycle events: a row per order paid or
		// cancelled, written in the transaction that changes the order and
		// deleted once the broker has confirmed it. id is the event's id.
		version: 7,
		name:    "order events outbox",
		mysql: []string{
			`CREATE TABLE IF NOT EXISTS order_events (
				id BIGINT NOT NULL AUTO_INCREMENT,
				kind VARCHAR(32) CHARACTER SET ascii NOT NULL,
				order_no CHAR(36) CHARACTER SET ascii NOT NULL,
				sale_id BIGINT NOT NULL,
				user_id BIGINT NOT NULL,
				status VARCHAR(16) CHARACTER SET ascii NOT NULL,
				reason VARCHAR(32) CHARACTER SET ascii NOT NULL DEFAULT '',
				created_at DATETIME(6) NOT NULL,
				at DATETIME(6) NOT NULL,
				PRIMARY KEY (id)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		},
		sqlite: []string{
			`CREATE TABLE IF NOT EXISTS order_events (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				kind TEXT NOT NULL,
				order_no TEXT NOT NULL,
				sale_id INTEGER NOT NULL,
				user_id INTEGER NOT NULL,
				status TEXT NOT NULL,
				reason TEXT NOT NULL DEFAULT '',
				created_at DATETIME NOT NULL,
				at DATETIME NOT NULL
			)`,
		},
	},
	{
		// A sale's admission: the waiting room's rate and the proof of
		// work's bits, 0 for off, set when the sale is created.
		version: 8,
		name:    "sale admission",
		mysqlUnless: []guardedDDL{
			ifMissing(fmt.Sprintf(mysqlColumnExists, "sales", "admission_rate"),
				`ALTER TABLE sales ADD COLUMN admission_rate BIGINT NOT NULL DEFAULT 0`),
			ifMissing(fmt.Sprintf(mysqlColumnExists, "sales", "admission_pow_bits"),
				`ALTER TABLE sales ADD COLUMN admission_pow_bits INT NOT NULL DEFAULT 0`),
		},
		sqlite: []string{
			`ALTER TABLE sales ADD COLUMN admission_rate INTEGER NOT NULL DEFAULT 0`,
			`ALTER TABLE sales ADD COLUMN admission_pow_bits INTEGER NOT NULL DEFAULT 0`,
		},
	},
	{
		// Sales created through the admin API under a request id: the
		// row is written in the transaction that stores the sale, so a
		// retry of the same request creates nothing. fingerprint tells
		// a retry (same sale asked for) from a request id reused.
		version: 9,
		name:    "sale requests",
		mysql: []string{
			`CREATE TABLE IF NOT EXISTS sale_requests (
				request_id VARCHAR(100) CHARACTER SET ascii NOT NULL,
				sale_id BIGINT NOT NULL,
				fingerprint CHAR(64) CHARACTER SET ascii NOT NULL,
				created_at DATETIME(6) NOT NULL,
				PRIMARY KEY (request_id),
				KEY idx_sale_requests_sale (sale_id)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		},
		sqlite: []string{
			`CREATE TABLE IF NOT EXISTS sale_requests (
				request_id TEXT NOT NULL PRIMARY KEY,
				sale_id INTEGER NOT NULL,
				fingerprint TEXT NOT NULL,
				created_at DATETIME NOT NULL
			)`,
			`CREATE INDEX IF NOT EXISTS idx_sale_requests_sale ON sale_requests (sale_id)`,
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
	stmts, guarded := m.mysql, m.mysqlUnless
	if s.dialect == dialectSQLite {
		stmts, guarded = m.sqlite, nil
	}
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
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	for _, g := range guarded {
		var found int
		if err := tx.QueryRowContext(ctx, g.check).Scan(&found); err != nil {
			return err
		}
		if found != g.want {
			continue
		}
		if _, err := tx.ExecContext(ctx, g.stmt); err != nil {
			return err
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
