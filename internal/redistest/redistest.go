// Package redistest gives tests the local Redis Cluster that
// scripts/services.sh starts (3 masters and 3 replicas on
// 127.0.0.1:7000-7005) and removes a test's keys from every master of a
// cluster. It is imported only by tests.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/testenv"
)

// ClusterAddrs are the seed nodes of the local cluster; a client learns the
// other nodes from them.
var ClusterAddrs = []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"}

// ClusterURL is the local cluster in SECKILL_REDIS_URL's form.
const ClusterURL = "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002"

// Cluster returns a client of the local Redis Cluster, closed in cleanup.
// Unless the cluster answers with every slot served, the test skips, or
// fails when SECKILL_REQUIRE_SERVICES=1.
func Cluster(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	// A pool large enough for the start-gate test's burst, with a patient
	// pool timeout: a slow shared machine must not turn into errors.
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: ClusterAddrs, PoolSize: 64, PoolTimeout: 30 * time.Second,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := healthy(ctx, client); err != nil {
		_ = client.Close()
		testenv.Need(tb, "the redis cluster at "+strings.Join(ClusterAddrs, ",")+" (scripts/services.sh starts it)", err)
	}
	tb.Cleanup(func() { _ = client.Close() })
	return client
}

// healthy checks that the cluster serves every slot and that each of its
// masters answers.
func healthy(ctx context.Context, c *redis.ClusterClient) error {
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return errors.New("cluster_state is not ok")
	}
	return c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return m.Ping(ctx).Err()
	})
}

// Prefix returns a key prefix no other test uses; the keys under it are
// deleted from client (every master of a cluster) in cleanup.
func Prefix(tb testing.TB, client redis.UniversalClient) string {
	tb.Helper()
	prefix := "sktest-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	tb.Cleanup(func() {
		if err := DeleteKeys(context.Background(), client, prefix+":*"); err != nil {
			tb.Errorf("cleanup of %s: %v", prefix, err)
		}
	})
	return prefix
}

// DeleteKeys unlinks every key matching pattern. On a cluster it scans
// each master, since SCAN sees only the node it is sent to.
func DeleteKeys(ctx context.Context, c redis.UniversalClient, pattern string) error {
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			return deleteKeys(ctx, m, pattern)
		})
	}
	return deleteKeys(ctx, c, pattern)
}

// deleteKeys unlinks one key at a time: keys of different slots cannot
// share a command on a cluster node.
func deleteKeys(ctx context.Context, c redis.Cmdable, pattern string) error {
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		if err := c.Unlink(ctx, iter.Val()).Err(); err != nil {
			return fmt.Errorf("unlink %s: %w", iter.Val(), err)
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan %s: %w", pattern, err)
	}
	return nil
}
