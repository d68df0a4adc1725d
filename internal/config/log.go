package config

import (
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/seckill/seckill/internal/redact"
)

// The configuration is logged from the struct itself: every field with an
// env tag is logged under a key made from its variable's name
// (SECKILL_JWT_SECRET as jwt_secret), nested and embedded structs
// included, so a new setting is logged without anyone listing it. Fields
// without an env tag (env:"-", or none) are never logged. A field holding
// a secret says how to hide it with a log tag, one of these values; any
// other value hides the whole of it, as "secret" does.
const (
	logSecret = "secret" // shown as ***** when set
	logURL    = "url"    // a URL, its password hidden (MaskURL)
	logDSN    = "dsn"    // a go-sql-driver DSN, its password hidden (MaskDSN)
)

// masked is a set secret as the log shows it.
const masked = "*****"

// LogValue is the api's configuration as logged at start, secrets masked,
// with the values derived from it: whether it runs embedded and whether
// the storefront is served.
func (c API) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Bool("embedded", c.Embedded())}
	attrs = append(attrs, envAttrs(c)...)
	attrs = append(attrs, slog.Bool("storefront_served", c.StorefrontServed()))
	if c.JWTSecret == "" && c.Embedded() {
		// The embedded mode makes a random secret each start (tokens do
		// not outlive the process).
		replaceAttr(attrs, "SECKILL_JWT_SECRET", slog.StringValue("random per start"))
	}
	if len(c.AdminTokens) > 0 {
		// The checked tokens show their holders' names.
		replaceAttr(attrs, "SECKILL_ADMIN_TOKENS", slog.StringValue(maskNamed(c.AdminTokens)))
	}
	return slog.GroupValue(attrs...)
}

// LogValue is the worker's configuration as logged at start, secrets
// masked.
func (c Worker) LogValue() slog.Value { return slog.GroupValue(envAttrs(c)...) }

// envAttrs returns one attribute per env-tagged field of the struct cfg,
// in field order, each value masked as its log tag says.
func envAttrs(cfg any) []slog.Attr {
	var attrs []slog.Attr
	walkEnv(reflect.ValueOf(cfg), "", func(name string, f reflect.StructField, v reflect.Value) {
		attrs = append(attrs, slog.Attr{Key: logKey(name), Value: logValue(f.Tag.Get("log"), v)})
	})
	return attrs
}

// walkEnv calls fn for every field of the struct v that names an
// environment variable, with that variable's name; it descends into struct
// fields without an env tag as the env parser does, prefixing their
// variables with the envPrefix tag.
func walkEnv(v reflect.Value, prefix string, fn func(name string, f reflect.StructField, v reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, tagged := f.Tag.Lookup("env")
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case name == "-" || slices.Contains(strings.Split(opts, ","), "-"):
		case name != "":
			fn(prefix+name, f, v.Field(i))
		case !tagged && f.Type.Kind() == reflect.Struct:
			walkEnv(v.Field(i), prefix+f.Tag.Get("envPrefix"), fn)
		}
	}
}

// logKey is the key a variable is logged under: its name without the
// SECKILL_ prefix, in lower case.
func logKey(name string) string {
	return strings.ToLower(strings.TrimPrefix(name, "SECKILL_"))
}

// logValue is a field's value as logged: masked when it has a log tag.
func logValue(tag string, v reflect.Value) slog.Value {
	if tag != "" {
		if v.Kind() != reflect.String {
			if v.IsZero() {
				return slog.StringValue("")
			}
			return slog.StringValue(masked)
		}
		return slog.StringValue(maskAs(tag, v.String()))
	}
	if d, ok := v.Interface().(time.Duration); ok {
		return slog.StringValue(d.String())
	}
	switch v.Kind() {
	case reflect.String:
		return slog.StringValue(v.String())
	case reflect.Bool:
		return slog.BoolValue(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return slog.Int64Value(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return slog.Uint64Value(v.Uint())
	case reflect.Float32, reflect.Float64:
		return slog.Float64Value(v.Float())
	default:
		return slog.AnyValue(v.Interface())
	}
}

// maskAs hides s as the log tag says; an unknown tag hides all of it.
func maskAs(tag, s string) string {
	switch tag {
	case logURL:
		return MaskURL(s)
	case logDSN:
		return MaskDSN(s)
	default:
		return mask(s)
	}
}

// replaceAttr sets the value of the variable name's attribute in attrs.
func replaceAttr(attrs []slog.Attr, name string, v slog.Value) {
	key := logKey(name)
	for i := range attrs {
		if attrs[i].Key == key {
			attrs[i].Value = v
		}
	}
}

// maskNamed is a set of named tokens as the log shows it: the names, each
// token masked.
func maskNamed(tokens map[string]string) string {
	names := slices.Sorted(maps.Keys(tokens))
	for i, n := range names {
		names[i] = n + ":" + mask(tokens[n])
	}
	return strings.Join(names, ",")
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return masked
}

// MaskURL hides the password of a URL, even one that does not parse.
func MaskURL(raw string) string { return redact.URL(raw) }

// MaskDSN hides the password of a go-sql-driver DSN (user:pass@tcp(...)/db).
func MaskDSN(dsn string) string { return redact.DSN(dsn) }
