// Command chaos is seckill's fault suite. It builds cmd/api and cmd/worker,
// starts two apis and two workers against the local Redis, RabbitMQ and
// MySQL (a database, a key prefix, a queue prefix and a MySQL account of
// its own), and runs one scenario per fault:
//
//   - api-kill: one api killed with SIGKILL mid-spike, then restarted;
//   - api-kill-mid-publish: the broker paused (SIGSTOP), one api killed
//     with SIGKILL while its publishes wait for confirms, the broker resumed
//     and the api restarted;
//   - worker-kill: one worker killed with SIGKILL while orders flow, then restarted;
//   - broker-block: the broker's memory watermark lowered until it blocks
//     every publisher, then restored;
//   - broker-disconnect: the broker closes every connection of the run's processes;
//   - redis-loss: a sale's stock keys deleted while its orders wait in the
//     queue with the workers stopped, then rebuilt through warmup;
//   - redis-failover (with -redis naming a Redis Cluster): the master
//     serving the sale's slot killed with SIGKILL mid-spike, its replica
//     promoted, the node started again as a replica;
//   - replicas: no fault; the crowd over both apis buys exactly the stock,
//     and a sale sold out through one api is answered by the other from
//     its sold-out flag without a stock reservation call;
//   - mysql-refuse: MySQL refuses the workers' account for a while;
//   - poison: an undecodable message published to the order exchange;
//   - events-relay-crash: the workers killed while paid orders' events wait
//     in the outbox, one of them killed again mid-relay; an outside
//     consumer must see every accepted order and every payment.
//
// Each scenario opens its own sale, releases buyers at a steady rate over
// both apis, injects its fault from outside, waits for the sale to settle
// and checks, from outside, that every 202 the clients saw is an order in
// MySQL (live, or cancelled with a reason), that nothing is oversold or
// bought twice, that the reconciliation adds up with nothing stuck in
// flight, and that nothing but the poison message was dead-lettered. It
// prints a table and the reason of every failed check.
//
// Every server setting a fault changes (the memory watermark, the MySQL
// account) is restored, and every process stopped, also when a scenario
// fails or the run is interrupted.
//
// Exit status: 0 when every check held; 1 when one failed or the run
// failed; 2 on a usage error.
package main

import (
	"os"

	"github.com/seckill/seckill/loadtest/internal/load"
)

func main() { os.Exit(load.Main("chaos", run)) }
