package redisurl_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/redistest"
	"github.com/seckill/seckill/internal/redisurl"
	"github.com/seckill/seckill/internal/testenv"
)

func TestIsCluster(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"redis://127.0.0.1:6379/0", false},
		{"redis://:pw@127.0.0.1:6379/2?dial_timeout=1s", false},
		{redistest.ClusterURL, true},
		{"redis://127.0.0.1:7000?addr=127.0.0.1:7001", true},
	} {
		if got := redisurl.IsCluster(tc.url); got != tc.want {
			t.Errorf("IsCluster(%s) = %t, want %t", tc.url, got, tc.want)
		}
	}
}

// TestOpen: a URL of one server gets a client of one server, a URL with
// addr= parameters a cluster client, each with at least the pool a hot
// sale needs.
func TestOpen(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		testenv.Listening(t, "redis", "127.0.0.1:6379")
		c, err := redisurl.Open(t.Context(), "redis://127.0.0.1:6379/0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		single, ok := c.(*redis.Client)
		if !ok {
			t.Fatalf("Open = %T, want *redis.Client", c)
		}
		if n := single.Options().PoolSize; n < 64 {
			t.Errorf("pool size %d, want at least 64", n)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		redistest.Cluster(t) // skips unless the local cluster serves
		c, err := redisurl.Open(t.Context(), redistest.ClusterURL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cluster, ok := c.(*redis.ClusterClient)
		if !ok {
			t.Fatalf("Open = %T, want *redis.ClusterClient", c)
		}
		if n := cluster.Options().PoolSize; n < 64 {
			t.Errorf("pool size %d, want at least 64", n)
		}
	})
}
