package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/seckill/seckill/internal/testenv"
)

const (
	redisURL  = "redis://127.0.0.1:6379/0"
	amqpURL   = "amqp://guest:guest@127.0.0.1:5672/"
	mysqlRoot = "root@tcp(127.0.0.1:3306)/"
	// memcachedAddr serves the api's read-through sale cache.
	memcachedAddr = "127.0.0.1:11211"
)

// requireServers skips (or, with SECKILL_REQUIRE_SERVICES=1, fails) when
// Redis, RabbitMQ, MariaDB or memcached does not answer on 127.0.0.1.
func requireServers(tb testing.TB) {
	tb.Helper()
	for name, addr := range map[string]string{
		"redis": "127.0.0.1:6379", "rabbitmq": "127.0.0.1:5672", "mariadb": "127.0.0.1:3306", "memcached": memcachedAddr,
	} {
		testenv.Listening(tb, name, addr)
	}
}

// requireTool returns the path of a command, skipping (or failing under
// SECKILL_REQUIRE_SERVICES=1) when it is not installed.
func requireTool(tb testing.TB, name string) string {
	tb.Helper()
	return testenv.Command(tb, name, "Debian's prometheus package; make services installs it")
}

// root is the repository's directory; tests run in deploy/.
func root(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Dir(wd)
}

func randomName(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}
