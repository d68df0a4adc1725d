package config

import (
	"strings"
	"testing"
)

const (
	token32 = "0123456789abcdef0123456789abcdef"
	token31 = "0123456789abcdef0123456789abcde"
)

// TestAdminAddressNeedsToken: an admin listener beyond loopback refuses to
// start without a token of at least 32 bytes, in both binaries and in the
// embedded mode; on loopback a token is optional.
func TestAdminAddressNeedsToken(t *testing.T) {
	tests := []struct {
		addr, token string
		wantErr     string
	}{
		{addr: "127.0.0.1:9090"},
		{addr: "127.0.0.2:0"},
		{addr: "[::1]:9090"},
		{addr: "localhost:9090"},
		{addr: "127.0.0.1:9090", token: "short"},
		{addr: ":9090", wantErr: `SECKILL_ADMIN_ADDR ":9090" listens beyond loopback, so SECKILL_ADMIN_TOKEN must be at least 32 bytes (it is not set)`},
		{addr: "0.0.0.0:9090", wantErr: "SECKILL_ADMIN_TOKEN must be at least 32 bytes (it is not set)"},
		{addr: "[::]:9090", wantErr: "SECKILL_ADMIN_TOKEN must be at least 32 bytes"},
		{addr: "10.1.2.3:9090", wantErr: "SECKILL_ADMIN_TOKEN must be at least 32 bytes"},
		{addr: "admin.internal:9090", wantErr: "SECKILL_ADMIN_TOKEN must be at least 32 bytes"},
		{addr: ":9090", token: token31, wantErr: "SECKILL_ADMIN_TOKEN must be at least 32 bytes (it has 31 bytes)"},
		{addr: ":9090", token: token32},
		{addr: "0.0.0.0:9090", token: token32},
		{addr: "9090", wantErr: `SECKILL_ADMIN_ADDR "9090": want host:port`},
	}
	for _, tt := range tests {
		for _, bin := range []string{"api", "embedded api", "worker"} {
			t.Run(bin+" "+tt.addr+" token "+tt.token, func(t *testing.T) {
				clearEnv(t)
				t.Setenv("SECKILL_ADMIN_ADDR", tt.addr)
				t.Setenv("SECKILL_ADMIN_TOKEN", tt.token)
				var err error
				switch bin {
				case "api":
					setServers(t)
					_, err = LoadAPI()
				case "embedded api":
					_, err = LoadAPI()
				case "worker":
					setServers(t)
					_, err = LoadWorker()
				}
				if !failsAsWanted(t, err, tt.wantErr) {
					return
				}
				if !strings.Contains(err.Error(), "set SECKILL_ADMIN_TOKEN") && !strings.Contains(err.Error(), "want host:port") {
					t.Fatalf("err = %v: it does not say what to set", err)
				}
				if tt.token != "" && strings.Contains(err.Error(), tt.token) {
					t.Fatalf("err = %v carries the token", err)
				}
			})
		}
	}
}

// TestJWTSecretLength: outside the embedded mode the JWT secret has at
// least 32 bytes; the embedded mode makes its own when none is set.
func TestJWTSecretLength(t *testing.T) {
	tests := []struct {
		name, secret string
		servers      bool
		wantErr      string
	}{
		{name: "servers, none", servers: true, wantErr: "SECKILL_JWT_SECRET must be at least 32 bytes outside the embedded mode (it has 0)"},
		{name: "servers, 16 bytes", servers: true, secret: token32[:16], wantErr: "(it has 16)"},
		{name: "servers, 31 bytes", servers: true, secret: token31, wantErr: "(it has 31)"},
		{name: "servers, 32 bytes", servers: true, secret: token32},
		{name: "embedded, none"},
		{name: "embedded, short", secret: "short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			if tt.servers {
				setServers(t)
				t.Setenv("SECKILL_JWT_SECRET", tt.secret)
			}
			if !tt.servers && tt.secret != "" {
				t.Setenv("SECKILL_JWT_SECRET", tt.secret)
			}
			_, err := LoadAPI()
			if !failsAsWanted(t, err, tt.wantErr) {
				return
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Fatalf("err = %v carries the secret", err)
			}
		})
	}
}

// TestLogValueMasksSecrets: the logged configuration of both binaries
// carries no secret and no password.
func TestLogValueMasksSecrets(t *testing.T) {
	api := API{
		Backends: Backends{
			RedisURL: "redis://u:redis-pw-1@h:6379/0", AMQPURL: "amqp://u:amqp-pw-2@h:5672/",
			MySQLDSN: "u:mysql-pw-3@tcp(h:3306)/db",
		},
		JWTSecret: "jwt-secret-4", AdminToken: "admin-token-5",
	}
	w := Worker{AMQPURL: api.AMQPURL, MySQLDSN: api.MySQLDSN, AdminToken: "admin-token-6"}
	for name, text := range map[string]string{"api": api.LogValue().String(), "worker": w.LogValue().String()} {
		for _, secret := range []string{"redis-pw-1", "amqp-pw-2", "mysql-pw-3", "jwt-secret-4", "admin-token-5", "admin-token-6"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s config logs %q: %s", name, secret, text)
			}
		}
	}
}
