package config

import (
	"maps"
	"strings"
	"testing"
)

const tokenB32 = "fedcba9876543210fedcba9876543210"

// TestAdminTokens: SECKILL_ADMIN_TOKENS is read into tokens by name; an
// entry without a name or a token, a name given twice (or "admin" beside
// SECKILL_ADMIN_TOKEN), a token given twice and a short token on an
// address beyond loopback are refused, and no error carries a token.
func TestAdminTokens(t *testing.T) {
	tests := []struct {
		name, addr, single, list string
		want                     map[string]string
		wantErr                  string
	}{
		{name: "two names", addr: ":9090", list: "alice:" + token32 + ",bob:" + tokenB32,
			want: map[string]string{"alice": token32, "bob": tokenB32}},
		{name: "beside the single token", addr: ":9090", single: token32, list: " alice:" + tokenB32 + " , ",
			want: map[string]string{"alice": tokenB32}},
		{name: "short on loopback", addr: "127.0.0.1:9090", list: "alice:short",
			want: map[string]string{"alice": "short"}},
		{name: "none", addr: "127.0.0.1:9090", want: map[string]string{}},
		{name: "token with a colon", addr: ":9090", list: "alice:" + token32 + ":x",
			want: map[string]string{"alice": token32 + ":x"}},
		{name: "empty name", addr: "127.0.0.1:9090", list: ":" + token32, wantErr: "SECKILL_ADMIN_TOKENS: entry 1 has no name"},
		{name: "no token", addr: "127.0.0.1:9090", list: "alice:" + token32 + ",bob", wantErr: "SECKILL_ADMIN_TOKENS: entry 2 has no token"},
		{name: "empty token", addr: "127.0.0.1:9090", list: "alice:", wantErr: "entry 1 has no token"},
		{name: "bad name", addr: "127.0.0.1:9090", list: "al ice:" + token32, wantErr: "entry 1: a name is 1 to 64 letters"},
		{name: "duplicate name", addr: "127.0.0.1:9090", list: "alice:" + token32 + ",alice:" + tokenB32,
			wantErr: `the name "alice" is given twice`},
		{name: "admin beside the single token", addr: "127.0.0.1:9090", single: token32, list: "admin:" + tokenB32,
			wantErr: `the name "admin" is SECKILL_ADMIN_TOKEN's`},
		{name: "admin alone", addr: "127.0.0.1:9090", list: "admin:" + tokenB32, want: map[string]string{"admin": tokenB32}},
		{name: "shared token", addr: "127.0.0.1:9090", list: "alice:" + token32 + ",bob:" + token32,
			wantErr: `"alice" and "bob" have the same token`},
		{name: "short off loopback", addr: ":9090", list: "alice:" + token32 + ",bob:" + token31,
			wantErr: `every token of SECKILL_ADMIN_TOKENS must be at least 32 bytes ("bob"'s has 31 bytes)`},
		{name: "short single beside named", addr: ":9090", single: token31, list: "alice:" + token32,
			wantErr: "SECKILL_ADMIN_TOKEN must be at least 32 bytes (it has 31 bytes)"},
	}
	for _, tt := range tests {
		for _, servers := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				clearEnv(t)
				if servers {
					setServers(t)
				}
				t.Setenv("SECKILL_ADMIN_ADDR", tt.addr)
				t.Setenv("SECKILL_ADMIN_TOKEN", tt.single)
				t.Setenv("SECKILL_ADMIN_TOKENS", tt.list)
				c, err := LoadAPI()
				if failsAsWanted(t, err, tt.wantErr) {
					for _, tok := range []string{token31, token32, tokenB32} {
						if strings.Contains(err.Error(), tok) {
							t.Fatalf("err = %v carries a token", err)
						}
					}
					return
				}
				if !maps.Equal(c.AdminTokens, tt.want) {
					t.Fatalf("tokens = %v, want %v", c.AdminTokens, tt.want)
				}
			})
		}
	}
}

// TestAdminTokensLogged: the logged configuration names the token holders
// and masks their tokens.
func TestAdminTokensLogged(t *testing.T) {
	c := API{AdminTokens: map[string]string{"alice": "alice-secret-1", "bob": "bob-secret-2"}}
	text := c.LogValue().String()
	for _, secret := range []string{"alice-secret-1", "bob-secret-2"} {
		if strings.Contains(text, secret) {
			t.Errorf("config logs %q: %s", secret, text)
		}
	}
	if !strings.Contains(text, "admin_tokens=alice:*****,bob:*****") {
		t.Errorf("config log does not name the token holders: %s", text)
	}
}
