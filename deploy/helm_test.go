package deploy

import (
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/testenv"
)

// chartSecrets are the chart's required secret values, each one a string
// that must appear in the rendered Secret and nowhere else.
var chartSecrets = map[string]string{
	"secrets.jwtSecret":  "helm-test-jwt-secret-7a1c9e5b3d2f4a6c8e0b",
	"secrets.adminToken": "helm-test-admin-token-4f8d2b6a0c9e7d5b3a1f",
	"secrets.amqpURL":    "amqp://seckill:helm-test-amqp-password@rabbitmq:5672/",
	"secrets.mysqlDSN":   "seckill:helm-test-mysql-password@tcp(mysql:3306)/seckill?parseTime=true",
}

// secretEnv are the variables the binaries must read from the Secret.
var secretEnv = map[string][]string{
	"api":    {"SECKILL_JWT_SECRET", "SECKILL_ADMIN_TOKEN", "SECKILL_AMQP_URL", "SECKILL_MYSQL_DSN"},
	"worker": {"SECKILL_ADMIN_TOKEN", "SECKILL_AMQP_URL", "SECKILL_MYSQL_DSN"},
}

const chartRedisURL = "redis://redis-0.redis:6379?addr=redis-1.redis:6379&addr=redis-2.redis:6379"

// helmBinary is the helm `make helm` installs into .tools/bin, else the
// one on PATH; without either the test skips, or fails under
// SECKILL_REQUIRE_SERVICES=1.
func helmBinary(tb testing.TB) string {
	tb.Helper()
	if p := filepath.Join(root(tb), ".tools", "bin", "helm"); isExecutable(p) {
		return p
	}
	return testenv.Command(tb, "helm", "neither .tools/bin/helm nor helm on PATH; make helm installs it")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// renderChart runs helm template on deploy/helm/seckill with the given
// --set-string values and returns its output, or the error and what helm
// said.
func renderChart(tb testing.TB, values map[string]string) (string, error) {
	tb.Helper()
	args := []string{"template", "seckill", filepath.Join("helm", "seckill")}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		args = append(args, "--set-string", k+"="+values[k])
	}
	out, err := exec.Command(helmBinary(tb), args...).CombinedOutput()
	return string(out), err
}

// chartValues are the required values, with overrides; an empty override
// leaves that value out.
func chartValues(overrides map[string]string) map[string]string {
	v := map[string]string{"config.redisURL": chartRedisURL}
	for k, s := range chartSecrets {
		v[k] = s
	}
	for k, s := range overrides {
		if s == "" {
			delete(v, k)
			continue
		}
		v[k] = s
	}
	return v
}

// manifest is one rendered object: its kind and name, and its text to
// decode further.
type manifest struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	raw string
}

func parseManifests(tb testing.TB, out string) map[string]manifest {
	tb.Helper()
	objs := map[string]manifest{}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(out, -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		var m manifest
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			tb.Fatalf("rendered manifest does not parse: %v\n%s", err, doc)
		}
		m.raw = doc
		objs[m.Kind+"/"+m.Metadata.Name] = m
	}
	return objs
}

func decode[T any](tb testing.TB, m manifest) T {
	tb.Helper()
	var v T
	if err := yaml.Unmarshal([]byte(m.raw), &v); err != nil {
		tb.Fatalf("%s/%s: %v", m.Kind, m.Metadata.Name, err)
	}
	return v
}

func object(tb testing.TB, objs map[string]manifest, kind, name string) manifest {
	tb.Helper()
	m, ok := objs[kind+"/"+name]
	if !ok {
		tb.Fatalf("the chart renders no %s %s; it renders %v", kind, name, slices.Sorted(maps.Keys(objs)))
	}
	return m
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name      string  `yaml:"name"`
		Value     *string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	ReadinessProbe *probe         `yaml:"readinessProbe"`
	LivenessProbe  *probe         `yaml:"livenessProbe"`
	Resources      map[string]any `yaml:"resources"`
}

// port is the number of the container's port a probe or Service names,
// by name or by number.
func (c container) port(ref any) int {
	r := fmt.Sprint(ref)
	for _, p := range c.Ports {
		if p.Name == r || strconv.Itoa(p.ContainerPort) == r {
			return p.ContainerPort
		}
	}
	return 0
}

type deployment struct {
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				Containers []container `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func (d deployment) container(tb testing.TB) container {
	tb.Helper()
	if len(d.Spec.Template.Spec.Containers) != 1 {
		tb.Fatalf("%d containers, want 1", len(d.Spec.Template.Spec.Containers))
	}
	return d.Spec.Template.Spec.Containers[0]
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// addrPort is the port of a listen address such as ":8080".
func addrPort(tb testing.TB, addr string) int {
	tb.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatalf("listen address %q: %v", addr, err)
	}
	n, err := net.LookupPort("tcp", p)
	if err != nil {
		tb.Fatalf("listen address %q: %v", addr, err)
	}
	return n
}

// TestHelmChart renders deploy/helm/seckill with helm template and checks
// the manifests against the binaries and the rest of deploy/: the image
// compose builds, probes on the listeners that serve those paths, a
// Service for the public port only, secrets only through the Secret,
// rendering refused without them, an HPA and a PodDisruptionBudget each.
func TestHelmChart(t *testing.T) {
	out, err := renderChart(t, chartValues(map[string]string{"metrics.podMonitor.enabled": "true"}))
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	objs := parseManifests(t, out)
	const full = "seckill" // release "seckill" of chart "seckill"

	apiDep := decode[deployment](t, object(t, objs, "Deployment", full+"-api"))
	workerDep := decode[deployment](t, object(t, objs, "Deployment", full+"-worker"))
	api, worker := apiDep.container(t), workerDep.container(t)
	configMaps := map[string]map[string]string{}
	for _, name := range []string{"api", "worker"} {
		configMaps[name] = decode[struct {
			Data map[string]string `yaml:"data"`
		}](t, object(t, objs, "ConfigMap", full+"-"+name)).Data
	}

	t.Run("images and binaries", func(t *testing.T) {
		var composeImage string
		for name, s := range loadCompose(t).Services {
			if name == "api" {
				composeImage = s.Image
			}
		}
		for name, c := range map[string]container{"api": api, "worker": worker} {
			if c.Image != composeImage {
				t.Errorf("%s image %q, want %q, the image docker-compose.yml builds", name, c.Image, composeImage)
			}
			if want := []string{"/usr/local/bin/" + name}; !slices.Equal(c.Command, want) {
				t.Errorf("%s command %v, want %v", name, c.Command, want)
			}
			if c.Resources["requests"] == nil || c.Resources["limits"] == nil {
				t.Errorf("%s has no resource requests and limits: %v", name, c.Resources)
			}
		}
	})

	t.Run("probes on the listeners that serve them", func(t *testing.T) {
		publicPort := addrPort(t, configMaps["api"]["SECKILL_HTTP_ADDR"])
		workerAdmin := addrPort(t, configMaps["worker"]["SECKILL_ADMIN_ADDR"])
		for _, tc := range []struct {
			name  string
			c     container
			p     *probe
			path  string
			port  int
			where string
		}{
			{"api readiness", api, api.ReadinessProbe, "/readyz", publicPort, "the public listener (SECKILL_HTTP_ADDR)"},
			{"api liveness", api, api.LivenessProbe, "/healthz", publicPort, "the public listener (SECKILL_HTTP_ADDR)"},
			{"worker liveness", worker, worker.LivenessProbe, "/healthz", workerAdmin, "the worker's admin listener"},
			{"worker readiness", worker, worker.ReadinessProbe, "/healthz", workerAdmin, "the worker's admin listener"},
		} {
			if tc.p == nil || tc.p.HTTPGet == nil {
				t.Errorf("%s: no httpGet probe", tc.name)
				continue
			}
			if tc.p.HTTPGet.Path != tc.path || tc.c.port(tc.p.HTTPGet.Port) != tc.port {
				t.Errorf("%s: GET %s on port %v (%d), want %s on %d, %s",
					tc.name, tc.p.HTTPGet.Path, tc.p.HTTPGet.Port, tc.c.port(tc.p.HTTPGet.Port), tc.path, tc.port, tc.where)
			}
		}
	})

	t.Run("the Service exposes the public port only", func(t *testing.T) {
		svc := decode[struct {
			Spec struct {
				Selector map[string]string `yaml:"selector"`
				Ports    []struct {
					Port       int `yaml:"port"`
					TargetPort any `yaml:"targetPort"`
				} `yaml:"ports"`
			} `yaml:"spec"`
		}](t, object(t, objs, "Service", full+"-api"))
		if !matches(svc.Spec.Selector, apiDep.Spec.Template.Metadata.Labels) || matches(svc.Spec.Selector, workerDep.Spec.Template.Metadata.Labels) {
			t.Errorf("Service selector %v does not pick the api pods alone", svc.Spec.Selector)
		}
		public := addrPort(t, configMaps["api"]["SECKILL_HTTP_ADDR"])
		if len(svc.Spec.Ports) != 1 || api.port(svc.Spec.Ports[0].TargetPort) != public {
			t.Errorf("Service ports %+v, want one, to the public listener's port %d", svc.Spec.Ports, public)
		}
		for _, m := range objs {
			if m.Kind == "Service" && m.Metadata.Name != full+"-api" {
				t.Errorf("the chart renders another Service, %s: the admin listeners are behind none", m.Metadata.Name)
			}
		}
	})

	t.Run("settings from the ConfigMap, read by the binaries", func(t *testing.T) {
		for name, typ := range map[string]reflect.Type{"api": reflect.TypeFor[config.API](), "worker": reflect.TypeFor[config.Worker]()} {
			known := envNames(typ)
			for k := range configMaps[name] {
				if !known[k] {
					t.Errorf("ConfigMap %s-%s sets %s, which %s does not read", full, name, k, typ)
				}
			}
			c := map[string]container{"api": api, "worker": worker}[name]
			if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != full+"-"+name {
				t.Errorf("%s does not take its environment from ConfigMap %s-%s: %+v", name, full, name, c.EnvFrom)
			}
		}
		if got := configMaps["api"]["SECKILL_REDIS_URL"]; got != chartRedisURL {
			t.Errorf("SECKILL_REDIS_URL = %q, want %q", got, chartRedisURL)
		}
		for _, k := range []string{"SECKILL_STOCK_BACKEND", "SECKILL_SETTLE_AFTER", "SECKILL_ADMIN_ADDR"} {
			if configMaps["api"][k] == "" {
				t.Errorf("the api's ConfigMap lacks %s", k)
			}
		}
	})

	t.Run("secrets only through the Secret", func(t *testing.T) {
		secret := decode[struct {
			StringData map[string]string `yaml:"stringData"`
		}](t, object(t, objs, "Secret", full))
		for _, k := range secretEnv["api"] {
			if secret.StringData[k] == "" {
				t.Errorf("the Secret lacks %s", k)
			}
		}
		for _, m := range objs {
			if m.Kind == "Secret" {
				continue
			}
			for key, v := range chartSecrets {
				if strings.Contains(m.raw, v) {
					t.Errorf("%s %s carries the value of %s", m.Kind, m.Metadata.Name, key)
				}
			}
		}
		for name, c := range map[string]container{"api": api, "worker": worker} {
			got := map[string]string{}
			for _, e := range c.Env {
				if e.Value != nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					t.Errorf("%s: env %s is not from a Secret", name, e.Name)
					continue
				}
				if ref := e.ValueFrom.SecretKeyRef; ref.Name == full && ref.Key == e.Name {
					got[e.Name] = ref.Key
				}
			}
			for _, k := range secretEnv[name] {
				if _, ok := got[k]; !ok {
					t.Errorf("%s does not read %s from the Secret %s", name, k, full)
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil && ef.SecretRef.Name != full {
					t.Errorf("%s: envFrom an unknown Secret %s", name, ef.SecretRef.Name)
				}
			}
		}
		for name, cm := range configMaps {
			for k := range cm {
				if slices.Contains(secretEnv["api"], k) {
					t.Errorf("ConfigMap %s-%s carries the secret %s", full, name, k)
				}
			}
			// An admin listener beyond loopback starts only with the token.
			loopback, err := config.IsLoopback(cm["SECKILL_ADMIN_ADDR"])
			if err != nil || loopback {
				t.Errorf("%s SECKILL_ADMIN_ADDR = %q: want an address beyond loopback, which Prometheus can scrape (%v)", name, cm["SECKILL_ADMIN_ADDR"], err)
			}
		}
	})

	t.Run("autoscaler, disruption budgets and pod monitor", func(t *testing.T) {
		hpa := decode[struct {
			Spec struct {
				ScaleTargetRef struct {
					Kind string `yaml:"kind"`
					Name string `yaml:"name"`
				} `yaml:"scaleTargetRef"`
				MinReplicas int `yaml:"minReplicas"`
			} `yaml:"spec"`
		}](t, object(t, objs, "HorizontalPodAutoscaler", full+"-api"))
		if r := hpa.Spec.ScaleTargetRef; r.Kind != "Deployment" || r.Name != full+"-api" || hpa.Spec.MinReplicas < 2 {
			t.Errorf("HPA scales %+v from %d, want the api Deployment from at least 2", r, hpa.Spec.MinReplicas)
		}
		for name, d := range map[string]deployment{"api": apiDep, "worker": workerDep} {
			pdb := decode[struct {
				Spec struct {
					MinAvailable any `yaml:"minAvailable"`
					Selector     struct {
						MatchLabels map[string]string `yaml:"matchLabels"`
					} `yaml:"selector"`
				} `yaml:"spec"`
			}](t, object(t, objs, "PodDisruptionBudget", full+"-"+name))
			if !matches(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) || pdb.Spec.MinAvailable == nil {
				t.Errorf("PDB %s-%s %+v does not keep %s pods available", full, name, pdb.Spec, name)
			}
			if !matches(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
				t.Errorf("Deployment %s-%s does not select its own pods", full, name)
			}
		}
		pm := decode[struct {
			Spec struct {
				PodMetricsEndpoints []struct {
					Port          string `yaml:"port"`
					Path          string `yaml:"path"`
					Authorization struct {
						Type        string `yaml:"type"`
						Credentials struct {
							Name string `yaml:"name"`
							Key  string `yaml:"key"`
						} `yaml:"credentials"`
					} `yaml:"authorization"`
				} `yaml:"podMetricsEndpoints"`
			} `yaml:"spec"`
		}](t, object(t, objs, "PodMonitor", full))
		if e := pm.Spec.PodMetricsEndpoints; len(e) != 1 || e[0].Port != "admin" || e[0].Path != "/metrics" ||
			e[0].Authorization.Type != "Bearer" || e[0].Authorization.Credentials.Name != full || e[0].Authorization.Credentials.Key != "SECKILL_ADMIN_TOKEN" {
			t.Errorf("PodMonitor endpoints %+v, want /metrics on the admin ports with the admin token from the Secret", e)
		}
		for name, c := range map[string]container{"api": api, "worker": worker} {
			admin := addrPort(t, configMaps[name]["SECKILL_ADMIN_ADDR"])
			if c.port("admin") != admin {
				t.Errorf("%s: the port named admin is %d, the admin listener %d", name, c.port("admin"), admin)
			}
		}
	})

	t.Run("rendering refuses missing or weak secrets", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			overrides map[string]string
			want      string
		}{
			{"no JWT secret", map[string]string{"secrets.jwtSecret": ""}, "secrets.jwtSecret is required"},
			{"no admin token", map[string]string{"secrets.adminToken": ""}, "secrets.adminToken is required"},
			{"no AMQP URL", map[string]string{"secrets.amqpURL": ""}, "secrets.amqpURL is required"},
			{"no MySQL DSN", map[string]string{"secrets.mysqlDSN": ""}, "secrets.mysqlDSN is required"},
			{"no Redis URL", map[string]string{"config.redisURL": ""}, "config.redisURL is required"},
			{"short JWT secret", map[string]string{"secrets.jwtSecret": strings.Repeat("j", config.MinSecretBytes-1)}, "at least 32"},
			{"short admin token", map[string]string{"secrets.adminToken": strings.Repeat("a", config.MinSecretBytes-1)}, "at least 32"},
			{"Redis password in the ConfigMap", map[string]string{"config.redisURL": "redis://:pw@redis-0:6379?addr=redis-1:6379"}, "carries credentials"},
			{"a secret among the extra settings", map[string]string{"config.apiExtra.SECKILL_JWT_SECRET": "x"}, "does not belong in a ConfigMap"},
			{"memcache backend without servers", map[string]string{"config.stockBackend": "memcache"}, "config.memcacheServers is required"},
		} {
			out, err := renderChart(t, chartValues(tc.overrides))
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("%s: helm template err = %v, output lacks %q:\n%s", tc.name, err, tc.want, firstLines(out, 5))
			}
		}
		if out, err := renderChart(t, map[string]string{}); err == nil {
			t.Errorf("helm template with no values renders:\n%s", firstLines(out, 5))
		}
	})

	t.Run("an existing Secret instead of values", func(t *testing.T) {
		out, err := renderChart(t, map[string]string{"config.redisURL": chartRedisURL, "secrets.existingSecret": "mine"})
		if err != nil {
			t.Fatalf("helm template with secrets.existingSecret: %v\n%s", err, out)
		}
		objs := parseManifests(t, out)
		for _, m := range objs {
			if m.Kind == "Secret" {
				t.Errorf("the chart makes Secret %s although secrets.existingSecret is set", m.Metadata.Name)
			}
		}
		for _, name := range []string{"api", "worker"} {
			c := decode[deployment](t, object(t, objs, "Deployment", full+"-"+name)).container(t)
			for _, e := range c.Env {
				if ref := e.ValueFrom.SecretKeyRef; ref.Name != "mine" {
					t.Errorf("%s reads %s from Secret %q, want the existing Secret mine", name, e.Name, ref.Name)
				}
			}
		}
	})

	t.Run("helm lint", func(t *testing.T) {
		args := []string{"lint", "--strict", filepath.Join("helm", "seckill")}
		for k, v := range chartValues(nil) {
			args = append(args, "--set-string", k+"="+v)
		}
		if out, err := exec.Command(helmBinary(t), args...).CombinedOutput(); err != nil {
			t.Errorf("helm lint: %v\n%s", err, out)
		}
	})
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
