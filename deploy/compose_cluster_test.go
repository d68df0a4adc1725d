package deploy

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The compose profile "cluster": its services by role.
var (
	clusterRedisNodes    = []string{"redis-node-1", "redis-node-2", "redis-node-3", "redis-node-4", "redis-node-5", "redis-node-6"}
	clusterRabbitMQNodes = []string{"rabbitmq-node-1", "rabbitmq-node-2", "rabbitmq-node-3"}
	clusterAPIs          = []string{"cluster-api-1", "cluster-api-2"}
	clusterWorkers       = []string{"cluster-worker-1", "cluster-worker-2"}
)

// readDeploy reads a file the compose file mounts from deploy/cluster.
func readDeploy(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("cluster", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestComposeCluster checks the profile "cluster" of docker-compose.yml:
// a Redis Cluster of six nodes formed by a one-shot, three RabbitMQ nodes
// that find each other, two apis behind a proxy whose network they trust,
// two workers; everything in the profile, nothing of the default stack
// moved into it.
func TestComposeCluster(t *testing.T) {
	c := loadCompose(t)
	others := []string{"redis-cluster-create", "rabbitmq-proxy", "cluster-proxy"}
	profile := slices.Concat(clusterRedisNodes, clusterRabbitMQNodes, clusterAPIs, clusterWorkers, others)

	t.Run("services in the profile, the default stack outside it", func(t *testing.T) {
		for _, name := range profile {
			s, ok := c.Services[name]
			if !ok {
				t.Errorf("service %s missing", name)
				continue
			}
			if !slices.Equal(s.Profiles, []string{"cluster"}) {
				t.Errorf("%s has profiles %v, want [cluster]", name, s.Profiles)
			}
			if name != "redis-cluster-create" && (s.Healthcheck == nil || s.Healthcheck.Test == nil) {
				t.Errorf("%s has no healthcheck", name)
			}
		}
		for name, s := range c.Services {
			if !slices.Contains(profile, name) && len(s.Profiles) > 0 {
				t.Errorf("%s has profiles %v: the default stack starts with a bare docker compose up", name, s.Profiles)
			}
		}
	})

	t.Run("a redis cluster of six nodes, formed once", func(t *testing.T) {
		conf := readDeploy(t, "redis.conf")
		for _, want := range []string{"cluster-enabled yes", "appendonly yes", "maxmemory-policy noeviction"} {
			if !regexp.MustCompile(`(?m)^` + want + `$`).MatchString(conf) {
				t.Errorf("deploy/cluster/redis.conf lacks %q", want)
			}
		}
		for _, n := range clusterRedisNodes {
			s := c.Services[n]
			cmd := strings.Join(asStrings(s.Command), " ")
			if !strings.Contains(cmd, "/usr/local/etc/redis/redis.conf") || !strings.Contains(cmd, "--cluster-announce-hostname "+n) {
				t.Errorf("%s runs %q: want the cluster config and its own name announced", n, cmd)
			}
			if !slices.Contains(s.Volumes, "./deploy/cluster/redis.conf:/usr/local/etc/redis/redis.conf:ro") ||
				!slices.Contains(s.Volumes, n+"-data:/data") {
				t.Errorf("%s mounts %v: want the config and a volume of its own", n, s.Volumes)
			}
		}
		create := c.Services["redis-cluster-create"]
		if create.Restart != "no" || create.Healthcheck != nil {
			t.Errorf("redis-cluster-create is not a one-shot: restart %q, healthcheck %v", create.Restart, create.Healthcheck)
		}
		for _, n := range clusterRedisNodes {
			if d, ok := create.DependsOn[n]; !ok || d.Condition != "service_healthy" {
				t.Errorf("redis-cluster-create does not wait for %s to be healthy", n)
			}
		}
		script := readDeploy(t, "create-redis-cluster.sh")
		if !strings.Contains(script, "--cluster create") || !strings.Contains(script, "--cluster-replicas 1") {
			t.Error("create-redis-cluster.sh does not create a cluster with one replica per master")
		}
		if !strings.Contains(script, strings.Join(clusterRedisNodes, " ")) {
			t.Errorf("create-redis-cluster.sh does not name the nodes %v", clusterRedisNodes)
		}
		if !slices.Contains(create.Volumes, "./deploy/cluster:/deploy:ro") || !strings.Contains(strings.Join(asStrings(create.Command), " "), "/deploy/create-redis-cluster.sh") {
			t.Errorf("redis-cluster-create does not run deploy/cluster/create-redis-cluster.sh: %+v", create)
		}
	})

	t.Run("three rabbitmq nodes that find each other", func(t *testing.T) {
		conf := readDeploy(t, "rabbitmq.conf")
		cookie := ""
		for i, n := range clusterRabbitMQNodes {
			s := c.Services[n]
			if s.Hostname != n {
				t.Errorf("%s has hostname %q, want %s (its node name rabbit@%s)", n, s.Hostname, n, n)
			}
			if want := fmt.Sprintf("cluster_formation.classic_config.nodes.%d = rabbit@%s", i+1, n); !strings.Contains(conf, want) {
				t.Errorf("deploy/cluster/rabbitmq.conf lacks %q", want)
			}
			if !slices.Contains(s.Volumes, "./deploy/cluster/rabbitmq.conf:/etc/rabbitmq/conf.d/20-cluster.conf:ro") ||
				!slices.Contains(s.Volumes, n+"-data:/var/lib/rabbitmq") {
				t.Errorf("%s mounts %v: want the cluster config and a volume of its own", n, s.Volumes)
			}
			v := s.Environment["RABBITMQ_ERLANG_COOKIE"]
			if i == 0 {
				cookie = v
			}
			if v == "" || v != cookie {
				t.Errorf("%s has the Erlang cookie %q, want the one every node shares", n, v)
			}
		}
		// The cookie is a secret: no literal, it falls back to a required one.
		if !regexp.MustCompile(`^\$\{[A-Z_]+:-\$\{[A-Z_]+:\?[^}]+\}\}$`).MatchString(cookie) {
			t.Errorf("RABBITMQ_ERLANG_COOKIE = %q, want ${VAR:-${REQUIRED:?message}}: never a default value", cookie)
		}
		lb := readDeploy(t, "rabbitmq-proxy.conf")
		for _, n := range clusterRabbitMQNodes {
			if !strings.Contains(lb, "server "+n+":5672") {
				t.Errorf("deploy/cluster/rabbitmq-proxy.conf does not forward to %s", n)
			}
		}
	})

	t.Run("apis and workers on the cluster", func(t *testing.T) {
		for _, name := range slices.Concat(clusterAPIs, clusterWorkers) {
			s := c.Services[name]
			bin := "/usr/local/bin/worker"
			if slices.Contains(clusterAPIs, name) {
				bin = "/usr/local/bin/api"
			}
			if s.Image != c.Services["api"].Image || s.Build == nil || !slices.Equal(s.Entrypoint, []string{bin}) {
				t.Errorf("%s runs %q %v, want the image api builds with %s", name, s.Image, s.Entrypoint, bin)
			}
			amqp := strings.NewReplacer("${RABBITMQ_USER:-seckill}", "u", "${RABBITMQ_PASSWORD:?set RABBITMQ_PASSWORD}", "p").
				Replace(s.Environment["SECKILL_AMQP_URL"])
			if u, err := url.Parse(amqp); err != nil || u.Hostname() != "rabbitmq-proxy" {
				t.Errorf("%s: SECKILL_AMQP_URL %q does not go through rabbitmq-proxy (%v)", name, amqp, err)
			}
			for _, dep := range slices.Concat(clusterRabbitMQNodes, []string{"rabbitmq-proxy", "mysql"}) {
				if _, ok := s.DependsOn[dep]; !ok {
					t.Errorf("%s does not wait for %s", name, dep)
				}
			}
		}
		subnet := ""
		if e, ok := c.Networks["edge"]; ok && len(e.IPAM.Config) == 1 {
			subnet = e.IPAM.Config[0].Subnet
		}
		if subnet == "" {
			t.Fatalf("no network edge with one subnet: %+v", c.Networks)
		}
		for _, name := range clusterAPIs {
			s := c.Services[name]
			u, err := url.Parse(s.Environment["SECKILL_REDIS_URL"])
			if err != nil {
				t.Fatalf("%s: SECKILL_REDIS_URL: %v", name, err)
			}
			addrs := append([]string{u.Host}, u.Query()["addr"]...)
			if len(addrs) < 2 || u.Path != "" {
				t.Errorf("%s: SECKILL_REDIS_URL %q is not a cluster URL (a host, addr=…, no database)", name, u)
			}
			for _, a := range addrs {
				if !slices.Contains(clusterRedisNodes, strings.TrimSuffix(a, ":6379")) {
					t.Errorf("%s: SECKILL_REDIS_URL names %s, not a node of the cluster on :6379", name, a)
				}
			}
			if d, ok := s.DependsOn["redis-cluster-create"]; !ok || d.Condition != "service_completed_successfully" {
				t.Errorf("%s does not wait for the redis cluster to be formed", name)
			}
			if got := s.Environment["SECKILL_TRUSTED_PROXIES"]; got != subnet {
				t.Errorf("%s trusts %q, want the proxy's network %s", name, got, subnet)
			}
			if !slices.Contains(s.Networks, "edge") || !slices.Contains(s.Networks, "default") {
				t.Errorf("%s is on %v, want default (the servers) and edge (the proxy)", name, s.Networks)
			}
		}
	})

	t.Run("the proxy alone with the apis on the trusted network", func(t *testing.T) {
		p := c.Services["cluster-proxy"]
		if !slices.Equal(p.Networks, []string{"edge"}) {
			t.Errorf("cluster-proxy is on %v, want edge alone", p.Networks)
		}
		for name, s := range c.Services {
			if slices.Contains(s.Networks, "edge") && name != "cluster-proxy" && !slices.Contains(clusterAPIs, name) {
				t.Errorf("%s is on edge, whose addresses the apis trust", name)
			}
		}
		conf := readDeploy(t, "proxy.conf")
		for _, a := range clusterAPIs {
			if !strings.Contains(conf, "server "+a+":8080") {
				t.Errorf("deploy/cluster/proxy.conf does not send to %s:8080", a)
			}
			if _, ok := p.DependsOn[a]; !ok {
				t.Errorf("cluster-proxy does not wait for %s", a)
			}
		}
		// The client's address replaces whatever X-Forwarded-For it sent.
		if !strings.Contains(conf, "proxy_set_header X-Forwarded-For $remote_addr;") {
			t.Error("deploy/cluster/proxy.conf does not set X-Forwarded-For to the client's address")
		}
		if !slices.Contains(p.Volumes, "./deploy/cluster/proxy.conf:/etc/nginx/nginx.conf:ro") {
			t.Errorf("cluster-proxy does not load deploy/cluster/proxy.conf: %v", p.Volumes)
		}
	})
}
