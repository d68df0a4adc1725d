package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
)

// LogInner is exported so that the env parser reads it when embedded;
// logHidden is not, so that neither the parser nor the log reads it.
type LogInner struct {
	B int `env:"B"`
}

type logHidden struct {
	H int `env:"H"`
}

type logSample struct {
	LogInner
	logHidden
	Nested   LogInner      `envPrefix:"N_"`
	Name     string        `env:"SECKILL_NAME,required"`
	Other    string        `env:"OTHER_NAME"`
	Wait     time.Duration `env:"WAIT"`
	Rate     float64       `env:"RATE"`
	On       bool          `env:"ON"`
	Count    uint          `env:"COUNT"`
	List     []string      `env:"LIST"`
	Skipped  string        `env:"-"`
	Unset    string        `env:",-"`
	Untagged string
	hidden   string `env:"HIDDEN"`
	Secret   string `env:"SECRET" log:"secret"`
	Addr     string `env:"ADDR" log:"url"`
	DSN      string `env:"DSN" log:"dsn"`
	Odd      string `env:"ODD" log:"other"`
	Num      int    `env:"NUM" log:"secret"`
}

// TestEnvAttrs: every variable the env parser reads is logged, under its
// name, in field order and through nested structs; nothing else is; a log
// tag hides what it says.
func TestEnvAttrs(t *testing.T) {
	params, err := env.GetFieldParams(&logSample{})
	if err != nil {
		t.Fatal(err)
	}
	var parsed []string
	for _, p := range params {
		parsed = append(parsed, strings.ToLower(strings.TrimPrefix(p.Key, "SECKILL_")))
	}
	tests := []struct {
		name string
		cfg  logSample
		want []string
	}{
		{name: "zero", want: []string{
			"b=0", "n_b=0", "name=", "other_name=", "wait=0s", "rate=0", "on=false", "count=0", "list=[]",
			"secret=", "addr=", "dsn=", "odd=", "num=",
		}},
		{name: "set", cfg: logSample{
			LogInner: LogInner{B: 1}, logHidden: logHidden{H: 3}, Nested: LogInner{B: 2}, Name: "n", Other: "o", Wait: 1500 * time.Millisecond,
			Rate: 2.5, On: true, Count: 7, List: []string{"a", "b"}, Skipped: "skip-1", Unset: "skip-2", Untagged: "skip-3", hidden: "skip-4",
			Secret: "pw-1", Addr: "amqp://u:pw-2@h:5672/", DSN: "u:pw-3@tcp(h:3306)/db", Odd: "pw-4", Num: 42,
		}, want: []string{
			"b=1", "n_b=2", "name=n", "other_name=o", "wait=1.5s", "rate=2.5", "on=true", "count=7", "list=[a b]",
			"secret=*****", "addr=amqp://u:xxxxx@h:5672/", "dsn=u:xxxxx@tcp(h:3306)/db", "odd=*****", "num=*****",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, keys []string
			for _, a := range envAttrs(tt.cfg) {
				got = append(got, a.Key+"="+a.Value.String())
				keys = append(keys, a.Key)
			}
			if !slices.Equal(keys, parsed) {
				t.Errorf("logged %q, the env parser reads %q", keys, parsed)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("envAttrs =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// secretName matches the field and variable names that suggest a secret.
var secretName = regexp.MustCompile(`(?i)token|secret|passw|dsn|url|credential`)

// eachField calls fn for every field of the struct v, descending into
// struct fields that are not env-tagged leaves, with the field's env
// variable ("" for none).
func eachField(v reflect.Value, prefix string, fn func(envName string, f reflect.StructField, v reflect.Value)) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if f.Type.Kind() == reflect.Struct && name == "" {
			eachField(v.Field(i), prefix+f.Tag.Get("envPrefix"), fn)
			continue
		}
		if name != "" && name != "-" {
			name = prefix + name
		}
		fn(name, f, v.Field(i))
	}
}

// TestSecretFieldsMasked: every logged field of both configurations whose
// name or variable suggests a secret says how the log hides it.
func TestSecretFieldsMasked(t *testing.T) {
	known := []string{logSecret, logURL, logDSN}
	for _, cfg := range []any{API{}, Worker{}} {
		eachField(reflect.ValueOf(cfg), "", func(envName string, f reflect.StructField, _ reflect.Value) {
			if envName == "" || envName == "-" {
				return // never logged
			}
			tag, tagged := f.Tag.Lookup("log")
			if tagged && !slices.Contains(known, tag) {
				t.Errorf("%T.%s: log tag %q, want one of %q", cfg, f.Name, tag, known)
			}
			if (secretName.MatchString(f.Name) || secretName.MatchString(envName)) && !tagged {
				t.Errorf("%T.%s (%s) looks like a secret but has no log tag (one of %q)", cfg, f.Name, envName, known)
			}
		})
	}
}

// withSentinels sets every field of *cfg whose name suggests a secret to a
// value holding a sentinel of its own, shaped as the name says (a URL, a
// DSN or a plain secret), and returns the sentinels. Addresses (URLs,
// DSNs) are left empty unless servers is set.
func withSentinels(t *testing.T, cfg any, servers bool) []string {
	t.Helper()
	var sentinels []string
	eachField(reflect.ValueOf(cfg).Elem(), "", func(envName string, f reflect.StructField, v reflect.Value) {
		if !secretName.MatchString(f.Name) && !secretName.MatchString(envName) {
			return
		}
		s := fmt.Sprintf("sentinel-%d-%s", len(sentinels), strings.ToLower(f.Name))
		value := s
		switch name := strings.ToLower(f.Name); {
		case strings.Contains(name, "url"):
			value = "scheme://user:" + s + "@127.0.0.1:1/"
		case strings.Contains(name, "dsn"):
			value = "user:" + s + "@tcp(127.0.0.1:1)/db"
		}
		if value != s && !servers {
			return
		}
		switch {
		case v.Kind() == reflect.String:
			v.SetString(value)
		case v.Type() == reflect.TypeFor[[]string]():
			v.Set(reflect.ValueOf([]string{value}))
		case v.Type() == reflect.TypeFor[map[string]string]():
			v.Set(reflect.ValueOf(map[string]string{"carol": value}))
		default:
			t.Fatalf("%T.%s: no sentinel for a %s", cfg, f.Name, v.Type())
		}
		sentinels = append(sentinels, s)
	})
	return sentinels
}

// TestLoggedConfig: logged the way the binaries log it, at start through
// slog's text and JSON handlers, each configuration shows every variable
// the env parser reads and none of its secrets.
func TestLoggedConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     any // a pointer to the configuration
		servers bool
	}{
		{"api", &API{}, true},
		{"api embedded", &API{}, false},
		{"worker", &Worker{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sentinels := withSentinels(t, tt.cfg, tt.servers)
			if len(sentinels) == 0 {
				t.Fatal("no secret field found")
			}
			params, err := env.GetFieldParams(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			cfg := reflect.ValueOf(tt.cfg).Elem().Interface()
			var text, js bytes.Buffer
			slog.New(slog.NewTextHandler(&text, nil)).Info("starting", "config", cfg)
			slog.New(slog.NewJSONHandler(&js, nil)).Info("starting", "config", cfg)
			var record struct{ Config map[string]any }
			if err := json.Unmarshal(js.Bytes(), &record); err != nil {
				t.Fatal(err)
			}
			for _, p := range params {
				key := strings.ToLower(strings.TrimPrefix(p.Key, "SECKILL_"))
				if !strings.Contains(text.String(), " config."+key+"=") {
					t.Errorf("%s is not in the text log: %s", p.Key, text.String())
				}
				if _, ok := record.Config[key]; !ok {
					t.Errorf("%s is not in the JSON log: %s", p.Key, js.String())
				}
			}
			for _, s := range sentinels {
				for _, out := range []string{text.String(), js.String()} {
					if strings.Contains(out, s) {
						t.Errorf("the log shows the secret %s: %s", s, out)
					}
				}
			}
		})
	}
}

// TestDerivedLogValues: the api's log carries what its settings imply.
func TestDerivedLogValues(t *testing.T) {
	backends := Backends{RedisURL: "redis://h", AMQPURL: "amqp://h", MySQLDSN: "u@tcp(h)/db"}
	tests := []struct {
		name string
		cfg  API
		want map[string]string
	}{
		{"embedded", API{}, map[string]string{"embedded": "true", "storefront_served": "true", "jwt_secret": "random per start"}},
		{"real servers", API{Backends: backends, Storefront: StorefrontOff}, map[string]string{
			"embedded": "false", "storefront": "off", "storefront_served": "false", "jwt_secret": "",
		}},
		{"named tokens", API{AdminTokenList: "bob:b-1,alice:a-2", AdminTokens: map[string]string{"bob": "b-1", "alice": "a-2"}},
			map[string]string{"admin_tokens": "alice:*****,bob:*****"}},
		{"unchecked named tokens", API{AdminTokenList: "bob:b-1"}, map[string]string{"admin_tokens": "*****"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]string{}
			for _, a := range tt.cfg.LogValue().Group() {
				got[a.Key] = a.Value.String()
			}
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s logged as %q, want %q", k, got[k], want)
				}
			}
		})
	}
}
