package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	_ "github.com/go-sql-driver/mysql" // the database/sql driver of MySQL

	"github.com/seckill/seckill/internal/redact"
)

// workerUser is the MySQL account the workers log in with, so that MySQL
// can refuse them alone while the apis keep working as root. It is named
// after the run's database (seckill_chaos_worker by default), so that
// runs on other databases at the same time keep their own accounts.
func (m *mysqlAdmin) workerUser() string { return m.dbName + "_worker" }

// maxUserLen is the longest account name MySQL takes.
const maxUserLen = 32

// workerHosts are the hosts the account is created for: a TCP login from
// 127.0.0.1 may be matched as 127.0.0.1, localhost or any host.
var workerHosts = []string{"127.0.0.1", "localhost", "%"}

// mysqlAdmin runs the suite's statements as the administrative user.
type mysqlAdmin struct {
	db     *sql.DB // no default database
	dbName string  // the run's database
}

func openMySQL(server, dbName string) (*mysqlAdmin, error) {
	db, err := sql.Open("mysql", server+"?parseTime=true")
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", redact.Error(err, server))
	}
	db.SetMaxOpenConns(4)
	m := &mysqlAdmin{db: db, dbName: dbName}
	if u := m.workerUser(); len(u) > maxUserLen {
		_ = db.Close()
		return nil, fmt.Errorf("mysql: the workers' account %q is longer than %d characters: name a shorter database", u, maxUserLen)
	}
	return m, nil
}

func (m *mysqlAdmin) close() error { return m.db.Close() }

func (m *mysqlAdmin) exec(ctx context.Context, q string) error {
	if _, err := m.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("mysql %s: %w", strings.Fields(q)[0]+" "+strings.Fields(q)[1], err)
	}
	return nil
}

// createWorkerUser (re)creates the workers' account with every privilege on
// the run's database.
func (m *mysqlAdmin) createWorkerUser(ctx context.Context, password string) error {
	if err := m.dropWorkerUser(ctx); err != nil {
		return err
	}
	for _, h := range workerHosts {
		acct := fmt.Sprintf("'%s'@'%s'", m.workerUser(), h)
		if err := m.exec(ctx, "CREATE USER "+acct+" IDENTIFIED BY '"+password+"'"); err != nil {
			return err
		}
		if err := m.exec(ctx, "GRANT ALL PRIVILEGES ON `"+m.dbName+"`.* TO "+acct); err != nil {
			return err
		}
	}
	return nil
}

// dropWorkerUser removes the workers' account, wherever it exists.
func (m *mysqlAdmin) dropWorkerUser(ctx context.Context) error {
	for _, h := range workerHosts {
		if err := m.exec(ctx, fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", m.workerUser(), h)); err != nil {
			return err
		}
	}
	return nil
}

// lockWorkerUser locks (or unlocks) the workers' account: a locked account
// cannot log in.
func (m *mysqlAdmin) lockWorkerUser(ctx context.Context, lock bool) error {
	verb := "UNLOCK"
	if lock {
		verb = "LOCK"
	}
	for _, h := range workerHosts {
		if err := m.exec(ctx, fmt.Sprintf("ALTER USER '%s'@'%s' ACCOUNT %s", m.workerUser(), h, verb)); err != nil {
			return err
		}
	}
	return nil
}

// killWorkerConnections ends every open connection of the workers' account
// and returns how many it ended.
func (m *mysqlAdmin) killWorkerConnections(ctx context.Context) (int, error) {
	ids, err := m.workerConnections(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		// A connection may close between the read and the kill.
		if _, err := m.db.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)); err == nil {
			n++
		}
	}
	return n, nil
}

// workerConnections lists the ids of the workers' account's connections.
func (m *mysqlAdmin) workerConnections(ctx context.Context) ([]int64, error) {
	rows, err := m.db.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", m.workerUser())
	if err != nil {
		return nil, fmt.Errorf("mysql processlist: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("mysql processlist: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql processlist: %w", err)
	}
	return ids, nil
}

// orders reads every order of a sale.
func (m *mysqlAdmin) orders(ctx context.Context, sale int64) (map[string]row, error) {
	rows, err := m.db.QueryContext(ctx,
		"SELECT order_no, status, COALESCE(reason, ''), user_id FROM `"+m.dbName+"`.orders WHERE sale_id = ?", sale)
	if err != nil {
		return nil, fmt.Errorf("read orders of sale %d: %w", sale, err)
	}
	defer rows.Close()
	out := map[string]row{}
	for rows.Next() {
		var no string
		var r row
		if err := rows.Scan(&no, &r.Status, &r.Reason, &r.UserID); err != nil {
			return nil, fmt.Errorf("read orders of sale %d: %w", sale, err)
		}
		out[no] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read orders of sale %d: %w", sale, err)
	}
	return out, nil
}
