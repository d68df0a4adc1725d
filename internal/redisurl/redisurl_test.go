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
	for _, tc := range []struct {
		name string
		url  string
		need func(tb testing.TB)
		// pool is the client's pool size; false when c is not the
		// client the URL asks for.
		pool func(c redis.UniversalClient) (int, bool)
	}{
		{"single", "redis://127.0.0.1:6379/0",
			func(tb testing.TB) { testenv.Listening(tb, "redis", "127.0.0.1:6379") },
			func(c redis.UniversalClient) (int, bool) {
				s, ok := c.(*redis.Client)
				if !ok {
					return 0, false
				}
				return s.Options().PoolSize, true
			}},
		{"cluster", redistest.ClusterURL,
			func(tb testing.TB) { redistest.Cluster(tb) },
			func(c redis.UniversalClient) (int, bool) {
				cc, ok := c.(*redis.ClusterClient)
				if !ok {
					return 0, false
				}
				return cc.Options().PoolSize, true
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.need(t)
			c, err := redisurl.Open(t.Context(), tc.url)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			n, ok := tc.pool(c)
			if !ok {
				t.Fatalf("Open(%s) = %T, the wrong kind of client", tc.url, c)
			}
			if n < 64 {
				t.Errorf("pool size %d, want at least 64", n)
			}
		})
	}
}
