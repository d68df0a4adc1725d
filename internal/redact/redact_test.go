package redact

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"amqp://guest:s3cret@127.0.0.1:5672/", "amqp://guest:xxxxx@127.0.0.1:5672/"},
		{"redis://:s3cret@h:6379/0", "redis://:xxxxx@h:6379/0"},
		{"redis://h:6379/0", "redis://h:6379/0"},
		{"redis://u@h:6379/0", "redis://u@h:6379/0"},
		// Unparsable (bad port): still masked.
		{"redis://u:s3cret@h:port/0", "redis://u:xxxxx@h:port/0"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"root:s3cret@tcp(127.0.0.1:3306)/seckill", "root:xxxxx@tcp(127.0.0.1:3306)/seckill"},
		{"root:p:a@ss@tcp(h)/db", "root:xxxxx@tcp(h)/db"},
		{"root@tcp(h)/db", "root@tcp(h)/db"},
		{"/db", "/db"},
	}
	for _, tt := range tests {
		if got := DSN(tt.in); got != tt.want {
			t.Errorf("DSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

var errBase = errors.New("base")

// TestError: the password leaves an error's text in every form a library
// may print it, and the error chain is kept.
func TestError(t *testing.T) {
	bad := strings.Join([]string{"redis://u:pa%2Fss\"w", "h:port/0"}, "@") // not a valid URL, on purpose
	_, parseErr := url.Parse(bad)                                          // url.Error quotes the URL
	tests := []struct {
		name   string
		err    error
		addr   string
		secret []string
	}{
		{"raw", fmt.Errorf("dial amqp://u:s3cret@h:5672/: %w", errBase), "amqp://u:s3cret@h:5672/", []string{"s3cret"}},
		{"url.Error", parseErr, bad, []string{`pa%2Fss`, `pa/ss`, `\"w`}},
		{"dsn", fmt.Errorf("open root:dsn-pw@tcp(h)/db: %w", errBase), "root:dsn-pw@tcp(h)/db", []string{"dsn-pw"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Error(tt.err, tt.addr)
			for _, s := range tt.secret {
				if strings.Contains(got.Error(), s) {
					t.Errorf("%q still holds %q", got, s)
				}
			}
			if !strings.Contains(got.Error(), Mask) {
				t.Errorf("%q: no mask", got)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("the chain lost the original error")
			}
		})
	}
	if Error(nil, "amqp://u:p@h/") != nil {
		t.Error("Error(nil) is not nil")
	}
	if err := fmt.Errorf("x: %w", errBase); Error(err, "amqp://h/") != err { //nolint:errorlint // the very same error, not one like it
		t.Error("an address without a password changed the error")
	}
}
