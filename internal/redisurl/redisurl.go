// Package redisurl opens a Redis client from a URL in SECKILL_REDIS_URL's
// form: one server (redis://host:port/db), or a Redis Cluster when the URL
// names more nodes with addr= parameters
// (redis://h1:6379?addr=h2:6379&addr=h3:6379). The service's wiring and
// the load tools both open Redis through it, so they read the same URLs
// the same way.
//
// It imports go-redis and redact only: nothing of the service it serves.
package redisurl

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/redact"
)

// minPoolSize is the least connection pool a client gets, per node of a
// cluster as for a single server: a hot sale's scripts all go to the
// master of its slot.
const minPoolSize = 64

// Open connects to rawURL and pings it. A URL with addr= parameters is a
// Redis Cluster; every script still runs on one slot because a sale's keys
// share a hash tag. Errors never carry the URL's password.
func Open(ctx context.Context, rawURL string) (_ redis.UniversalClient, err error) {
	// url.Parse's errors quote the whole URL, password included.
	defer func() { err = redact.Error(err, rawURL) }()
	var c redis.UniversalClient
	if IsCluster(rawURL) {
		opt, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("SECKILL_REDIS_URL: %w", err)
		}
		opt.PoolSize = max(opt.PoolSize, minPoolSize)
		c = redis.NewClusterClient(opt)
	} else {
		opt, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("SECKILL_REDIS_URL: %w", err)
		}
		opt.PoolSize = max(opt.PoolSize, minPoolSize)
		c = redis.NewClient(opt)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis %s: %w", redact.URL(rawURL), err)
	}
	return c, nil
}

// IsCluster reports whether rawURL names a Redis Cluster: it has addr=
// parameters.
func IsCluster(rawURL string) bool { return strings.Contains(rawURL, "addr=") }
