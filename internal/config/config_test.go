package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadAPIBackends(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		embed   bool
	}{
		{name: "none: embedded", env: map[string]string{}, embed: true},
		{name: "all three", env: map[string]string{
			"SECKILL_REDIS_URL": "redis://127.0.0.1:6379/0", "SECKILL_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
			"SECKILL_MYSQL_DSN": "root@tcp(127.0.0.1:3306)/seckill", "SECKILL_JWT_SECRET": "0123456789abcdef0123456789abcdef",
		}},
		{name: "only redis", env: map[string]string{"SECKILL_REDIS_URL": "redis://127.0.0.1:6379/0"},
			wantErr: "SECKILL_AMQP_URL, SECKILL_MYSQL_DSN not set"},
		{name: "redis and amqp", env: map[string]string{"SECKILL_REDIS_URL": "redis://x", "SECKILL_AMQP_URL": "amqp://x"},
			wantErr: "SECKILL_MYSQL_DSN not set"},
		{name: "real servers need a secret", env: map[string]string{
			"SECKILL_REDIS_URL": "redis://x", "SECKILL_AMQP_URL": "amqp://x", "SECKILL_MYSQL_DSN": "root@tcp(x)/db",
		}, wantErr: "SECKILL_JWT_SECRET"},
		{name: "unknown backend", env: map[string]string{"SECKILL_STOCK_BACKEND": "etcd"}, wantErr: "SECKILL_STOCK_BACKEND"},
		{name: "no expiry sweep", env: map[string]string{"SECKILL_EXPIRY_INTERVAL": "0s"}, wantErr: "SECKILL_EXPIRY_INTERVAL"},
		{name: "no republish bound", env: map[string]string{"SECKILL_SETTLE_MAX_BACKLOG": "0"}, wantErr: "SECKILL_SETTLE_MAX_BACKLOG"},
		{name: "no publish window", env: map[string]string{"SECKILL_PUBLISH_MAX_INFLIGHT": "0"}, wantErr: "SECKILL_PUBLISH_MAX_INFLIGHT"},
		{name: "replica wait", env: withEnv(servers, "SECKILL_REDIS_WAIT_REPLICAS", "1")},
		{name: "replica wait with a timeout", env: withEnv(servers, "SECKILL_REDIS_WAIT_REPLICAS", "2", "SECKILL_REDIS_WAIT_TIMEOUT", "1s")},
		{name: "negative replica wait", env: withEnv(servers, "SECKILL_REDIS_WAIT_REPLICAS", "-1"), wantErr: "SECKILL_REDIS_WAIT_REPLICAS"},
		{name: "replica wait forever", env: withEnv(servers, "SECKILL_REDIS_WAIT_REPLICAS", "1", "SECKILL_REDIS_WAIT_TIMEOUT", "0s"),
			wantErr: "SECKILL_REDIS_WAIT_TIMEOUT"},
		{name: "replica wait under a millisecond", env: withEnv(servers, "SECKILL_REDIS_WAIT_REPLICAS", "1", "SECKILL_REDIS_WAIT_TIMEOUT", "500us"),
			wantErr: "SECKILL_REDIS_WAIT_TIMEOUT"},
		{name: "replica wait past the read timeout", env: withEnv(servers, "SECKILL_REDIS_WAIT_REPLICAS", "1", "SECKILL_REDIS_WAIT_TIMEOUT", "3s"),
			wantErr: "SECKILL_REDIS_WAIT_TIMEOUT"},
		{name: "replica wait embedded", env: map[string]string{"SECKILL_REDIS_WAIT_REPLICAS": "1"}, wantErr: "SECKILL_REDIS_WAIT_REPLICAS"},
		{name: "replica wait on memcached", env: withEnv(servers, "SECKILL_REDIS_WAIT_REPLICAS", "1", "SECKILL_STOCK_BACKEND", "memcache"),
			wantErr: "SECKILL_REDIS_WAIT_REPLICAS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadAPIWith(t, tt.env)
			if failsAsWanted(t, err, tt.wantErr) {
				return
			}
			if c.Embedded() != tt.embed {
				t.Fatalf("Embedded() = %v, want %v", c.Embedded(), tt.embed)
			}
		})
	}
}

func TestEmbeddedIPLimit(t *testing.T) {
	clearEnv(t)
	c, err := LoadAPI()
	if err != nil {
		t.Fatal(err)
	}
	if c.IPRate != 0 {
		t.Fatalf("embedded without SECKILL_RATE_IP_RPS: IPRate = %v, want 0 (off)", c.IPRate)
	}
}

func TestExpiryIntervalDefault(t *testing.T) {
	clearEnv(t)
	c, err := LoadAPI()
	if err != nil {
		t.Fatal(err)
	}
	if c.ExpiryInterval != time.Second {
		t.Fatalf("ExpiryInterval = %v, want 1s", c.ExpiryInterval)
	}
}

func TestMask(t *testing.T) {
	if got := MaskURL("amqp://guest:secret@127.0.0.1:5672/"); strings.Contains(got, "secret") {
		t.Fatalf("MaskURL leaked the password: %s", got)
	}
	if got := MaskDSN("root:secret@tcp(127.0.0.1:3306)/seckill"); got != "root:xxxxx@tcp(127.0.0.1:3306)/seckill" {
		t.Fatalf("MaskDSN = %s", got)
	}
}

func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		env     string
		want    []string
		wantErr string
	}{
		{env: "", want: nil},
		{env: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
		{env: " 192.0.2.7 , 2001:db8::/32,,::1", want: []string{"192.0.2.7/32", "2001:db8::/32", "::1/128"}},
		{env: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
		{env: "10.0.0.0/8,proxy.internal", wantErr: `SECKILL_TRUSTED_PROXIES: "proxy.internal" is neither an IP address nor a CIDR`},
		{env: "10.0.0.300", wantErr: `"10.0.0.300" is neither`},
		{env: "10.0.0.0/33", wantErr: `"10.0.0.0/33" is neither`},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("SECKILL_TRUSTED_PROXIES", tt.env)
			c, err := LoadAPI()
			if failsAsWanted(t, err, tt.wantErr) {
				return
			}
			if strings.Join(c.TrustedProxies, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("TrustedProxies = %q, want %q", c.TrustedProxies, tt.want)
			}
		})
	}
}

// TestJWTSecretLog: the logged configuration never shows the secret, and
// says so when the embedded mode makes a random one per start.
func TestJWTSecretLog(t *testing.T) {
	tests := []struct {
		name string
		cfg  API
		want string
	}{
		{"embedded without a secret", API{}, "random per start"},
		{"embedded with a secret", API{JWTSecret: "embedded-secret"}, "*****"},
		{"real servers", API{JWTSecret: "real-secret-0123456789abcdef0123456789", Backends: Backends{
			RedisURL: "redis://127.0.0.1:6379/0", AMQPURL: "amqp://127.0.0.1:5672/", MySQLDSN: "root@tcp(127.0.0.1:3306)/x",
		}}, "*****"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, a := range tt.cfg.LogValue().Group() {
				if a.Key == "jwt_secret" {
					if got := a.Value.String(); got != tt.want {
						t.Fatalf("jwt_secret logged as %q, want %q", got, tt.want)
					}
					return
				}
			}
			t.Fatal("no jwt_secret in the logged configuration")
		})
	}
}

// TestStorefrontSwitch: SECKILL_STOREFRONT is on by default, "off" turns
// the page off, and anything else is refused with the values it takes.
func TestStorefrontSwitch(t *testing.T) {
	tests := []struct {
		env     string
		set     bool
		want    bool
		wantErr string
	}{
		{set: false, want: true},
		{env: "on", set: true, want: true},
		{env: "off", set: true, want: false},
		{env: "no", set: true, wantErr: `SECKILL_STOREFRONT must be "on" or "off", not "no"`},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			clearEnv(t)
			if tt.set {
				t.Setenv("SECKILL_STOREFRONT", tt.env)
			}
			c, err := LoadAPI()
			if failsAsWanted(t, err, tt.wantErr) {
				return
			}
			if got := c.StorefrontServed(); got != tt.want {
				t.Fatalf("StorefrontServed() = %v, want %v", got, tt.want)
			}
		})
	}
	if !(API{}).StorefrontServed() {
		t.Error("a configuration built without LoadAPI (Storefront empty) must serve the storefront")
	}
}

// TestPersistPartitions: api and worker read SECKILL_PERSIST_PARTITIONS
// alike, 1 unless set, and refuse a value outside 1..MaxPersistPartitions.
func TestPersistPartitions(t *testing.T) {
	for _, tt := range []struct {
		env     string
		want    int
		wantErr string
	}{
		{env: "", want: 1},
		{env: "4", want: 4},
		{env: "0", wantErr: "SECKILL_PERSIST_PARTITIONS must be between 1 and 256, not 0"},
		{env: "257", wantErr: "SECKILL_PERSIST_PARTITIONS must be between 1 and 256, not 257"},
	} {
		t.Run(tt.env, func(t *testing.T) {
			clearEnv(t)
			setServers(t)
			if tt.env != "" {
				t.Setenv("SECKILL_PERSIST_PARTITIONS", tt.env)
			}
			a, err := LoadAPI()
			if !failsAsWanted(t, err, tt.wantErr) && a.PersistPartitions != tt.want {
				t.Fatalf("api: %d partitions, want %d", a.PersistPartitions, tt.want)
			}
			w, err := LoadWorker()
			if !failsAsWanted(t, err, tt.wantErr) && w.PersistPartitions != tt.want {
				t.Fatalf("worker: %d partitions, want %d", w.PersistPartitions, tt.want)
			}
		})
	}
}

func TestHTTPAddrDefault(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "embedded: loopback", env: map[string]string{}, want: "127.0.0.1:8080"},
		{name: "embedded, set", env: map[string]string{"SECKILL_HTTP_ADDR": ":9999"}, want: ":9999"},
		{name: "real servers: every interface", env: servers, want: ":8080"},
		{name: "real servers, set", env: withEnv(servers, "SECKILL_HTTP_ADDR", "10.0.0.1:80"), want: "10.0.0.1:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadAPIWith(t, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.HTTPAddr != tt.want {
				t.Fatalf("HTTPAddr = %q, want %q", c.HTTPAddr, tt.want)
			}
		})
	}
}
