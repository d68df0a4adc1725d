package config

import (
	"os"
	"strings"
	"testing"
)

// clearEnv unsets every variable the loaders read, restoring them after the
// test, so that the machine's environment cannot decide a case.
func clearEnv(tb testing.TB) {
	tb.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "SECKILL_") {
			tb.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// loadAPIWith loads the api's configuration from env alone.
func loadAPIWith(tb testing.TB, env map[string]string) (API, error) {
	tb.Helper()
	clearEnv(tb)
	for k, v := range env {
		tb.Setenv(k, v)
	}
	return LoadAPI()
}

// servers is a complete set of real servers, with a valid JWT secret.
var servers = map[string]string{
	"SECKILL_REDIS_URL": "redis://127.0.0.1:6379/0", "SECKILL_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
	"SECKILL_MYSQL_DSN": "root@tcp(127.0.0.1:3306)/seckill", "SECKILL_JWT_SECRET": token32,
}

// setServers configures the real servers; a JWT secret the test has
// already set stays.
func setServers(tb testing.TB) {
	tb.Helper()
	for k, v := range servers {
		if k == "SECKILL_JWT_SECRET" && os.Getenv(k) != "" {
			continue
		}
		tb.Setenv(k, v)
	}
}

// withEnv returns a copy of env with the given key, value pairs set.
func withEnv(env map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(env)+len(kv)/2)
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// failsAsWanted checks a loader's error against want, the text it must
// contain, or "" for success, and reports whether the loader failed (as
// wanted: any other outcome fails tb).
func failsAsWanted(tb testing.TB, err error, want string) bool {
	tb.Helper()
	if want == "" {
		if err != nil {
			tb.Fatalf("err = %v, want none", err)
		}
		return false
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		tb.Fatalf("err = %v, want it to say %q", err, want)
	}
	return true
}
