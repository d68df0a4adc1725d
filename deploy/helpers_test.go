package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const (
	redisURL  = "redis://127.0.0.1:6379/0"
	amqpURL   = "amqp://guest:guest@127.0.0.1:5672/"
	mysqlRoot = "root@tcp(127.0.0.1:3306)/"
	// memcachedAddr serves the api's read-through sale cache.
	memcachedAddr = "127.0.0.1:11211"
)

func required() bool { return os.Getenv("SECKILL_REQUIRE_SERVICES") == "1" }

// requireServers skips (or, with SECKILL_REQUIRE_SERVICES=1, fails) when
// Redis, RabbitMQ, MariaDB or memcached does not answer on 127.0.0.1.
func requireServers(tb testing.TB) {
	tb.Helper()
	for name, addr := range map[string]string{
		"redis": "127.0.0.1:6379", "rabbitmq": "127.0.0.1:5672", "mariadb": "127.0.0.1:3306", "memcached": memcachedAddr,
	} {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			if required() {
				tb.Fatalf("%s at %s is required (SECKILL_REQUIRE_SERVICES=1) but does not answer: %v", name, addr, err)
			}
			tb.Skipf("%s at %s does not answer (%v); set SECKILL_REQUIRE_SERVICES=1 to fail instead", name, addr, err)
		}
		_ = c.Close()
	}
}

// requireTool returns the path of a command, skipping (or failing under
// SECKILL_REQUIRE_SERVICES=1) when it is not installed.
func requireTool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if required() {
			tb.Fatalf("%s is required (SECKILL_REQUIRE_SERVICES=1) but not installed: %v", name, err)
		}
		tb.Skipf("%s not installed (%v); install Debian's prometheus package (make services) or set SECKILL_REQUIRE_SERVICES=1 to fail instead", name, err)
	}
	return path
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
