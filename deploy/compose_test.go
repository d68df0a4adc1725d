package deploy

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/seckill/seckill/internal/config"
)

// composeFile is the part of docker-compose.yml the tests look at.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Secrets map[string]struct {
		Environment string `yaml:"environment"`
		File        string `yaml:"file"`
	} `yaml:"secrets"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Profiles    []string          `yaml:"profiles"`
	Hostname    string            `yaml:"hostname"`
	Restart     string            `yaml:"restart"`
	Networks    []string          `yaml:"networks"`
	Build       any               `yaml:"build"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     any               `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	Secrets     []string          `yaml:"secrets"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test any `yaml:"test"`
	} `yaml:"healthcheck"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root(t), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// envNames lists the env tags of a config struct, embedded structs included.
func envNames(typ reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for n := range envNames(f.Type) {
				out[n] = true
			}
			continue
		}
		if tag := f.Tag.Get("env"); tag != "" {
			out[strings.Split(tag, ",")[0]] = true
		}
	}
	return out
}

// TestCompose checks docker-compose.yml against the code and the rest of
// deploy/: every service is there with a healthcheck, dependencies wait for
// health, the api's and worker's variables are the ones their config
// structs read, ports stay on 127.0.0.1, secrets come from the environment,
// and Prometheus and Grafana point at what compose runs.
func TestCompose(t *testing.T) {
	c := loadCompose(t)

	t.Run("services and healthchecks", func(t *testing.T) {
		for _, name := range []string{"redis", "rabbitmq", "mysql", "memcached", "prometheus", "grafana", "api", "worker"} {
			s, ok := c.Services[name]
			if !ok {
				t.Errorf("service %s missing", name)
				continue
			}
			if s.Healthcheck == nil || s.Healthcheck.Test == nil {
				t.Errorf("service %s has no healthcheck", name)
			}
		}
		for name, s := range c.Services {
			for dep, d := range s.DependsOn {
				ds, ok := c.Services[dep]
				if !ok {
					t.Errorf("%s depends on unknown service %s", name, dep)
				}
				want := "service_healthy"
				if ds.Restart == "no" && ds.Healthcheck == nil {
					want = "service_completed_successfully" // a one-shot
				}
				if d.Condition != want {
					t.Errorf("%s depends on %s with condition %q, want %s", name, dep, d.Condition, want)
				}
			}
		}
		for _, name := range []string{"api", "worker"} {
			if s := c.Services[name]; s.Build == nil || len(s.Entrypoint) == 0 {
				t.Errorf("%s is not built from the Dockerfile with an entrypoint: %+v", name, s)
			}
		}
		for _, dep := range []string{"redis", "rabbitmq", "mysql"} {
			if _, ok := c.Services["api"].DependsOn[dep]; !ok {
				t.Errorf("api does not wait for %s", dep)
			}
		}
		for _, dep := range []string{"rabbitmq", "mysql"} {
			if _, ok := c.Services["worker"].DependsOn[dep]; !ok {
				t.Errorf("worker does not wait for %s", dep)
			}
		}
	})

	t.Run("api and worker environment match the config package", func(t *testing.T) {
		for _, tc := range []struct {
			service  string
			typ      reflect.Type
			required []string
		}{
			{"api", reflect.TypeFor[config.API](), []string{
				"SECKILL_HTTP_ADDR", "SECKILL_ADMIN_ADDR", "SECKILL_REDIS_URL", "SECKILL_AMQP_URL",
				"SECKILL_MYSQL_DSN", "SECKILL_MEMCACHE_SERVERS", "SECKILL_STOCK_BACKEND", "SECKILL_JWT_SECRET",
			}},
			{"worker", reflect.TypeFor[config.Worker](), []string{
				"SECKILL_ADMIN_ADDR", "SECKILL_ADMIN_TOKEN", "SECKILL_AMQP_URL", "SECKILL_MYSQL_DSN",
			}},
			{"cluster-api-1", reflect.TypeFor[config.API](), []string{
				"SECKILL_HTTP_ADDR", "SECKILL_ADMIN_ADDR", "SECKILL_REDIS_URL", "SECKILL_AMQP_URL",
				"SECKILL_MYSQL_DSN", "SECKILL_JWT_SECRET", "SECKILL_ADMIN_TOKEN", "SECKILL_TRUSTED_PROXIES",
			}},
			{"cluster-api-2", reflect.TypeFor[config.API](), []string{
				"SECKILL_HTTP_ADDR", "SECKILL_ADMIN_ADDR", "SECKILL_REDIS_URL", "SECKILL_AMQP_URL",
				"SECKILL_MYSQL_DSN", "SECKILL_JWT_SECRET", "SECKILL_ADMIN_TOKEN", "SECKILL_TRUSTED_PROXIES",
			}},
			{"cluster-worker-1", reflect.TypeFor[config.Worker](), []string{
				"SECKILL_ADMIN_ADDR", "SECKILL_ADMIN_TOKEN", "SECKILL_AMQP_URL", "SECKILL_MYSQL_DSN",
			}},
			{"cluster-worker-2", reflect.TypeFor[config.Worker](), []string{
				"SECKILL_ADMIN_ADDR", "SECKILL_ADMIN_TOKEN", "SECKILL_AMQP_URL", "SECKILL_MYSQL_DSN",
			}},
		} {
			known := envNames(tc.typ)
			env := c.Services[tc.service].Environment
			for name := range env {
				if !known[name] {
					t.Errorf("%s sets %s, which %s does not read", tc.service, name, tc.typ)
				}
			}
			for _, name := range tc.required {
				if _, ok := env[name]; !ok {
					t.Errorf("%s does not set %s", tc.service, name)
				}
			}
		}
	})

	t.Run("ports on localhost, secrets required from the environment", func(t *testing.T) {
		for name, s := range c.Services {
			for _, p := range s.Ports {
				if strings.HasPrefix(p, "127.0.0.1:") {
					continue
				}
				if (name == "api" || name == "cluster-proxy") && strings.HasPrefix(p, "${SECKILL_PUBLIC_BIND:-127.0.0.1}:") && strings.HasSuffix(p, ":8080") {
					continue // the public API, opt-in beyond localhost
				}
				t.Errorf("%s publishes %q beyond 127.0.0.1", name, p)
			}
		}
		secrets := map[string][]string{
			"api":      {"SECKILL_JWT_SECRET", "SECKILL_ADMIN_TOKEN"},
			"worker":   {"SECKILL_ADMIN_TOKEN"},
			"rabbitmq": {"RABBITMQ_DEFAULT_PASS"},
			"mysql":    {"MYSQL_ROOT_PASSWORD", "MYSQL_PASSWORD"},
			"grafana":  {"GF_SECURITY_ADMIN_PASSWORD"},

			"cluster-api-1":    {"SECKILL_JWT_SECRET", "SECKILL_ADMIN_TOKEN"},
			"cluster-api-2":    {"SECKILL_JWT_SECRET", "SECKILL_ADMIN_TOKEN"},
			"cluster-worker-1": {"SECKILL_ADMIN_TOKEN"},
			"cluster-worker-2": {"SECKILL_ADMIN_TOKEN"},
			"rabbitmq-node-1":  {"RABBITMQ_DEFAULT_PASS"},
			"rabbitmq-node-2":  {"RABBITMQ_DEFAULT_PASS"},
			"rabbitmq-node-3":  {"RABBITMQ_DEFAULT_PASS"},
		}
		// ${VAR:?message}: no default, compose refuses to start without it.
		required := regexp.MustCompile(`^\$\{[A-Z_]+:\?[^}]+\}$`)
		for svc, names := range secrets {
			for _, n := range names {
				if v, ok := c.Services[svc].Environment[n]; !ok || !required.MatchString(v) {
					t.Errorf("%s: %s = %q, want ${VAR:?message}: a secret with no default", svc, n, v)
				}
			}
		}
		password := regexp.MustCompile(`:\$\{[A-Z_]+:\?[^}]+\}@`)
		for _, svc := range []string{"api", "worker", "cluster-api-1", "cluster-api-2", "cluster-worker-1", "cluster-worker-2"} {
			for _, n := range []string{"SECKILL_AMQP_URL", "SECKILL_MYSQL_DSN"} {
				if v := c.Services[svc].Environment[n]; !password.MatchString(v) {
					t.Errorf("%s: %s = %q, want its password as ${VAR:?message}", svc, n, v)
				}
			}
		}
		raw, err := os.ReadFile(filepath.Join(root(t), "docker-compose.yml"))
		if err != nil {
			t.Fatal(err)
		}
		if d := regexp.MustCompile(`\$\{[A-Z_]*(PASSWORD|SECRET|TOKEN)[A-Z_]*:?-[^}]*\}`).FindAllString(string(raw), -1); len(d) > 0 {
			t.Errorf("docker-compose.yml gives secrets defaults: %v", d)
		}
	})

	t.Run(".env.example lists every variable compose requires", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(root(t), "docker-compose.yml"))
		if err != nil {
			t.Fatal(err)
		}
		example, err := os.ReadFile(filepath.Join(root(t), ".env.example"))
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]bool{}
		for _, line := range strings.Split(string(example), "\n") {
			if name, _, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(name, "#") {
				listed[name] = true
			}
		}
		required := regexp.MustCompile(`\$\{([A-Z_]+):\?`).FindAllStringSubmatch(string(raw), -1)
		if len(required) == 0 {
			t.Fatal("docker-compose.yml requires no variable")
		}
		for _, m := range required {
			if !listed[m[1]] {
				t.Errorf(".env.example does not list %s, which docker-compose.yml requires", m[1])
			}
		}
	})

	t.Run("redis and memcached never evict stock", func(t *testing.T) {
		redisCmd := strings.Join(asStrings(c.Services["redis"].Command), " ")
		for _, want := range []string{"--appendonly yes", "--maxmemory-policy noeviction"} {
			if !strings.Contains(redisCmd, want) {
				t.Errorf("redis command %q lacks %q", redisCmd, want)
			}
		}
		if !slices.Contains(asStrings(c.Services["memcached"].Command), "-M") {
			t.Errorf("memcached runs without -M: %v", c.Services["memcached"].Command)
		}
	})

	t.Run("prometheus and grafana point at compose's services", func(t *testing.T) {
		checkPrometheusTargets(t, c)
		checkGrafana(t, c)
		for name, s := range c.Services {
			for _, v := range s.Volumes {
				host := strings.Split(v, ":")[0]
				if !strings.HasPrefix(host, "./") {
					if _, ok := c.Volumes[host]; !ok {
						t.Errorf("%s mounts undeclared volume %s", name, host)
					}
					continue
				}
				if _, err := os.Stat(filepath.Join(root(t), host)); err != nil {
					t.Errorf("%s mounts %s: %v", name, host, err)
				}
			}
		}
	})

	t.Run("docker compose config", func(t *testing.T) {
		docker, err := exec.LookPath("docker")
		if err != nil {
			t.Skip("docker is not installed: `docker compose config` not run")
		}
		if out, err := exec.Command(docker, "compose", "version").CombinedOutput(); err != nil {
			t.Skipf("docker compose is not available (%s): `docker compose config` not run", strings.TrimSpace(string(out)))
		}
		for _, profile := range [][]string{nil, {"--profile", "cluster"}} {
			args := slices.Concat([]string{"compose", "-f", filepath.Join(root(t), "docker-compose.yml")}, profile, []string{"config", "--quiet"})
			cmd := exec.Command(docker, args...)
			cmd.Env = os.Environ()
			for _, n := range []string{"SECKILL_JWT_SECRET", "SECKILL_ADMIN_TOKEN", "MYSQL_ROOT_PASSWORD", "MYSQL_PASSWORD", "RABBITMQ_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} {
				cmd.Env = append(cmd.Env, n+"=compose-config-check-0123456789abcdef")
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})
}

func asStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			out[i], _ = x.(string)
		}
		return out
	}
	return nil
}

// checkPrometheusTargets: deploy/prometheus/prometheus.yml scrapes the api
// and the worker at their compose names and admin ports, and compose
// mounts its directory where the command line expects the file.
func checkPrometheusTargets(t *testing.T, c composeFile) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			Authorization *struct {
				Type            string `yaml:"type"`
				CredentialsFile string `yaml:"credentials_file"`
			} `yaml:"authorization"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, svc := range []string{"api", "worker"} {
		_, port, err := net.SplitHostPort(c.Services[svc].Environment["SECKILL_ADMIN_ADDR"])
		if err != nil {
			t.Fatalf("%s SECKILL_ADMIN_ADDR: %v", svc, err)
		}
		want["seckill-"+svc] = net.JoinHostPort(svc, port)
	}
	for _, sc := range cfg.ScrapeConfigs {
		w, ok := want[sc.JobName]
		if !ok {
			continue
		}
		delete(want, sc.JobName)
		if len(sc.StaticConfigs) != 1 || !slices.Equal(sc.StaticConfigs[0].Targets, []string{w}) {
			t.Errorf("job %s scrapes %+v, want %s", sc.JobName, sc.StaticConfigs, w)
		}
		// The admin listeners want the token: compose mounts the secret
		// seckill_admin_token, from SECKILL_ADMIN_TOKEN, where the job reads it.
		if a := sc.Authorization; a == nil || a.Type != "Bearer" || a.CredentialsFile != "/run/secrets/seckill_admin_token" {
			t.Errorf("job %s authorization %+v, want Bearer from /run/secrets/seckill_admin_token", sc.JobName, a)
		}
	}
	if s, ok := c.Secrets["seckill_admin_token"]; !ok || s.Environment != "SECKILL_ADMIN_TOKEN" {
		t.Errorf("secret seckill_admin_token = %+v, want it from the environment variable SECKILL_ADMIN_TOKEN", s)
	}
	if !slices.Contains(c.Services["prometheus"].Secrets, "seckill_admin_token") {
		t.Errorf("prometheus does not mount the secret seckill_admin_token: %v", c.Services["prometheus"].Secrets)
	}
	if len(want) > 0 {
		t.Errorf("prometheus.yml has no job for %v", want)
	}
	p := c.Services["prometheus"]
	if !slices.Contains(p.Volumes, "./deploy/prometheus:/etc/prometheus:ro") ||
		!slices.Contains(asStrings(p.Command), "--config.file=/etc/prometheus/prometheus.yml") {
		t.Errorf("prometheus does not load deploy/prometheus/prometheus.yml: %+v", p)
	}
}

// checkGrafana: the datasource points at the prometheus service with the
// uid the dashboard uses, and the dashboard provider reads the directory
// compose mounts the dashboards into.
func checkGrafana(t *testing.T, c composeFile) {
	t.Helper()
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			URL  string `yaml:"url"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join("grafana", "provisioning", "datasources", "prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].URL != "http://prometheus:9090" || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasource %+v, want prometheus at http://prometheus:9090", ds.Datasources)
	}
	dash, err := os.ReadFile(filepath.Join("grafana", "dashboards", "seckill.json"))
	if err != nil {
		t.Fatal(err)
	}
	uid := `"uid": "` + ds.Datasources[0].UID + `"`
	if strings.Count(string(dash), `"type": "prometheus"`) == 0 || strings.Count(string(dash), `"type": "prometheus"`) != strings.Count(string(dash), uid) {
		t.Errorf("not every prometheus datasource reference of the dashboard uses uid %s", ds.Datasources[0].UID)
	}

	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join("grafana", "provisioning", "dashboards", "seckill.yml"), &prov)
	g := c.Services["grafana"]
	for _, mount := range []string{
		"./deploy/grafana/provisioning:/etc/grafana/provisioning:ro",
		"./deploy/grafana/dashboards:" + prov.Providers[0].Options.Path + ":ro",
	} {
		if !slices.Contains(g.Volumes, mount) {
			t.Errorf("grafana lacks the mount %s: %v", mount, g.Volumes)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestDockerfile: a multi-stage build of both binaries into an image that
// runs as a non-root user.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms int
	var user string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms++
			user = "" // USER applies per stage
		case "USER":
			user = f[1]
		}
	}
	if froms < 2 {
		t.Errorf("%d stages, want a build stage and a runtime stage", froms)
	}
	if u := strings.Split(user, ":")[0]; u == "" || u == "root" || u == "0" {
		t.Errorf("the runtime stage runs as %q, want a non-root user", user)
	}
	for _, pkg := range []string{"./cmd/api", "./cmd/worker"} {
		if !strings.Contains(string(raw), pkg) {
			t.Errorf("the Dockerfile does not build %s", pkg)
		}
	}
	for name, s := range loadCompose(t).Services {
		for _, e := range s.Entrypoint {
			bin := filepath.Base(e)
			if (name == "api" || name == "worker") && !strings.Contains(string(raw), "/out/"+bin) {
				t.Errorf("%s runs %s, which the Dockerfile does not copy", name, e)
			}
		}
	}
}
