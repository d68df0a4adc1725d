// Package storetest opens real stores for tests: SQLite in a temporary file
// or in memory, and MySQL/MariaDB in a database of its own created for the
// test and dropped after it.
//
// MySQL is reached at SECKILL_TEST_MYSQL_DSN (default
// root@tcp(127.0.0.1:3306)/). When it does not answer the test is skipped,
// unless SECKILL_REQUIRE_SERVICES=1, where it fails.
//
// It imports store and testenv; only tests import it.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/testenv"
)

// DefaultMySQLDSN is the server the MySQL helpers use when
// SECKILL_TEST_MYSQL_DSN is not set.
const DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/"

// Backend names a way to open a fresh, empty Store.
type Backend struct {
	Name string
	Open func(tb testing.TB, opts ...store.Option) *store.Store
}

// Backends lists every backend a contract test runs against.
func Backends() []Backend {
	return []Backend{
		{Name: "sqlite", Open: SQLite},
		{Name: "sqlite-memory", Open: SQLiteMemory},
		{Name: "mysql", Open: MySQL},
	}
}

// Each runs fn as a subtest against a fresh Store of every backend.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, b.Open(t))
		})
	}
}

// Logger returns a logger that writes warnings and errors to the test's
// output.
func Logger(tb testing.TB) *slog.Logger {
	tb.Helper()
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// SQLite opens a Store on a new SQLite file in the test's temp directory.
func SQLite(tb testing.TB, opts ...store.Option) *store.Store {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "seckill.db")
	s, err := store.OpenSQLite(context.Background(), path, Logger(tb), opts...)
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { closeStore(tb, s) })
	return s
}

// SQLiteMemory opens a Store on a private in-memory SQLite database.
func SQLiteMemory(tb testing.TB, opts ...store.Option) *store.Store {
	tb.Helper()
	s, err := store.OpenSQLite(context.Background(), ":memory:", Logger(tb), opts...)
	if err != nil {
		tb.Fatalf("open sqlite in memory: %v", err)
	}
	tb.Cleanup(func() { closeStore(tb, s) })
	return s
}

// MySQL creates the database seckill_test_<random>, opens a Store on it
// and drops it when the test ends.
func MySQL(tb testing.TB, opts ...store.Option) *store.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.OpenMySQL(ctx, MySQLDSN(tb), Logger(tb), opts...)
	if err != nil {
		tb.Fatalf("open mysql store: %v", err)
	}
	tb.Cleanup(func() { closeStore(tb, s) })
	return s
}

// MySQLDSN creates an empty database seckill_test_<random>, drops it when
// the test ends and returns a DSN for it.
func MySQLDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("SECKILL_TEST_MYSQL_DSN")
	if dsn == "" {
		dsn = DefaultMySQLDSN
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		tb.Fatalf("SECKILL_TEST_MYSQL_DSN: %v", err)
	}
	cfg.DBName = ""
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}

	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		tb.Fatalf("open mysql: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		testenv.Need(tb, "MySQL at "+cfg.Addr, err)
	}

	name := "seckill_test_" + randomHex(tb, 6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() { dropDatabase(tb, cfg, name) })

	cfg.DBName = name
	cfg.ParseTime = true
	return cfg.FormatDSN()
}

func dropDatabase(tb testing.TB, cfg *mysql.Config, name string) {
	tb.Helper()
	c := cfg.Clone()
	c.DBName = ""
	admin, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		tb.Errorf("drop database %s: %v", name, err)
		return
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		tb.Errorf("drop database %s: %v", name, err)
	}
}

func closeStore(tb testing.TB, s *store.Store) {
	tb.Helper()
	if err := s.Close(); err != nil {
		tb.Errorf("close store: %v", err)
	}
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}
