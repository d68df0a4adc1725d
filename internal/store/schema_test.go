package store_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/store/storetest"
)

var update = flag.Bool("update", false, "rewrite testdata/schema.*.txt with the schema the migrations produce")

// TestSchema pins the schema each dialect ends up with — columns, types,
// defaults, keys, foreign keys, checks and their names — whether the
// database was empty or migrated by an earlier version, and on MySQL when
// every step runs again over a migrated database (a crash half-way
// through). The expected schemas are testdata/schema.{mysql,sqlite}.txt;
// go test -run TestSchema -update rewrites them after a new migration.
func TestSchema(t *testing.T) {
	ctx := context.Background()
	versions := store.MigrationVersions()
	from := append([]int{0}, versions[:len(versions)-1]...)

	dialects := []struct {
		name     string
		open     func(tb testing.TB) func() (*store.Store, error)
		describe func(tb testing.TB, db *sql.DB) string
	}{
		{"sqlite", func(tb testing.TB) func() (*store.Store, error) {
			path := filepath.Join(tb.TempDir(), "schema.db")
			return func() (*store.Store, error) { return store.OpenSQLite(ctx, path, storetest.Logger(tb)) }
		}, describeSQLite},
		{"mysql", func(tb testing.TB) func() (*store.Store, error) {
			dsn := storetest.MySQLDSN(tb)
			return func() (*store.Store, error) { return store.OpenMySQL(ctx, dsn, storetest.Logger(tb)) }
		}, describeMySQL},
	}
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			golden := filepath.Join("testdata", "schema."+d.name+".txt")
			for _, v := range from {
				t.Run(fmt.Sprintf("from-%d", v), func(t *testing.T) {
					open := d.open(t)
					restore := store.MigrateUpTo(v)
					s, err := open()
					restore()
					if err != nil {
						t.Fatalf("open at version %d: %v", v, err)
					}
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					s, err = open()
					if err != nil {
						t.Fatalf("migrate from version %d: %v", v, err)
					}
					defer s.Close()
					got := d.describe(t, s.SQL())
					if v == 0 && *update {
						if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
							t.Fatal(err)
						}
					}
					checkSchema(t, golden, got)

					if d.name != "mysql" || v != 0 {
						return
					}
					// Every step again, as after a crash before it was
					// recorded: each ALTER finds its work done.
					if _, err := s.SQL().ExecContext(ctx, "DELETE FROM schema_migrations"); err != nil {
						t.Fatal(err)
					}
					again, err := open()
					if err != nil {
						t.Fatalf("migrate again: %v", err)
					}
					defer again.Close()
					checkSchema(t, golden, d.describe(t, again.SQL()))
				})
			}
		})
	}
}

func checkSchema(tb testing.TB, golden, got string) {
	tb.Helper()
	want, err := os.ReadFile(golden)
	if err != nil {
		tb.Fatalf("%v (go test -run TestSchema -update writes it)", err)
	}
	if got == string(want) {
		return
	}
	w, g := strings.Split(string(want), "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			tb.Errorf("schema differs from %s at line %d:\n got: %s\nwant: %s", golden, i+1, gl, wl)
			return
		}
	}
}

var blanks = regexp.MustCompile(`\s+`)

// describeSQLite lists sqlite_master: SQLite keeps each object's DDL as
// it was written (and as ALTER TABLE changed it), here with its spaces
// collapsed.
func describeSQLite(tb testing.TB, db *sql.DB) string {
	tb.Helper()
	var b strings.Builder
	for _, r := range query(tb, db, `SELECT type, name, COALESCE(sql, '') FROM sqlite_master
		WHERE name <> 'sqlite_sequence' ORDER BY tbl_name, type DESC, name`) {
		fmt.Fprintf(&b, "%s %s: %s\n", r[0], r[1], strings.TrimSpace(blanks.ReplaceAllString(r[2], " ")))
	}
	return b.String()
}

// describeMySQL lists each table's columns, keys, foreign keys and checks
// from information_schema, in words that MySQL and MariaDB spell alike
// (no integer display widths, defaults and expressions unquoted).
func describeMySQL(tb testing.TB, db *sql.DB) string {
	tb.Helper()
	var b strings.Builder
	for _, t := range query(tb, db, `SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME`) {
		charset, _, _ := strings.Cut(t[2], "_") // from the table's collation
		fmt.Fprintf(&b, "table %s engine=%s charset=%s\n", t[0], t[1], charset)
		for _, c := range query(tb, db, `SELECT COLUMN_NAME, DATA_TYPE,
				COALESCE(CHARACTER_MAXIMUM_LENGTH, 0), COALESCE(DATETIME_PRECISION, 0),
				COALESCE(CHARACTER_SET_NAME, ''), IS_NULLABLE, COALESCE(COLUMN_DEFAULT, 'NULL'),
				LOWER(EXTRA), COALESCE(GENERATION_EXPRESSION, '')
			FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
			ORDER BY ORDINAL_POSITION`, t[0]) {
			typ := c[1]
			switch {
			case typ == "char" || typ == "varchar":
				typ += "(" + c[2] + ")"
			case c[3] != "0":
				typ += "(" + c[3] + ")"
			}
			line := "  column " + c[0] + " " + typ
			if c[4] != "" && c[4] != charset {
				line += " charset=" + c[4]
			}
			if c[5] == "NO" {
				line += " not null"
			}
			if def := c[6]; def != "NULL" {
				line += " default " + strings.Trim(def, "'")
				if def == "''" || def == "" {
					line += "''"
				}
			}
			if c[7] != "" {
				line += " " + c[7]
			}
			if c[8] != "" {
				line += " as " + expr(c[8])
			}
			b.WriteString(line + "\n")
		}
		for _, k := range query(tb, db, `SELECT INDEX_NAME, NON_UNIQUE,
				GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR ', ')
			FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
			GROUP BY INDEX_NAME, NON_UNIQUE ORDER BY INDEX_NAME`, t[0]) {
			kind := "key"
			if k[1] == "0" {
				kind = "unique key"
			}
			fmt.Fprintf(&b, "  %s %s (%s)\n", kind, k[0], k[2])
		}
		for _, f := range query(tb, db, `SELECT CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
			FROM information_schema.KEY_COLUMN_USAGE
			WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND REFERENCED_TABLE_NAME IS NOT NULL
			ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION`, t[0]) {
			fmt.Fprintf(&b, "  foreign key %s (%s) references %s (%s)\n", f[0], f[1], f[2], f[3])
		}
		for _, c := range query(tb, db, `SELECT tc.CONSTRAINT_NAME, cc.CHECK_CLAUSE
			FROM information_schema.TABLE_CONSTRAINTS tc JOIN information_schema.CHECK_CONSTRAINTS cc
				ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
			WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.TABLE_NAME = ? AND tc.CONSTRAINT_TYPE = 'CHECK'
			ORDER BY tc.CONSTRAINT_NAME`, t[0]) {
			fmt.Fprintf(&b, "  check %s %s\n", c[0], expr(c[1]))
		}
	}
	return b.String()
}

// expr writes a stored expression the same way whichever server
// printed it: lower case, no quoting of names, no parentheses, no
// character set introducers.
func expr(s string) string {
	s = strings.ToLower(s)
	for _, drop := range []string{"`", `\`, "(", ")", "_utf8mb4"} {
		s = strings.ReplaceAll(s, drop, "")
	}
	return strings.TrimSpace(blanks.ReplaceAllString(s, " "))
}

func query(tb testing.TB, db *sql.DB, q string, args ...any) [][]string {
	tb.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		row := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}
