// Package scratch keeps a load tool's run apart on shared servers and
// removes it afterwards: a MySQL database of its own, a Redis key prefix,
// a queue prefix on RabbitMQ. A Redis URL may name a Redis Cluster, in the
// api's form; key deletion then goes to every master.
package scratch

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"

	_ "github.com/go-sql-driver/mysql" // the database/sql driver of MySQL
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/redact"
	"github.com/seckill/seckill/internal/redisurl"
)

// DSN is the DSN the api and the worker get: the run's database on server,
// a go-sql-driver DSN without a database such as root@tcp(127.0.0.1:3306)/.
func DSN(server, db string) string { return server + db + "?parseTime=true" }

// RecreateDB drops the run's database and creates it empty.
func RecreateDB(ctx context.Context, server, db string) error {
	return onMySQL(ctx, server, dropDB(db), statement{"create database " + db, "CREATE DATABASE `" + db + "`"})
}

// DropDB drops the run's database.
func DropDB(ctx context.Context, server, db string) error {
	return onMySQL(ctx, server, dropDB(db))
}

// statement is one SQL statement and what it does, for its error.
type statement struct{ what, sql string }

func dropDB(db string) statement {
	return statement{"drop database " + db, "DROP DATABASE IF EXISTS `" + db + "`"}
}

// onMySQL runs the statements on server in order, up to the first that
// fails.
func onMySQL(ctx context.Context, server string, stmts ...statement) error {
	conn, err := sql.Open("mysql", server)
	if err != nil {
		return fmt.Errorf("mysql: %w", redact.Error(err, server))
	}
	defer conn.Close()
	for _, st := range stmts {
		if _, err := conn.ExecContext(ctx, st.sql); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	return nil
}

// OpenRedis connects to redisURL the way the api does: a URL with addr=
// parameters is a Redis Cluster.
func OpenRedis(ctx context.Context, redisURL string) (redis.UniversalClient, error) {
	return redisurl.Open(ctx, redisURL)
}

// DeleteRedisKeys deletes every key of the run's stock prefix and returns
// how many it deleted.
func DeleteRedisKeys(ctx context.Context, redisURL, prefix string) (int, error) {
	return DeleteRedisMatch(ctx, redisURL, prefix+":*")
}

// DeleteRedisMatch deletes every key matching pattern and returns how many
// it deleted. On a cluster it scans every master, since SCAN sees only the
// node it is sent to.
func DeleteRedisMatch(ctx context.Context, redisURL, pattern string) (int, error) {
	rdb, err := OpenRedis(ctx, redisURL)
	if err != nil {
		return 0, err
	}
	defer rdb.Close()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return deleteKeys(ctx, rdb, pattern)
	}
	var n atomic.Int64
	err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		k, err := deleteKeys(ctx, m, pattern)
		n.Add(int64(k))
		return err
	})
	return int(n.Load()), err
}

// deleteKeys deletes the keys matching pattern one at a time: keys of
// different slots cannot share a command on a cluster node.
func deleteKeys(ctx context.Context, c redis.Cmdable, pattern string) (int, error) {
	n := 0
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		if err := c.Del(ctx, iter.Val()).Err(); err != nil {
			return n, fmt.Errorf("redis del %s: %w", iter.Val(), err)
		}
		n++
	}
	if err := iter.Err(); err != nil {
		return n, fmt.Errorf("redis scan %s: %w", pattern, err)
	}
	return n, nil
}

// DeleteAMQP deletes the queues and then the exchanges named.
func DeleteAMQP(amqpURL string, queues, exchanges []string) error {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return fmt.Errorf("amqp: %w", redact.Error(err, amqpURL))
	}
	defer conn.Close()
	var firstErr error
	for _, q := range queues {
		// A failed delete closes the channel: one channel per entity.
		ch, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("amqp channel: %w", err)
		}
		if _, err := ch.QueueDelete(q, false, false, false); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("delete queue %s: %w", q, err)
		}
		_ = ch.Close()
	}
	for _, x := range exchanges {
		ch, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("amqp channel: %w", err)
		}
		if err := ch.ExchangeDelete(x, false, false); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("delete exchange %s: %w", x, err)
		}
		_ = ch.Close()
	}
	return firstErr
}

// QueuesReady reads how many messages wait ready for delivery in each of
// the queues, in their order, with passive declares: they change nothing,
// and messages delivered but not yet acked are not counted.
func QueuesReady(amqpURL string, queues ...string) ([]int, error) {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return nil, fmt.Errorf("amqp: %w", redact.Error(err, amqpURL))
	}
	defer conn.Close()
	out := make([]int, 0, len(queues))
	for _, q := range queues {
		// A failed passive declare closes the channel: one channel per queue.
		ch, err := conn.Channel()
		if err != nil {
			return out, fmt.Errorf("amqp channel: %w", err)
		}
		got, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		_ = ch.Close()
		if err != nil {
			return out, fmt.Errorf("inspect queue %s: %w", q, err)
		}
		out = append(out, got.Messages)
	}
	return out, nil
}

// Topology is the api's and worker's topology under a run's queue prefix.
func Topology(prefix string) mq.Topology { return mq.DefaultTopology().WithPrefix(prefix) }
