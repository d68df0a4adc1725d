package store

import (
	"fmt"
	"strings"
)

// The schema is written once, as tables and changes; the helpers here
// spell each for MySQL and for SQLite. The two differ in column types,
// in where keys and foreign keys are declared, and in how a change is
// made re-runnable: SQLite runs a whole migration in one transaction,
// while MySQL commits every DDL statement on its own, so its ALTERs look
// first (see ddl.check) and a step re-run after a crash half-way through
// skips what is done.

// columnType is a column type as each dialect spells it.
type columnType struct{ mysql, sqlite string }

var (
	bigint    = columnType{"BIGINT", "INTEGER"}
	integer   = columnType{"INT", "INTEGER"}
	datetime  = columnType{"DATETIME", "DATETIME"}
	datetime6 = columnType{"DATETIME(6)", "DATETIME"} // microseconds, what now() keeps
	blob      = columnType{"MEDIUMBLOB", "BLOB"}
	// serial is an auto-incremented key: a table's serial column is its
	// primary key.
	serial = columnType{"BIGINT NOT NULL AUTO_INCREMENT", "INTEGER PRIMARY KEY AUTOINCREMENT"}
)

func varchar(n int) columnType { return columnType{fmt.Sprintf("VARCHAR(%d)", n), "TEXT"} }
func char(n int) columnType    { return columnType{fmt.Sprintf("CHAR(%d)", n), "TEXT"} }

// ascii stores t in MySQL's one-byte ascii character set: codes and
// identifiers that never hold anything else.
func ascii(t columnType) columnType { t.mysql += " CHARACTER SET ascii"; return t }

// column is a column: its name, type and the rest of its definition
// (nullability, default), which both dialects spell alike.
type column struct {
	name string
	typ  columnType
	rest string
}

func (c column) spell(d dialect) string {
	typ := c.typ.mysql
	if d == dialectSQLite {
		typ = c.typ.sqlite
	}
	if c.rest == "" {
		return c.name + " " + typ
	}
	return c.name + " " + typ + " " + c.rest
}

// key is a secondary index, unique or not.
type key struct {
	name    string
	unique  bool
	columns []string
}

func index(name string, columns ...string) key { return key{name: name, columns: columns} }
func unique(name string, columns ...string) key {
	return key{name: name, unique: true, columns: columns}
}

// spell writes the key as MySQL declares it in a table: [UNIQUE] KEY name (columns).
func (k key) spell() string {
	s := "KEY " + k.name + " (" + strings.Join(k.columns, ", ") + ")"
	if k.unique {
		s = "UNIQUE " + s
	}
	return s
}

// foreignKey is a column that references another table's key, e.g.
// references "sales (id)". SQLite keeps no name for it.
type foreignKey struct {
	name       string
	column     string
	references string
}

// table is a table as it is created. Its primary key is its serial
// column, or primaryKey when it has none.
type table struct {
	name        string
	columns     []column
	primaryKey  []string
	keys        []key
	foreignKeys []foreignKey
	checks      []string // "chk_name CHECK (…)"
}

// ddl is one statement. When check is set it runs only if the count the
// check query returns equals want (0: missing, 1: present).
type ddl struct {
	stmt  string
	check string
	want  int
}

// change is one change of the schema as each dialect makes it.
type change struct {
	mysql, sqlite []ddl
}

func (c change) spell(d dialect) []ddl {
	if d == dialectSQLite {
		return c.sqlite
	}
	return c.mysql
}

// mysqlColumnExists and mysqlIndexExists count a column or index of the
// current database's table.
const (
	mysqlColumnExists = `SELECT COUNT(*) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s' AND COLUMN_NAME = '%s'`
	mysqlIndexExists = `SELECT COUNT(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s' AND INDEX_NAME = '%s'`
)

// createTable creates t with its keys. MySQL declares keys and foreign
// keys in the table; SQLite declares foreign keys on their column and
// creates each key as an index of its own.
func createTable(t table) change {
	refs := map[string]string{}
	for _, fk := range t.foreignKeys {
		refs[fk.column] = fk.references
	}
	var my, lite []string
	for _, c := range t.columns {
		my = append(my, c.spell(dialectMySQL))
		def := c.spell(dialectSQLite)
		if len(t.primaryKey) == 1 && t.primaryKey[0] == c.name {
			def += " PRIMARY KEY"
		}
		if ref, ok := refs[c.name]; ok {
			def += " REFERENCES " + ref
		}
		lite = append(lite, def)
	}
	primary := t.primaryKey
	for _, c := range t.columns {
		if c.typ == serial {
			primary = []string{c.name}
		}
	}
	my = append(my, "PRIMARY KEY ("+strings.Join(primary, ", ")+")")
	if len(t.primaryKey) > 1 {
		lite = append(lite, "PRIMARY KEY ("+strings.Join(t.primaryKey, ", ")+")")
	}
	for _, k := range t.keys {
		my = append(my, k.spell())
	}
	for _, fk := range t.foreignKeys {
		my = append(my, "CONSTRAINT "+fk.name+" FOREIGN KEY ("+fk.column+") REFERENCES "+fk.references)
	}
	for _, chk := range t.checks {
		my = append(my, "CONSTRAINT "+chk)
		lite = append(lite, "CONSTRAINT "+chk)
	}

	create := "CREATE TABLE IF NOT EXISTS " + t.name + " (\n\t"
	c := change{
		mysql:  []ddl{{stmt: create + strings.Join(my, ",\n\t") + "\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"}},
		sqlite: []ddl{{stmt: create + strings.Join(lite, ",\n\t") + "\n)"}},
	}
	for _, k := range t.keys {
		c.sqlite = append(c.sqlite, addKey(t.name, k).sqlite...)
	}
	return c
}

// addColumn adds c to an existing table; on MySQL it goes after the
// column named after when that is set (SQLite always appends).
func addColumn(table string, c column, after string) change {
	my := "ALTER TABLE " + table + " ADD COLUMN " + c.spell(dialectMySQL)
	if after != "" {
		my += " AFTER " + after
	}
	return change{
		mysql:  []ddl{{stmt: my, check: fmt.Sprintf(mysqlColumnExists, table, c.name), want: 0}},
		sqlite: []ddl{{stmt: "ALTER TABLE " + table + " ADD COLUMN " + c.spell(dialectSQLite)}},
	}
}

// addKey adds k to an existing table.
func addKey(table string, k key) change {
	create := "CREATE INDEX IF NOT EXISTS "
	if k.unique {
		create = "CREATE UNIQUE INDEX IF NOT EXISTS "
	}
	return change{
		mysql: []ddl{{
			stmt:  "ALTER TABLE " + table + " ADD " + k.spell(),
			check: fmt.Sprintf(mysqlIndexExists, table, k.name), want: 0,
		}},
		sqlite: []ddl{{stmt: create + k.name + " ON " + table + " (" + strings.Join(k.columns, ", ") + ")"}},
	}
}

// dropKey drops the key name of table if it is there.
func dropKey(table, name string) change {
	return change{
		mysql: []ddl{{
			stmt:  "ALTER TABLE " + table + " DROP INDEX " + name,
			check: fmt.Sprintf(mysqlIndexExists, table, name), want: 1,
		}},
		sqlite: []ddl{{stmt: "DROP INDEX IF EXISTS " + name}},
	}
}

// mysqlOnly keeps the MySQL side of changes, for what SQLite does its own
// way (see sqliteOnly).
func mysqlOnly(changes ...change) change {
	var c change
	for _, ch := range changes {
		c.mysql = append(c.mysql, ch.mysql...)
	}
	return c
}

// sqliteOnly runs stmt on SQLite only.
func sqliteOnly(stmt string) change { return change{sqlite: []ddl{{stmt: stmt}}} }
