package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/seckill/seckill/internal/redact"
)

// EnsureDatabase creates the DSN's database if it does not exist, so a
// fresh MySQL needs nothing done by hand.
func EnsureDatabase(ctx context.Context, dsn string) (err error) {
	defer func() { err = redact.Error(err, dsn) }()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("SECKILL_MYSQL_DSN: %w", err)
	}
	name := cfg.DBName
	if name == "" {
		return errors.New("SECKILL_MYSQL_DSN names no database")
	}
	if strings.ContainsAny(name, "`\\") {
		return fmt.Errorf("SECKILL_MYSQL_DSN: unusable database name %q", name)
	}
	cfg.DBName = ""
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("mysql: %w", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		return fmt.Errorf("mysql: create database %s: %w", name, err)
	}
	return nil
}
