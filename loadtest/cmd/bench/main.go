// Command bench measures seckill on the local servers against a baseline
// taken in the same run. It builds cmd/api and cmd/worker, starts them as
// separate processes against the local Redis, RabbitMQ and MySQL (a
// database, key prefix and queue prefix of its own), starts a gin
// hello-world server as a third process, and drives the same closed-loop
// load at each in turn:
//
//   - hello: POST /hello on the hello-world server, the baseline;
//   - contended: purchases of one large sale, every request a distinct
//     user, so each is a real reservation and a confirmed publish (202);
//   - sold-out: purchases of a sale already bought out (409 sold_out);
//   - sold-out with tickets: the same with admission on, a sale behind a
//     waiting room whose users took their tickets before the buy-out, so
//     every purchase carries a valid ticket the api checks (409 sold_out);
//
// then measures orders persisted per second from the first purchase to the
// last row in MySQL, and, in the same run, a raw confirmed-publish ceiling
// of the broker. Over each measured window it reads the CPU time of itself,
// its children, the local servers and the machine from /proc. It prints a
// table of ratios to the baseline and of CPU per reply and writes two files
// to its output directory: bench.md, the report it printed, and bench.json,
// every figure with the per-second series of each phase.
//
// With -apis, -workers and -redis it measures a matrix instead: for each
// Redis (the single server, the local Redis Cluster or a URL), each number
// of api replicas and each number of workers, the same five load phases
// with the replicas started on that Redis and the load's connections
// spread evenly over their public listeners; each setup gets its full
// report in a directory of its own, and bench.md opens with a table of
// them side by side. Every api and worker of a run gets -partitions persist
// partitions (SECKILL_PERSIST_PARTITIONS), and the workers of a setup share
// them. A matrix leaves out the raw-publish ceiling, which depends on none
// of these, and times the worker alone only when the setups differ in
// workers: then each setup's workers, started together, drain a queue
// filled over one sale per partition, and the report shows the rows each
// one inserted.
//
// Exit status: 0 when the run completed without errors, 5xx or a broken
// invariant (targets not met are reported, not failed); 1 when the run
// failed; 2 on a usage error.
//
// The files, one concern each: flags.go reads the command line; bench.go
// runs the command (the processes, each setup, the cleanup), hello.go is
// the baseline server, apis.go starts the api replicas and workers.go the
// workers; phases.go, tickets.go, ceiling.go and drain.go run the phases;
// processes.go and cpu.go say which processes are watched and read their
// CPU time (with prometheus/procfs),
// resources.go and scrape.go their memory and /metrics (with
// prometheus/common/expfmt); mysql.go watches the rows land; invariants.go
// and targets.go hold what is checked and the goals; report.go holds the
// figures, markdown.go, cpugrid.go and format.go show them, scale.go sums
// up several setups, output.go writes the files.
package main

import (
	"os"

	"github.com/seckill/seckill/loadtest/internal/load"
)

func main() { os.Exit(load.Main("bench", run)) }
