package lua_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/scripts/lua"
)

var scripts = []struct {
	name, src string
}{
	{"reserve.lua", lua.Reserve},
	{"release.lua", lua.Release},
	{"warm.lua", lua.Warm},
	{"restock.lua", lua.Restock},
	{"room.lua", lua.Room},
	{"resolve.lua", lua.Resolve},
}

// TestScriptsCompile loads every script into a Redis, which compiles it.
func TestScriptsCompile(t *testing.T) {
	srv := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	for _, s := range scripts {
		t.Run(s.name, func(t *testing.T) {
			if strings.TrimSpace(s.src) == "" {
				t.Fatal("script is empty")
			}
			if err := client.ScriptLoad(context.Background(), s.src).Err(); err != nil {
				t.Fatalf("SCRIPT LOAD: %v", err)
			}
		})
	}
}

// TestScriptsTouchOnlyDeclaredKeys keeps the scripts cluster-safe: every
// redis.call names its key as KEYS[n], never a key built inside the script.
func TestScriptsTouchOnlyDeclaredKeys(t *testing.T) {
	call := regexp.MustCompile(`redis\.call\(\s*'([A-Z]+)'\s*,\s*([^,)]+)`)
	keyArg := regexp.MustCompile(`^KEYS\[\d+\]$`)
	for _, s := range scripts {
		t.Run(s.name, func(t *testing.T) {
			calls := call.FindAllStringSubmatch(s.src, -1)
			if len(calls) == 0 {
				t.Fatal("no redis.call found")
			}
			for _, c := range calls {
				if !keyArg.MatchString(strings.TrimSpace(c[2])) {
					t.Errorf("%s on %q: the key must be KEYS[n]", c[1], c[2])
				}
			}
		})
	}
}
