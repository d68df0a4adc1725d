// Package config reads each binary's configuration from SECKILL_*
// environment variables into one struct, and logs that struct from its
// tags with secrets masked.
//
// It imports redact (to mask URLs and DSNs) and the env parser; nothing
// else of the project, and only app and cmd/* import it.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Stock backends.
const (
	BackendRedis    = "redis"
	BackendMemcache = "memcache"
)

// Backends are the addresses of the real servers. All empty means embedded.
type Backends struct {
	RedisURL string `env:"SECKILL_REDIS_URL" log:"url"`
	AMQPURL  string `env:"SECKILL_AMQP_URL" log:"url"`
	MySQLDSN string `env:"SECKILL_MYSQL_DSN" log:"dsn"`
}

// Embedded reports whether none of the three servers is configured.
func (b Backends) Embedded() bool { return b.RedisURL == "" && b.AMQPURL == "" && b.MySQLDSN == "" }

// Check refuses a partial set: some servers configured and others not.
func (b Backends) Check() error {
	if b.Embedded() {
		return nil
	}
	var missing []string
	if b.RedisURL == "" {
		missing = append(missing, "SECKILL_REDIS_URL")
	}
	if b.AMQPURL == "" {
		missing = append(missing, "SECKILL_AMQP_URL")
	}
	if b.MySQLDSN == "" {
		missing = append(missing, "SECKILL_MYSQL_DSN")
	}
	if len(missing) > 0 {
		return fmt.Errorf("config: %s not set: set all of SECKILL_REDIS_URL, SECKILL_AMQP_URL and SECKILL_MYSQL_DSN to use real servers, or none of them for the embedded mode", strings.Join(missing, ", "))
	}
	return nil
}

// Names keep several deployments (or test runs) apart on shared servers.
type Names struct {
	// StockPrefix starts every stock key (Redis, memcached) and the
	// sold-out channel.
	StockPrefix string `env:"SECKILL_STOCK_PREFIX" envDefault:"sk"`
	// QueuePrefix, when set, is put before every exchange and queue name.
	QueuePrefix string `env:"SECKILL_QUEUE_PREFIX"`
	// PersistPartitions splits the persist stage into that many queues,
	// a sale always in the same one; api and worker must agree on it.
	PersistPartitions int `env:"SECKILL_PERSIST_PARTITIONS" envDefault:"1"`
}

// MaxPersistPartitions bounds SECKILL_PERSIST_PARTITIONS.
const MaxPersistPartitions = 256

func (n Names) checkPartitions() error {
	if n.PersistPartitions < 1 || n.PersistPartitions > MaxPersistPartitions {
		return fmt.Errorf("config: SECKILL_PERSIST_PARTITIONS must be between 1 and %d, not %d", MaxPersistPartitions, n.PersistPartitions)
	}
	return nil
}

// API is the configuration of cmd/api.
type API struct {
	Backends
	Names
	HTTPAddr        string        `env:"SECKILL_HTTP_ADDR" envDefault:":8080"`
	AdminAddr       string        `env:"SECKILL_ADMIN_ADDR" envDefault:"127.0.0.1:9090"`
	MemcacheServers string        `env:"SECKILL_MEMCACHE_SERVERS" envDefault:"127.0.0.1:11211"`
	StockBackend    string        `env:"SECKILL_STOCK_BACKEND" envDefault:"redis"`
	JWTSecret       string        `env:"SECKILL_JWT_SECRET" log:"secret"`
	AdminToken      string        `env:"SECKILL_ADMIN_TOKEN" log:"secret"`
	UserRate        float64       `env:"SECKILL_RATE_USER_RPS" envDefault:"5"`
	UserBurst       int           `env:"SECKILL_RATE_USER_BURST" envDefault:"10"`
	IPRate          float64       `env:"SECKILL_RATE_IP_RPS" envDefault:"2000"`
	IPBurst         int           `env:"SECKILL_RATE_IP_BURST" envDefault:"4000"`
	BodyLimit       int64         `env:"SECKILL_BODY_LIMIT_BYTES" envDefault:"4096"`
	ConfirmTimeout  time.Duration `env:"SECKILL_CONFIRM_TIMEOUT" envDefault:"5s"`
	ConfirmWindow   int           `env:"SECKILL_CONFIRM_WINDOW" envDefault:"1024"`
	PublishBatch    int           `env:"SECKILL_PUBLISH_BATCH" envDefault:"64"`
	PublishInFlight int           `env:"SECKILL_PUBLISH_INFLIGHT" envDefault:"1"`
	// PublishMaxInFlight is how far the coalesced messages awaiting a
	// confirm may grow beyond PublishInFlight under load: a message of at
	// least PublishFill orders leaves while fewer than this many await
	// theirs. At or below PublishInFlight, the window stays fixed.
	PublishMaxInFlight int `env:"SECKILL_PUBLISH_MAX_INFLIGHT" envDefault:"8"`
	// PublishLinger is how long a message that could leave waits for
	// PublishFill orders, once the message before it carried several: each
	// message costs the broker about the same whatever it carries.
	PublishLinger   time.Duration `env:"SECKILL_PUBLISH_LINGER" envDefault:"3ms"`
	PublishFill     int           `env:"SECKILL_PUBLISH_FILL" envDefault:"48"`
	ReserveLinger   time.Duration `env:"SECKILL_RESERVE_LINGER" envDefault:"500us"`
	ReserveFill     int           `env:"SECKILL_RESERVE_FILL" envDefault:"16"`
	ShutdownTimeout time.Duration `env:"SECKILL_SHUTDOWN_TIMEOUT" envDefault:"15s"`
	// ExpiryInterval is how often the api sweeps unpaid orders whose
	// payment window closed and returns their units.
	ExpiryInterval time.Duration `env:"SECKILL_EXPIRY_INTERVAL" envDefault:"1s"`
	// SettleAfter is the age past which the settler handles an in-flight
	// reservation; SettleInterval is how often it runs.
	SettleAfter    time.Duration `env:"SECKILL_SETTLE_AFTER" envDefault:"30s"`
	SettleInterval time.Duration `env:"SECKILL_SETTLE_INTERVAL" envDefault:"5s"`
	// SettleMaxBacklog is how many messages a sale's persist queue may
	// hold before a settle pass stops republishing its orders; a pass
	// republishes at most the difference.
	SettleMaxBacklog int `env:"SECKILL_SETTLE_MAX_BACKLOG" envDefault:"2000"`
	// EventRelayInterval is how often the embedded mode relays recorded
	// lifecycle events (on real servers the worker relays them).
	EventRelayInterval time.Duration `env:"SECKILL_EVENT_RELAY_INTERVAL" envDefault:"500ms"`
	// TrustedProxies are the peers (CIDRs or single addresses) whose
	// X-Forwarded-For is believed; from anyone else the client address is
	// the TCP peer. LoadAPI checks every entry and writes it as a CIDR.
	TrustedProxies []string `env:"SECKILL_TRUSTED_PROXIES" envSeparator:","`
	// AdminTokenList is SECKILL_ADMIN_TOKENS as written: name:token pairs,
	// comma-separated. LoadAPI checks it into AdminTokens.
	AdminTokenList string `env:"SECKILL_ADMIN_TOKENS" log:"secret"`
	// AdminTokens are the named admin tokens by actor name; the name of
	// the token a request carries is the actor of its audit entries.
	AdminTokens map[string]string `env:"-"`
	// RedisWaitReplicas, when positive, makes the Redis stock backend wait
	// after each reservation script call that granted a unit until that
	// many replicas of the sale's master acknowledged it, or
	// RedisWaitTimeout passed; the reservations stand either way.
	RedisWaitReplicas int           `env:"SECKILL_REDIS_WAIT_REPLICAS" envDefault:"0"`
	RedisWaitTimeout  time.Duration `env:"SECKILL_REDIS_WAIT_TIMEOUT" envDefault:"50ms"`
	// Storefront is "on" (the default) or "off": whether the public
	// listener serves the storefront page at GET /.
	Storefront string `env:"SECKILL_STOREFRONT" envDefault:"on"`
	// Embedded mode only.
	DemoStock   int64  `env:"SECKILL_DEMO_STOCK" envDefault:"1000"`
	SQLitePath  string `env:"SECKILL_SQLITE_PATH" envDefault:""`
	LogLevel    string `env:"SECKILL_LOG_LEVEL" envDefault:"info"`
	WorkerBatch int    `env:"SECKILL_WORKER_BATCH" envDefault:"512"`
}

// Worker is the configuration of cmd/worker.
type Worker struct {
	Names
	AMQPURL         string        `env:"SECKILL_AMQP_URL" log:"url"`
	MySQLDSN        string        `env:"SECKILL_MYSQL_DSN" log:"dsn"`
	AdminAddr       string        `env:"SECKILL_ADMIN_ADDR" envDefault:"127.0.0.1:9091"`
	AdminToken      string        `env:"SECKILL_ADMIN_TOKEN" log:"secret"` // guards the admin listener; required beyond loopback
	BatchSize       int           `env:"SECKILL_WORKER_BATCH" envDefault:"512"`
	BatchWait       time.Duration `env:"SECKILL_WORKER_LINGER" envDefault:"50ms"`
	Prefetch        int           `env:"SECKILL_WORKER_PREFETCH" envDefault:"0"`
	ShutdownTimeout time.Duration `env:"SECKILL_SHUTDOWN_TIMEOUT" envDefault:"15s"`
	LogLevel        string        `env:"SECKILL_LOG_LEVEL" envDefault:"info"`
	// EventRelayInterval is how often the worker relays the lifecycle
	// events MySQL recorded (order.paid, order.cancelled) to the exchange.
	EventRelayInterval time.Duration `env:"SECKILL_EVENT_RELAY_INTERVAL" envDefault:"500ms"`

	// AckDelay is how long the worker may hold the ack of committed
	// batches to ack several in one frame (at most Prefetch/2 messages);
	// 0 acks each batch at once.
	AckDelay time.Duration `env:"SECKILL_WORKER_ACK_DELAY" envDefault:"200ms"`
}

// EmbeddedHTTPAddr is the public listener's address in the embedded mode
// when SECKILL_HTTP_ADDR is not set: loopback only.
const EmbeddedHTTPAddr = "127.0.0.1:8080"

// EmbeddedFromEnv reports whether none of the three servers is set in the
// environment, before the rest of the configuration is read.
func EmbeddedFromEnv() bool {
	return os.Getenv("SECKILL_REDIS_URL") == "" && os.Getenv("SECKILL_AMQP_URL") == "" && os.Getenv("SECKILL_MYSQL_DSN") == ""
}

// LoadAPI reads and checks the api's configuration.
func LoadAPI() (API, error) {
	var c API
	if err := env.Parse(&c); err != nil {
		return API{}, fmt.Errorf("config: %w", err)
	}
	if err := c.Check(); err != nil {
		return API{}, err
	}
	if _, set := os.LookupEnv("SECKILL_HTTP_ADDR"); c.Embedded() && !set {
		// The embedded mode runs with a random secret, no admin token and
		// demo tokens for anyone: it listens on this machine only unless
		// told otherwise.
		c.HTTPAddr = EmbeddedHTTPAddr
	}
	if _, set := os.LookupEnv("SECKILL_RATE_IP_RPS"); c.Embedded() && !set {
		// The embedded mode is a demo driven from this machine: every client
		// shares the loopback address, so a per-IP bucket would only throttle
		// the demo's own load tool. Set the variable to turn it on.
		c.IPRate = 0
	}
	proxies, err := ParseTrustedProxies(c.TrustedProxies)
	if err != nil {
		return API{}, err
	}
	c.TrustedProxies = proxies
	if err := c.checkPartitions(); err != nil {
		return API{}, err
	}
	named, err := ParseAdminTokens(c.AdminTokenList, c.AdminToken != "")
	if err != nil {
		return API{}, err
	}
	c.AdminTokens = named
	switch {
	case c.StockBackend != BackendRedis && c.StockBackend != BackendMemcache:
		return API{}, fmt.Errorf("config: SECKILL_STOCK_BACKEND must be %q or %q, not %q", BackendRedis, BackendMemcache, c.StockBackend)
	case !c.Embedded() && len(c.JWTSecret) < MinSecretBytes:
		return API{}, fmt.Errorf("config: SECKILL_JWT_SECRET must be at least %d bytes outside the embedded mode (it has %d): set it to a random secret, e.g. `openssl rand -hex 32`", MinSecretBytes, len(c.JWTSecret))
	case c.BodyLimit <= 0:
		return API{}, errors.New("config: SECKILL_BODY_LIMIT_BYTES must be positive")
	case c.ConfirmWindow <= 0:
		return API{}, errors.New("config: SECKILL_CONFIRM_WINDOW must be positive")
	case c.PublishBatch <= 0 || c.PublishInFlight <= 0 || c.PublishMaxInFlight <= 0:
		return API{}, errors.New("config: SECKILL_PUBLISH_BATCH, SECKILL_PUBLISH_INFLIGHT and SECKILL_PUBLISH_MAX_INFLIGHT must be positive")
	case c.PublishLinger < 0 || c.PublishLinger > time.Second || c.PublishFill <= 0:
		return API{}, errors.New("config: SECKILL_PUBLISH_LINGER must be between 0s and 1s, SECKILL_PUBLISH_FILL positive")
	case c.ReserveLinger < 0 || c.ReserveLinger > time.Second || c.ReserveFill <= 0:
		return API{}, errors.New("config: SECKILL_RESERVE_LINGER must be between 0s and 1s, SECKILL_RESERVE_FILL positive")
	case c.DemoStock <= 0:
		return API{}, errors.New("config: SECKILL_DEMO_STOCK must be positive")
	case c.Storefront != StorefrontOn && c.Storefront != StorefrontOff:
		return API{}, fmt.Errorf("config: SECKILL_STOREFRONT must be %q or %q, not %q", StorefrontOn, StorefrontOff, c.Storefront)
	case c.ExpiryInterval <= 0:
		return API{}, errors.New("config: SECKILL_EXPIRY_INTERVAL must be positive")
	case c.SettleInterval <= 0:
		return API{}, errors.New("config: SECKILL_SETTLE_INTERVAL must be positive")
	case c.SettleMaxBacklog <= 0:
		return API{}, errors.New("config: SECKILL_SETTLE_MAX_BACKLOG must be positive")
	case c.EventRelayInterval <= 0:
		return API{}, errors.New("config: SECKILL_EVENT_RELAY_INTERVAL must be positive")
	case c.RedisWaitReplicas < 0:
		return API{}, errors.New("config: SECKILL_REDIS_WAIT_REPLICAS must be 0 (off) or more")
	case c.RedisWaitReplicas > 0 && (c.RedisWaitTimeout < MinRedisWaitTimeout || c.RedisWaitTimeout > MaxRedisWaitTimeout):
		// WAIT counts in milliseconds, and 0 would block forever; past the
		// client's read timeout (3s) a call would fail after its script ran.
		return API{}, fmt.Errorf("config: SECKILL_REDIS_WAIT_TIMEOUT (%v) must be between %v and %v", c.RedisWaitTimeout, MinRedisWaitTimeout, MaxRedisWaitTimeout)
	case c.RedisWaitReplicas > 0 && (c.Embedded() || c.StockBackend != BackendRedis):
		return API{}, errors.New("config: SECKILL_REDIS_WAIT_REPLICAS needs the redis stock backend on a real Redis (SECKILL_REDIS_URL): the embedded Redis and memcached have no replicas")
	case checkAdmin(c.AdminAddr, c.AdminToken, c.AdminTokens) != nil:
		return API{}, checkAdmin(c.AdminAddr, c.AdminToken, c.AdminTokens)
	case c.SettleAfter < c.ConfirmTimeout+time.Second:
		// A publish still waiting for its confirm must never be
		// republished: its definite failure releases the unit.
		return API{}, fmt.Errorf("config: SECKILL_SETTLE_AFTER (%v) must be at least SECKILL_CONFIRM_TIMEOUT (%v) plus 1s", c.SettleAfter, c.ConfirmTimeout)
	}
	return c, nil
}

// The values of SECKILL_STOREFRONT.
const (
	StorefrontOn  = "on"
	StorefrontOff = "off"
)

// StorefrontServed reports whether the public listener serves the
// storefront page: unless SECKILL_STOREFRONT is "off".
func (c API) StorefrontServed() bool { return c.Storefront != StorefrontOff }

// ParseTrustedProxies checks a SECKILL_TRUSTED_PROXIES list and returns
// it as CIDRs: an address stands for itself alone (/32 or /128), blank
// entries are skipped.
func ParseTrustedProxies(list []string) ([]string, error) {
	var out []string
	for _, raw := range list {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked().String())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String())
			continue
		}
		return nil, fmt.Errorf("config: SECKILL_TRUSTED_PROXIES: %q is neither an IP address nor a CIDR; write a comma-separated list such as 10.0.0.0/8,192.0.2.7", s)
	}
	return out, nil
}

// The bounds of SECKILL_REDIS_WAIT_TIMEOUT.
const (
	MinRedisWaitTimeout = time.Millisecond
	MaxRedisWaitTimeout = time.Second
)

// MinSecretBytes is the least length of SECKILL_JWT_SECRET outside the
// embedded mode, and of SECKILL_ADMIN_TOKEN on an admin address beyond
// loopback: 256 bits, the HS256 key size.
const MinSecretBytes = 32

// AdminActor is the actor name of SECKILL_ADMIN_TOKEN, which no named
// token may take when that token is set.
const AdminActor = "admin"

// maxActorBytes bounds an admin token's name (the audit log's actor).
const maxActorBytes = 64

// ParseAdminTokens checks a SECKILL_ADMIN_TOKENS list (name:token pairs,
// comma-separated, blank entries skipped) and returns the tokens by name.
// It refuses an entry without a name or a token, a name that is not 1 to
// 64 letters, digits, '.', '_' or '-', a name given twice (or "admin"
// while SECKILL_ADMIN_TOKEN is set) and a token given to two names.
// Errors name the entry, never its token.
func ParseAdminTokens(list string, adminSet bool) (map[string]string, error) {
	out := map[string]string{}
	owner := map[string]string{} // token to name
	for i, raw := range strings.Split(list, ",") {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		name, token, ok := strings.Cut(entry, ":")
		name = strings.TrimSpace(name)
		switch {
		case !ok || token == "":
			return nil, fmt.Errorf("config: SECKILL_ADMIN_TOKENS: entry %d has no token: write name:token pairs, e.g. alice:<token>,bob:<token>", i+1)
		case name == "":
			return nil, fmt.Errorf("config: SECKILL_ADMIN_TOKENS: entry %d has no name: write name:token pairs, e.g. alice:<token>,bob:<token>", i+1)
		case !validActor(name):
			return nil, fmt.Errorf("config: SECKILL_ADMIN_TOKENS: entry %d: a name is 1 to %d letters, digits, '.', '_' or '-'", i+1, maxActorBytes)
		case name == AdminActor && adminSet:
			return nil, fmt.Errorf("config: SECKILL_ADMIN_TOKENS: the name %q is SECKILL_ADMIN_TOKEN's: choose another", name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("config: SECKILL_ADMIN_TOKENS: the name %q is given twice: each name has one token", name)
		}
		if other, dup := owner[token]; dup {
			return nil, fmt.Errorf("config: SECKILL_ADMIN_TOKENS: %q and %q have the same token: give each name its own", other, name)
		}
		out[name], owner[token] = token, name
	}
	return out, nil
}

func validActor(name string) bool {
	if name == "" || len(name) > maxActorBytes {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

// checkAdmin refuses an admin listener reachable from other machines
// without a bearer token, or with one shorter than MinSecretBytes: that
// listener mints user tokens, changes sales and serves pprof. token is
// SECKILL_ADMIN_TOKEN, named the checked SECKILL_ADMIN_TOKENS.
func checkAdmin(addr, token string, named map[string]string) error {
	loopback, err := IsLoopback(addr)
	if err != nil {
		return fmt.Errorf("config: SECKILL_ADMIN_ADDR %q: %w", addr, err)
	}
	if loopback {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(named)) {
		if n := len(named[name]); n < MinSecretBytes {
			return fmt.Errorf("config: SECKILL_ADMIN_ADDR %q listens beyond loopback, so every token of SECKILL_ADMIN_TOKENS must be at least %d bytes (%q's has %d bytes): "+
				"set it to a random secret, e.g. `openssl rand -hex 32`, or listen on 127.0.0.1", addr, MinSecretBytes, name, n)
		}
	}
	if len(token) >= MinSecretBytes || token == "" && len(named) > 0 {
		return nil
	}
	have := "is not set"
	if token != "" {
		have = fmt.Sprintf("has %d bytes", len(token))
	}
	return fmt.Errorf("config: SECKILL_ADMIN_ADDR %q listens beyond loopback, so SECKILL_ADMIN_TOKEN must be at least %d bytes (it %s): "+
		"set SECKILL_ADMIN_TOKEN to a random secret, e.g. `openssl rand -hex 32`, or listen on 127.0.0.1", addr, MinSecretBytes, have)
}

// IsLoopback reports whether a listen address (host:port) accepts only
// connections from this machine: a loopback IP or "localhost". An empty
// host listens on every interface.
func IsLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, errors.New("want host:port, e.g. 127.0.0.1:9090")
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback(), nil
}

// LoadWorker reads and checks the worker's configuration.
func LoadWorker() (Worker, error) {
	var c Worker
	if err := env.Parse(&c); err != nil {
		return Worker{}, fmt.Errorf("config: %w", err)
	}
	switch {
	case c.AMQPURL == "" || c.MySQLDSN == "":
		return Worker{}, errors.New("config: the worker needs SECKILL_AMQP_URL and SECKILL_MYSQL_DSN (the embedded mode runs its worker inside cmd/api)")
	case c.BatchSize <= 0:
		return Worker{}, errors.New("config: SECKILL_WORKER_BATCH must be positive")
	case c.AckDelay < 0 || c.AckDelay > time.Minute:
		return Worker{}, errors.New("config: SECKILL_WORKER_ACK_DELAY must be between 0s and 1m")
	case c.EventRelayInterval <= 0:
		return Worker{}, errors.New("config: SECKILL_EVENT_RELAY_INTERVAL must be positive")
	case c.checkPartitions() != nil:
		return Worker{}, c.checkPartitions()
	case checkAdmin(c.AdminAddr, c.AdminToken, nil) != nil:
		return Worker{}, checkAdmin(c.AdminAddr, c.AdminToken, nil)
	}
	if c.Prefetch <= 0 {
		c.Prefetch = 2 * c.BatchSize
	}
	return c, nil
}

// LevelFrom parses a log level name, defaulting to info.
func LevelFrom(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
