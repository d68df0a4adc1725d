// Package redact hides the passwords of server addresses — URLs such as
// amqp://user:pass@host/ and go-sql-driver DSNs such as
// user:pass@tcp(host)/db — in text meant for logs and error messages. It
// knows nothing of seckill and imports only the standard library.
package redact

import (
	"net/url"
	"strconv"
	"strings"
)

// Mask replaces a password; it is the text net/url's Redacted writes.
const Mask = "xxxxx"

// URL returns raw with its password hidden. A URL that does not parse is
// still masked: everything between the first ':' of its user info and the
// last '@' before its host is hidden.
func URL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	_, pass, ok := urlPassword(raw)
	if !ok {
		return raw
	}
	return strings.Replace(raw, ":"+pass+"@", ":"+Mask+"@", 1)
}

// DSN returns a go-sql-driver DSN (user:pass@tcp(host)/db) with its
// password hidden.
func DSN(dsn string) string {
	pass, ok := dsnPassword(dsn)
	if !ok {
		return dsn
	}
	return strings.Replace(dsn, ":"+pass+"@", ":"+Mask+"@", 1)
}

// Error returns err with the password of every address in addrs (URLs or
// DSNs) hidden from its text, as written, decoded or quoted. errors.Is and
// errors.As still see err. It returns nil for nil and err itself when no
// address carries a password.
func Error(err error, addrs ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	masked := msg
	for _, a := range addrs {
		for _, p := range passwords(a) {
			masked = strings.ReplaceAll(masked, p, Mask)
		}
	}
	if masked == msg {
		return err
	}
	return &redacted{msg: masked, err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// passwords lists the forms in which the password of addr may appear in a
// message: as written, percent-decoded and Go-quoted.
func passwords(addr string) []string {
	_, pass, ok := urlPassword(addr)
	if !ok {
		pass, ok = dsnPassword(addr)
	}
	if !ok || pass == "" {
		return nil
	}
	forms := []string{pass}
	if dec, err := url.PathUnescape(pass); err == nil && dec != pass && dec != "" {
		forms = append(forms, dec)
	}
	for _, f := range forms[:len(forms):len(forms)] {
		if q := strconv.Quote(f); q[1:len(q)-1] != f {
			forms = append(forms, q[1:len(q)-1])
		}
	}
	return forms
}

// urlPassword finds the password of scheme://user:pass@host/…, whether or
// not the URL parses.
func urlPassword(raw string) (string, string, bool) {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "", "", false
	}
	// The authority ends at the first '/', '?' or '#' after the last '@'
	// that precedes it; a password may itself hold '/' or '?', so look for
	// the last '@' first.
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return "", "", false
	}
	user, pass, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return "", "", false
	}
	return user, pass, true
}

// dsnPassword finds the password of a go-sql-driver DSN:
// [user[:password]@][net[(addr)]]/dbname[?params]. The driver splits at the
// last '@' and the first ':' before it.
func dsnPassword(dsn string) (string, bool) {
	at := strings.LastIndex(dsn, "@")
	if at < 0 {
		return "", false
	}
	_, pass, ok := strings.Cut(dsn[:at], ":")
	return pass, ok
}
