package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/redact"
)

// OpenRedis connects to SECKILL_REDIS_URL. A URL with addr= parameters
// (redis://h1:6379?addr=h2:6379&addr=h3:6379) is a Redis Cluster; every
// script still runs on one slot because a sale's keys share a hash tag.
func OpenRedis(ctx context.Context, rawURL string) (_ redis.UniversalClient, err error) {
	// url.Parse's errors quote the whole URL, password included.
	defer func() { err = redact.Error(err, rawURL) }()
	var c redis.UniversalClient
	if strings.Contains(rawURL, "addr=") {
		opt, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("SECKILL_REDIS_URL: %w", err)
		}
		// Per node, as for a single server: a hot sale's scripts all go
		// to the master of its slot.
		opt.PoolSize = max(opt.PoolSize, 64)
		c = redis.NewClusterClient(opt)
	} else {
		opt, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("SECKILL_REDIS_URL: %w", err)
		}
		opt.PoolSize = max(opt.PoolSize, 64)
		c = redis.NewClient(opt)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis %s: %w", redact.URL(rawURL), err)
	}
	return c, nil
}

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
