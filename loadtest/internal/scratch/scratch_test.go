package scratch

import (
	"context"
	"database/sql"
	"testing"

	"github.com/seckill/seckill/internal/testenv"
)

const mysqlServer = "root@tcp(127.0.0.1:3306)/"

func TestRecreateAndDropDB(t *testing.T) {
	testenv.Listening(t, "MySQL", "127.0.0.1:3306")
	ctx := context.Background()
	const db = "seckill_scratch_test"
	t.Cleanup(func() { _ = DropDB(context.Background(), mysqlServer, db) })

	conn, err := sql.Open("mysql", mysqlServer)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func(query string) int {
		t.Helper()
		var n int
		if err := conn.QueryRowContext(ctx, query, db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	tables := func() int {
		return count("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ?")
	}
	exists := func() bool {
		return count("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?") == 1
	}

	if err := RecreateDB(ctx, mysqlServer, db); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE `"+db+"`.t (id INT)"); err != nil {
		t.Fatal(err)
	}
	// A second run finds the database of the first and starts it empty.
	if err := RecreateDB(ctx, mysqlServer, db); err != nil {
		t.Fatal(err)
	}
	if !exists() || tables() != 0 {
		t.Fatalf("after RecreateDB: exists %v, %d tables; want an empty database", exists(), tables())
	}
	if err := DropDB(ctx, mysqlServer, db); err != nil {
		t.Fatal(err)
	}
	if exists() {
		t.Fatal("database still there after DropDB")
	}
	// Dropping what is gone is no error.
	if err := DropDB(ctx, mysqlServer, db); err != nil {
		t.Fatal(err)
	}
}
