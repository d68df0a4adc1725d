// Package store is the durable store of seckill: sales and orders in MySQL
// (or SQLite for the embedded mode) through GORM. One Store type serves both
// databases with the same code paths; only the DDL and a few session details
// differ.
//
// Schema: versioned migrations written in code (migrate.go), each table and
// change written once and spelled for MySQL and SQLite (ddl.go), recorded
// in schema_migrations and applied at Open under a lock (MySQL GET_LOCK, an
// SQLite write transaction), so several binaries may start at once.
// AutoMigrate is not used: it cannot express the CHECK constraints, exact
// index names and column types the contracts rely on.
//
// PersistBatch is the worker's exactly-once write, one transaction per
// batch: first insert-first (the guarded UPDATE of sales.sold per sale,
// then prepared multi-row INSERTs, no reads), and only when a guard or a
// unique key refuses, again order by order, skipping order numbers
// already stored and refusing a second live order of a buyer; lock
// conflicts retry the whole transaction.
//
// Store implements the domain's ports (order.Repository, order.BatchStore
// and the smaller ones beside them). The package imports the domain
// (order), metrics and redact, GORM and the database drivers; never the
// packages that use it (consumer, httpapi, app).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/redact"
)

var (
	_ order.Repository = (*Store)(nil)
	_ order.BatchStore = (*Store)(nil)
)

// dialect tells the few places where MySQL and SQLite differ.
type dialect int

const (
	dialectMySQL dialect = iota + 1
	dialectSQLite
)

func (d dialect) String() string {
	if d == dialectSQLite {
		return "sqlite"
	}
	return "mysql"
}

// Store is the GORM-backed order.Repository and order.BatchStore.
type Store struct {
	db      *gorm.DB
	sql     *sql.DB           // db's pool, for the worker's hot path without GORM
	inserts *insertStatements // prepared order INSERTs; nil on SQLite
	dialect dialect
	log     *slog.Logger
	metrics *metrics.Metrics

	maxTries    int
	slowQuery   time.Duration
	retryBase   time.Duration
	insertChunk int
}

// Option configures a Store.
type Option func(*Store)

// WithMetrics counts transaction retries in m.WorkerRetries and batches
// that needed sorting in m.WorkerSortedBatches. A nil m is allowed and
// counts nothing.
func WithMetrics(m *metrics.Metrics) Option { return func(s *Store) { s.metrics = m } }

// WithMaxTries bounds how often PersistBatch runs its transaction when it
// hits a deadlock, a lock wait timeout or a busy database (default 5).
func WithMaxTries(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.maxTries = n
		}
	}
}

// WithSlowQuery sets the duration above which a statement is logged at
// Warn level (default 200ms).
func WithSlowQuery(d time.Duration) Option { return func(s *Store) { s.slowQuery = d } }

func newStore(d dialect, log *slog.Logger, opts []Option) *Store {
	s := &Store{
		dialect:     d,
		log:         log,
		maxTries:    5,
		slowQuery:   200 * time.Millisecond,
		retryBase:   20 * time.Millisecond,
		insertChunk: 200,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// OpenMySQL connects to MySQL (or MariaDB) with a go-sql-driver DSN,
// applies the migrations and returns the Store. parseTime is forced on and
// times are read and written in UTC.
func OpenMySQL(ctx context.Context, dsn string, log *slog.Logger, opts ...Option) (_ *Store, err error) {
	defer func() { err = redact.Error(err, dsn) }() // the driver's errors may quote the DSN
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("open mysql: parse dsn: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if !strings.Contains(dsn, "interpolateParams=") {
		// One round trip per statement instead of prepare, execute and
		// close: the driver quotes the arguments itself (utf8mb4 below).
		cfg.InterpolateParams = true
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["charset"]; !ok {
		cfg.Params["charset"] = "utf8mb4"
	}

	s := newStore(dialectMySQL, log, opts)
	db, err := gorm.Open(mysql.New(mysql.Config{DSNConfig: cfg}), s.gormConfig())
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	s.db = db
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	s.sql = sqlDB
	s.inserts = newInsertStatements(sqlDB)
	sqlDB.SetMaxOpenConns(32)
	sqlDB.SetMaxIdleConns(16)
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := s.start(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open mysql %s/%s: %w", cfg.Addr, cfg.DBName, err)
	}
	return s, nil
}

// OpenSQLite opens (or creates) an SQLite database at path, applies the
// migrations and returns the Store. Files run in WAL mode with a busy
// timeout and several connections; an in-memory database (":memory:",
// "file::memory:", "mode=memory") lives on one connection that is never
// closed, so every caller sees the same database.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger, opts ...Option) (*Store, error) {
	memory := isMemoryPath(path)
	params := []string{
		"_pragma=busy_timeout(10000)",
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(NORMAL)",
		// Every transaction takes the write lock at BEGIN, so a reading
		// transaction never has to upgrade its lock (SQLite answers an
		// upgrade conflict with an immediate SQLITE_BUSY).
		"_txlock=immediate",
	}
	if !memory {
		params = append(params, "_pragma=journal_mode(WAL)")
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	dsn := path + sep + strings.Join(params, "&")

	s := newStore(dialectSQLite, log, opts)
	db, err := gorm.Open(sqlite.Open(dsn), s.gormConfig())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s.db = db
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s.sql = sqlDB
	if memory {
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxLifetime(0)
		sqlDB.SetConnMaxIdleTime(0)
	} else {
		sqlDB.SetMaxOpenConns(8)
		sqlDB.SetMaxIdleConns(8)
	}
	if err := s.start(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return s, nil
}

func isMemoryPath(path string) bool {
	return path == ":memory:" || path == "" ||
		strings.HasPrefix(path, "file::memory:") ||
		strings.Contains(path, "mode=memory")
}

func (s *Store) gormConfig() *gorm.Config {
	return &gorm.Config{
		Logger:                 &gormLog{log: s.log, slow: s.slowQuery},
		NowFunc:                now,
		SkipDefaultTransaction: true,
	}
}

// start checks the connection and applies the migrations.
func (s *Store) start(ctx context.Context) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	return s.migrate(ctx)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("ping %s: %w", s.dialect, err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.dialect, err)
	}
	return nil
}

// Close closes every connection of the Store.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("close %s: %w", s.dialect, err)
	}
	if s.inserts != nil {
		if err := s.inserts.close(); err != nil {
			s.log.Warn("close prepared statements", "err", err)
		}
	}
	if err := sqlDB.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.dialect, err)
	}
	return nil
}

// now is the clock of every timestamp the Store writes: UTC, microsecond
// precision (what DATETIME(6) keeps), so a value reads back unchanged.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// gormLog sends GORM's own messages to slog at Warn level and above, and
// statements only when they are slow. Failed statements are not logged
// here: their error travels back to the caller, which logs it once with
// context. SQL is logged without parameter values.
type gormLog struct {
	log  *slog.Logger
	slow time.Duration
}

func (g *gormLog) LogMode(gormlogger.LogLevel) gormlogger.Interface { return g }

func (g *gormLog) Info(context.Context, string, ...any) {}

func (g *gormLog) Warn(ctx context.Context, msg string, data ...any) {
	g.log.WarnContext(ctx, "gorm: "+fmt.Sprintf(msg, data...))
}

func (g *gormLog) Error(ctx context.Context, msg string, data ...any) {
	g.log.ErrorContext(ctx, "gorm: "+fmt.Sprintf(msg, data...))
}

func (g *gormLog) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound):
		if g.log.Enabled(ctx, slog.LevelDebug) {
			sql, rows := fc()
			g.log.DebugContext(ctx, "sql failed", "sql", sql, "rows", rows, "duration", elapsed, "err", err)
		}
	case g.slow > 0 && elapsed > g.slow:
		sql, rows := fc()
		g.log.WarnContext(ctx, "slow sql", "sql", sql, "rows", rows, "duration", elapsed)
	}
}

// ParamsFilter keeps parameter values out of logged SQL.
func (g *gormLog) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}
