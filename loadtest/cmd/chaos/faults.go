package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/loadtest/internal/scratch"
)

// outage applies a fault, holds it for d and undoes it. The undo is
// registered before the fault is applied, so it also runs if the suite
// stops half-way; apply returns the note that says what it did, undone is
// the note once it is undone.
func (s *suite) outage(ctx context.Context, st *state, d time.Duration,
	apply func(ctx context.Context) (string, error), undone string, undo func(ctx context.Context) error) error {
	restore := s.onExit(undone, undo)
	note, err := apply(ctx)
	if err != nil {
		return errors.Join(err, restore(context.WithoutCancel(ctx)))
	}
	st.note("%s", note)
	sleep(ctx, d)
	if err := restore(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	st.note("%s", undone)
	return nil
}

// downFor is how long a killed process stays down before its restart.
const downFor = 2 * time.Second

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// injectAPIKill kills api2 with SIGKILL mid-spike and restarts it.
func injectAPIKill(ctx context.Context, s *suite, st *state) error {
	return s.killMidSpike(ctx, st, s.cl.apis[1])
}

// killMidSpike kills n with SIGKILL 2/5 into a spike and restarts it
// after downFor.
func (s *suite) killMidSpike(ctx context.Context, st *state, n *node) error {
	users := s.sz.users
	s.spikeWith(ctx, st, users, s.spikeTime(users)*2/5, func(ctx context.Context) error {
		s.cl.kill(n)
		st.note("killed %s (SIGKILL)", n.name)
		return s.restartAfterDown(ctx, st, n)
	})
	return nil
}

// restartAfterDown leaves the killed n down for downFor, then starts it
// again and waits until it is ready.
func (s *suite) restartAfterDown(ctx context.Context, st *state, n *node) error {
	sleep(ctx, downFor)
	if err := s.cl.start(ctx, n); err != nil {
		return err
	}
	st.note("%s restarted and ready", n.name)
	return nil
}

// publishPile is how long the broker stays paused before the api is
// killed in api-kill-mid-publish: long enough for reservations to pile up
// behind publishes awaiting their confirms, shorter than the api's confirm
// timeout.
const publishPile = 1500 * time.Millisecond

// injectAPIKillMidPublish pauses the broker (SIGSTOP to its beam.smp), so
// that api2's publishes wait for confirms and the reservations it takes
// meanwhile queue behind them unsent; kills api2 with SIGKILL; resumes the
// broker (SIGCONT) and restarts api2. Those reservations are in no queue:
// only the settler can settle them.
func injectAPIKillMidPublish(ctx context.Context, s *suite, st *state) error {
	pid, err := brokerPID(ctx)
	if err != nil {
		return err
	}
	users := s.sz.users
	s.spikeWith(ctx, st, users, s.spikeTime(users)*2/5, func(ctx context.Context) error {
		resume := s.onExit(fmt.Sprintf("RabbitMQ (beam.smp %d) resumed", pid), func(context.Context) error {
			return syscall.Kill(pid, syscall.SIGCONT)
		})
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			return errors.Join(fmt.Errorf("pause the broker: %w", err), resume(ctx))
		}
		st.note("broker paused (SIGSTOP to beam.smp %d): publishes wait for confirms", pid)
		sleep(ctx, publishPile)
		n := s.cl.apis[1]
		s.cl.kill(n)
		st.note("killed %s (SIGKILL) with publishes unconfirmed", n.name)
		if err := resume(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("resume the broker: %w", err)
		}
		st.note("broker resumed (SIGCONT)")
		return s.restartAfterDown(ctx, st, n)
	})
	return nil
}

// brokerPID finds the local RabbitMQ's Erlang VM.
func brokerPID(ctx context.Context) (int, error) {
	out, err := exec.CommandContext(ctx, "pgrep", "-x", "beam.smp").Output()
	if err != nil {
		return 0, fmt.Errorf("find the broker's beam.smp: %w", err)
	}
	fields := strings.Fields(string(out))
	if len(fields) != 1 {
		return 0, fmt.Errorf("find the broker's beam.smp: want one process, found %q", out)
	}
	return strconv.Atoi(fields[0])
}

// injectWorkerKill kills worker1 with SIGKILL while orders flow and
// restarts it.
func injectWorkerKill(ctx context.Context, s *suite, st *state) error {
	return s.killMidSpike(ctx, st, s.cl.workers[0])
}

// blockingWatermark is a memory high watermark far below what the broker
// uses: it blocks every publishing connection at once.
const blockingWatermark = "0.0001"

// injectBrokerBlock lowers the broker's memory watermark until it blocks
// publishers for the outage, mid-spike, then restores it.
func injectBrokerBlock(ctx context.Context, s *suite, st *state) error {
	// rabbitmqctl takes a second or more: read the setting before the spike.
	old, err := readWatermark(ctx)
	if err != nil {
		st.note("could not read the memory watermark (%v); restoring the default %s", err, defaultWatermark)
		old = defaultWatermark
	}
	users := s.sz.users
	s.spikeWith(ctx, st, users, s.spikeTime(users)/5, func(ctx context.Context) error {
		return s.outage(ctx, st, s.sz.outage,
			func(ctx context.Context) (string, error) {
				_, err := rabbitmqctl(ctx, "set_vm_memory_high_watermark", blockingWatermark)
				return fmt.Sprintf("memory high watermark %s → %s: the broker blocks publishers for %s", old, blockingWatermark, s.sz.outage), err
			},
			"memory high watermark restored to "+old.String(),
			func(ctx context.Context) error {
				_, err := rabbitmqctl(ctx, old.args()...)
				return err
			})
	})
	return nil
}

// injectBrokerDisconnect has the broker close every connection of the
// run's apis and workers mid-spike.
func injectBrokerDisconnect(ctx context.Context, s *suite, st *state) error {
	// rabbitmqctl takes a second or more: find the connections before the
	// spike, close them in parallel during it.
	ports, err := connectionPorts(ctx, brokerPort(s.o.amqpURL), s.cl.pids())
	if err != nil {
		return err
	}
	conns, err := listConnections(ctx, ports)
	if err != nil {
		return err
	}
	if len(conns) == 0 {
		return errors.New("found no connection of the run's processes to close")
	}
	users := s.sz.users
	s.spikeWith(ctx, st, users, s.spikeTime(users)*2/5, func(ctx context.Context) error {
		n, err := closeConnections(ctx, conns)
		st.note("broker closed %d of %d connections (%s)", n, len(conns), connectionOwners(conns))
		return err
	})
	return nil
}

// connectionOwners says whose the connections are, e.g. "api1 1, worker1 2".
func connectionOwners(conns []brokerConn) string {
	owners := map[string]int{}
	for _, c := range conns {
		owners[c.owner]++
	}
	names := make([]string, 0, len(owners))
	for name, k := range owners {
		names = append(names, fmt.Sprintf("%s %d", name, k))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// injectRedisLoss stops both workers, spikes until the sale sells out,
// deletes the sale's stock keys, asks for a rebuild, starts the workers,
// polls warmup until the stock is loaded again, and spikes once more: a
// rebuild that forgot the queued orders would sell their units again.
func injectRedisLoss(ctx context.Context, s *suite, st *state) error {
	for _, w := range s.cl.workers {
		s.cl.stop(w)
	}
	st.note("stopped worker1 and worker2 (SIGTERM)")
	s.spikeWith(ctx, st, int(s.sz.stock)+int(s.sz.stock)/4, 0, nil)
	n, err := deleteSaleKeys(ctx, s.o.redisURL, s.stockPrefix, st.sale)
	if err != nil {
		return err
	}
	st.note("deleted %d Redis keys %s:{s%d}:*", n, s.stockPrefix, st.sale)
	// A rebuild may wait for the queued orders, which wait for the
	// workers: no answer is an answer too.
	if status, code, err := s.admin[0].warmup(ctx, st.sale); err != nil {
		st.note("warmup with orders queued: no answer (%v)", err)
	} else {
		st.note("warmup with orders queued: %d %s", status, code)
	}
	for _, w := range s.cl.workers {
		if err := s.cl.start(ctx, w); err != nil {
			return err
		}
	}
	st.note("started worker1 and worker2")
	loaded, answers, err := s.rebuild(ctx, st.sale, s.o.settleAfter+settleMargin)
	st.note("warmup polled until the stock was loaded: %s", answers)
	if err != nil {
		return err
	}
	if !loaded {
		return fmt.Errorf("stock of sale %d not loaded again within %s", st.sale, s.o.settleAfter+settleMargin)
	}
	s.spikeWith(ctx, st, int(s.sz.stock)/2, 0, nil)
	return nil
}

// rebuild asks for the sale's stock to be rebuilt until reconcile shows it
// loaded or timeout passes, and tells the answers it got.
func (s *suite) rebuild(ctx context.Context, sale int64, timeout time.Duration) (bool, string, error) {
	deadline := time.Now().Add(timeout)
	answers := map[string]int{}
	var order []string
	count := func(k string) {
		if answers[k] == 0 {
			order = append(order, k)
		}
		answers[k]++
	}
	text := func() string {
		parts := make([]string, len(order))
		for i, k := range order {
			parts[i] = fmt.Sprintf("%d× %s", answers[k], k)
		}
		return strings.Join(parts, ", ")
	}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if rec, err := s.admin[0].reconcile(ctx, sale); err == nil && rec.StockLoaded {
			return true, text(), nil
		}
		status, code, err := s.admin[0].warmup(ctx, sale)
		switch {
		case err != nil:
			count("error")
		case status == http.StatusOK:
			count("200")
		default:
			count(strings.TrimSpace(strconv.Itoa(status) + " " + code))
		}
		sleep(ctx, time.Second)
	}
	return false, text(), ctx.Err()
}

// deleteSaleKeys deletes every Redis key of one sale under prefix (on
// every master of a cluster).
func deleteSaleKeys(ctx context.Context, redisURL, prefix string, sale int64) (int, error) {
	return scratch.DeleteRedisMatch(ctx, redisURL, prefix+":{s"+strconv.FormatInt(sale, 10)+"}:*")
}

// injectMySQLRefuse locks the workers' MySQL account and ends its
// connections mid-spike, keeps it locked for the outage, and unlocks it.
func injectMySQLRefuse(ctx context.Context, s *suite, st *state) error {
	users := s.sz.users
	s.spikeWith(ctx, st, users, s.spikeTime(users)*3/10, func(ctx context.Context) error {
		return s.outage(ctx, st, s.sz.mysqlDown,
			func(ctx context.Context) (string, error) {
				if err := s.mysql.lockWorkerUser(ctx, true); err != nil {
					return "", err
				}
				n, err := s.mysql.killWorkerConnections(ctx)
				return fmt.Sprintf("locked MySQL account %s and killed its %d connections, for %s", s.mysql.workerUser(), n, s.sz.mysqlDown), err
			},
			"unlocked MySQL account "+s.mysql.workerUser(),
			func(ctx context.Context) error { return s.mysql.lockWorkerUser(ctx, false) })
	})
	return nil
}

// injectPoison publishes an undecodable message to the order exchange
// under order.created mid-spike.
func injectPoison(ctx context.Context, s *suite, st *state) error {
	users := s.sz.users
	s.spikeWith(ctx, st, users, s.spikeTime(users)*2/5, func(ctx context.Context) error {
		t := scratch.Topology(s.queuePrefix)
		t.Partitions = s.o.partitions
		var headers amqp.Table
		if s.o.partitions > 1 {
			// As the api does: the partition's key in a BCC header.
			headers = amqp.Table{"BCC": []any{t.PartitionKey(0)}}
		}
		if err := publishPoison(ctx, s.o.amqpURL, t.Exchange, mq.RoutingCreated, headers); err != nil {
			return err
		}
		st.note("published a poison message to %s with routing key %s (headers %v)", t.Exchange, mq.RoutingCreated, headers)
		return nil
	})
	return nil
}
