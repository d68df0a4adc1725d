package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/redact"
)

// rabbitmqctl runs rabbitmqctl with args and returns its output.
func rabbitmqctl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// watermark is a vm_memory_high_watermark setting: a fraction of the
// memory, or an absolute number of bytes.
type watermark struct {
	relative float64
	absolute int64 // bytes; used when relative is 0
}

// args are the arguments of set_vm_memory_high_watermark that restore w.
func (w watermark) args() []string {
	if w.relative > 0 {
		return []string{"set_vm_memory_high_watermark", strconv.FormatFloat(w.relative, 'g', -1, 64)}
	}
	return []string{"set_vm_memory_high_watermark", "absolute", strconv.FormatInt(w.absolute, 10)}
}

func (w watermark) String() string { return strings.Join(w.args()[1:], " ") }

// defaultWatermark is RabbitMQ's default, restored when the setting in
// force cannot be read.
var defaultWatermark = watermark{relative: 0.4}

var (
	relativeWatermark = regexp.MustCompile(`Memory high watermark setting: ([0-9.]+) of available memory`)
	absoluteWatermark = regexp.MustCompile(`Memory high watermark setting: ([0-9]+) bytes`)
)

// parseWatermark finds the setting in force in the output of
// `rabbitmqctl status`.
func parseWatermark(status string) (watermark, bool) {
	if m := relativeWatermark.FindStringSubmatch(status); m != nil {
		if f, err := strconv.ParseFloat(m[1], 64); err == nil && f > 0 {
			return watermark{relative: f}, true
		}
	}
	if m := absoluteWatermark.FindStringSubmatch(status); m != nil {
		if n, err := strconv.ParseInt(m[1], 10, 64); err == nil && n > 0 {
			return watermark{absolute: n}, true
		}
	}
	return watermark{}, false
}

// readWatermark reads the broker's memory high watermark.
func readWatermark(ctx context.Context) (watermark, error) {
	out, err := rabbitmqctl(ctx, "status")
	if err != nil {
		return watermark{}, err
	}
	w, ok := parseWatermark(out)
	if !ok {
		return watermark{}, fmt.Errorf("no memory high watermark in rabbitmqctl status")
	}
	return w, nil
}

// connectionPorts maps the local port of each of the pids' TCP connections
// to the broker's port to the pid's name, from `ss -tnpH`.
func connectionPorts(ctx context.Context, brokerPort int, pids map[int]string) (map[int]string, error) {
	out, err := exec.CommandContext(ctx, "ss", "-tnpH", "dport", "= :"+strconv.Itoa(brokerPort)).Output()
	if err != nil {
		return nil, fmt.Errorf("ss: %w", err)
	}
	return parseSS(string(out), pids), nil
}

var (
	ssPid  = regexp.MustCompile(`pid=([0-9]+)`)
	ssAddr = regexp.MustCompile(`^\[?[0-9A-Fa-f.:*%]*\]?:([0-9]+)$`)
)

// parseSS reads `ss -tnpH` lines: the first address:port is the local
// one, the owning processes are in users:((…,pid=N,…)).
func parseSS(out string, pids map[int]string) map[int]string {
	ports := map[int]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		port := 0
		for _, f := range strings.Fields(sc.Text()) {
			if m := ssAddr.FindStringSubmatch(f); m != nil {
				port, _ = strconv.Atoi(m[1])
				break
			}
		}
		if port == 0 {
			continue
		}
		for _, m := range ssPid.FindAllStringSubmatch(sc.Text(), -1) {
			pid, _ := strconv.Atoi(m[1])
			if name, ok := pids[pid]; ok {
				ports[port] = name
			}
		}
	}
	return ports
}

// brokerConn is a connection as the broker names it, and whose it is.
type brokerConn struct {
	pid   string // the broker's connection process, e.g. <rabbit@host.1.2345.0>
	owner string
}

// listConnections finds, on the broker, the connections whose peer port is
// one of ports. Only the run's own processes are picked; anyone else on the
// broker keeps his connections.
func listConnections(ctx context.Context, ports map[int]string) ([]brokerConn, error) {
	out, err := rabbitmqctl(ctx, "list_connections", "-q", "--no-table-headers", "pid", "peer_port")
	if err != nil {
		return nil, err
	}
	var conns []brokerConn
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		port, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		if owner, ours := ports[port]; ours {
			conns = append(conns, brokerConn{pid: f[0], owner: owner})
		}
	}
	return conns, nil
}

// closeConnections has the broker close conns, all at once, and returns
// how many it closed.
func closeConnections(ctx context.Context, conns []brokerConn) (int, error) {
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			_, errs[i] = rabbitmqctl(ctx, "close_connection", c.pid, "chaos")
		})
	}
	wg.Wait()
	n := 0
	for _, err := range errs {
		if err == nil {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// publishPoison publishes a body no worker can decode to the order
// exchange under order.created, with a confirm.
func publishPoison(ctx context.Context, amqpURL, exchange, routingKey string, headers amqp.Table) error {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return fmt.Errorf("amqp: %w", redact.Error(err, amqpURL))
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("amqp channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("amqp confirm mode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, routingKey, true, false, amqp.Publishing{
		ContentType: "application/json", DeliveryMode: amqp.Persistent, MessageId: "chaos-poison", Headers: headers,
		Body: []byte("\x00{not json: a poison message}"),
	})
	if err != nil {
		return fmt.Errorf("publish poison: %w", err)
	}
	ok, err := conf.WaitContext(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("publish poison: %w", err)
	case !ok:
		return fmt.Errorf("publish poison: nacked")
	}
	return nil
}

// prefixed lists the queues or exchanges (what: "queues", "exchanges")
// whose name starts with prefix.
func prefixed(ctx context.Context, what, prefix string) ([]string, error) {
	out, err := rabbitmqctl(ctx, "list_"+what, "-q", "--no-table-headers", "name")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" && strings.HasPrefix(l, prefix) {
			names = append(names, l)
		}
	}
	return names, nil
}
