package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/redisurl"
	"github.com/seckill/seckill/loadtest/internal/proc"
	"github.com/seckill/seckill/loadtest/internal/scratch"
)

const (
	// promoteTimeout bounds the wait for a replica to take over the killed
	// master's slots (the cluster's node timeout plus an election).
	promoteTimeout = 30 * time.Second
	// rejoinTimeout bounds the wait for the restarted node to answer and
	// the cluster to be healthy with it.
	rejoinTimeout = 30 * time.Second
)

// needsCluster skips a scenario unless -redis is a Redis Cluster.
func needsCluster(s *suite) string {
	if !redisurl.IsCluster(s.o.redisURL) {
		return "skipped: -redis is not a Redis Cluster (a URL with addr= parameters, e.g. " +
			"redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002)"
	}
	return ""
}

// clusterNode is one redis-server of the cluster, as found before a fault:
// enough to kill it and start it again the way scripts/services.sh does.
type clusterNode struct {
	addr        string // host:port
	pid         int
	dir         string
	logfile     string
	configFile  string
	nodeTimeout string
	bind        string
}

// args are the command line that starts the node again as a daemon; it
// rejoins the cluster from its nodes.conf.
func (n clusterNode) args() []string {
	_, port, _ := net.SplitHostPort(n.addr)
	return []string{
		"--daemonize", "yes", "--bind", n.bind, "--port", port, "--dir", n.dir,
		"--cluster-enabled", "yes", "--cluster-config-file", n.configFile,
		"--cluster-node-timeout", n.nodeTimeout, "--save", "", "--appendonly", "no", "--logfile", n.logfile,
	}
}

// slotMaster finds the master that serves key's slot (CLUSTER KEYSLOT,
// CLUSTER SHARDS) and how to restart it (INFO server, CONFIG GET).
func slotMaster(ctx context.Context, cc *redis.ClusterClient, key string) (clusterNode, int64, error) {
	slot, err := cc.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return clusterNode{}, 0, fmt.Errorf("cluster keyslot %s: %w", key, err)
	}
	shards, err := cc.ClusterShards(ctx).Result()
	if err != nil {
		return clusterNode{}, slot, fmt.Errorf("cluster shards: %w", err)
	}
	var n clusterNode
	n.addr = shardMaster(shards, slot)
	if n.addr == "" {
		return n, slot, fmt.Errorf("no master serves slot %d", slot)
	}
	c := redis.NewClient(&redis.Options{Addr: n.addr})
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return n, slot, fmt.Errorf("info server of %s: %w", n.addr, err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			n.pid, _ = strconv.Atoi(v)
		}
	}
	if n.pid <= 0 {
		return n, slot, fmt.Errorf("%s reports no process_id", n.addr)
	}
	conf := map[string]*string{
		"dir": &n.dir, "logfile": &n.logfile, "cluster-config-file": &n.configFile,
		"cluster-node-timeout": &n.nodeTimeout, "bind": &n.bind,
	}
	for name, dst := range conf {
		got, err := c.ConfigGet(ctx, name).Result()
		if err != nil {
			return n, slot, fmt.Errorf("config get %s of %s: %w", name, n.addr, err)
		}
		*dst = got[name]
	}
	if n.dir == "" || n.configFile == "" {
		return n, slot, fmt.Errorf("%s reports no dir or cluster config file", n.addr)
	}
	if n.bind == "" {
		n.bind = "127.0.0.1"
	} else {
		n.bind = strings.Fields(n.bind)[0]
	}
	return n, slot, nil
}

// promoted waits until a node other than old serves slot and the cluster
// is ok again, as seen from the surviving nodes.
func promoted(ctx context.Context, cc *redis.ClusterClient, old clusterNode, slot int64) (string, error) {
	deadline := time.Now().Add(promoteTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if addr := slotOwner(ctx, cc, old.addr, slot); addr != "" && addr != old.addr {
			return addr, nil
		}
		sleep(ctx, 200*time.Millisecond)
	}
	return "", fmt.Errorf("no replica took over slot %d from %s within %s", slot, old.addr, promoteTimeout)
}

// slotOwner asks the cluster's nodes but skip who serves slot, and returns
// it once a node that reports cluster_state:ok names it.
func slotOwner(ctx context.Context, cc *redis.ClusterClient, skip string, slot int64) string {
	nodes, err := clusterAddrs(ctx, cc, skip)
	if err != nil {
		return ""
	}
	for _, addr := range nodes {
		if !nodeOK(ctx, addr) {
			continue
		}
		c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second})
		shards, err := c.ClusterShards(ctx).Result()
		_ = c.Close()
		if err != nil {
			continue
		}
		if addr := shardMaster(shards, slot); addr != "" {
			return addr
		}
	}
	return ""
}

// shardMaster finds the online master serving slot among shards: its
// address, or "" when none serves it.
func shardMaster(shards []redis.ClusterShard, slot int64) string {
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if slot < r.Start || slot > r.End {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role == "master" && n.Health == "online" {
					return net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
				}
			}
		}
	}
	return ""
}

// clusterAddrs lists the addresses of the cluster's nodes but skip, from
// the seeds of cc.
func clusterAddrs(ctx context.Context, cc *redis.ClusterClient, skip string) ([]string, error) {
	var out []string
	for _, seed := range cc.Options().Addrs {
		if seed == skip {
			continue
		}
		c := redis.NewClient(&redis.Options{Addr: seed, DialTimeout: time.Second, ReadTimeout: time.Second})
		text, err := c.ClusterNodes(ctx).Result()
		_ = c.Close()
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(text, "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || strings.Contains(f[2], "fail") {
				continue
			}
			addr, _, _ := strings.Cut(f[1], "@")
			if addr != skip {
				out = append(out, addr)
			}
		}
		return out, nil
	}
	return nil, errors.New("no seed node of the cluster answers")
}

// restartNode starts n again unless its port answers, and waits until it
// answers and the cluster is healthy on every node.
func restartNode(ctx context.Context, cc *redis.ClusterClient, n clusterNode) error {
	if !answers(ctx, n.addr) {
		out, err := exec.CommandContext(ctx, "redis-server", n.args()...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("start redis-server %s: %w: %s", n.addr, err, strings.TrimSpace(string(out)))
		}
	}
	deadline := time.Now().Add(rejoinTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if nodeOK(ctx, n.addr) && clusterHealthy(ctx, cc) {
			return nil
		}
		sleep(ctx, 200*time.Millisecond)
	}
	return fmt.Errorf("cluster not healthy within %s of restarting %s", rejoinTimeout, n.addr)
}

// answers tells whether a Redis server answers PING at addr.
func answers(ctx context.Context, addr string) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer c.Close()
	return c.Ping(ctx).Err() == nil
}

// nodeOK tells whether the node at addr answers and reports
// cluster_state:ok.
func nodeOK(ctx context.Context, addr string) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer c.Close()
	info, err := c.ClusterInfo(ctx).Result()
	return err == nil && strings.Contains(info, "cluster_state:ok")
}

// clusterHealthy: every node the cluster knows answers and reports
// cluster_state:ok, and none is flagged failing.
func clusterHealthy(ctx context.Context, cc *redis.ClusterClient) bool {
	nodes, err := clusterAddrs(ctx, cc, "")
	if err != nil || len(nodes) == 0 {
		return false
	}
	for _, addr := range nodes {
		if !nodeOK(ctx, addr) {
			return false
		}
	}
	return true
}

// injectRedisFailover kills, with SIGKILL, the Redis Cluster master that
// serves the sale's slot while a crowd buys, waits until its replica has
// taken over, and starts the killed node again (it rejoins as a replica
// from its nodes.conf). Meanwhile purchases of the sale fail closed (503).
// Replication is asynchronous: reservations the old master acknowledged
// may be missing on the new one. One host seldom shows it, so the newest
// reservations are taken off the new master once it is promoted, while the
// workers are stopped and the crowd keeps buying: the stock sells their
// units again, their orders reach MySQL all the same once the workers
// start, MySQL refuses the excess as cancelled orders with a reason, and
// the settler merges MySQL back into the stock. The generic checks then
// hold the sale to every 202.
func injectRedisFailover(ctx context.Context, s *suite, st *state) error {
	rdb, err := scratch.OpenRedis(ctx, s.o.redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return errors.New("-redis is not a Redis Cluster")
	}
	key := s.stockPrefix + ":{s" + strconv.FormatInt(st.sale, 10) + "}:stock"
	victim, slot, err := slotMaster(ctx, cc, key)
	if err != nil {
		return err
	}
	st.note("sale %d's slot %d is served by master %s (pid %d)", st.sale, slot, victim.addr, victim.pid)
	root, err := proc.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	repair := s.onExit("Redis Cluster node "+victim.addr+" running and the cluster healthy", func(ctx context.Context) error {
		err := restartNode(ctx, cc, victim)
		if err == nil {
			return nil
		}
		// The last resort: the script that starts the local servers
		// restarts the node or creates the cluster again.
		out, serr := exec.CommandContext(ctx, filepath.Join(root, "scripts", "services.sh"), "ensure").CombinedOutput()
		if serr != nil {
			return errors.Join(err, fmt.Errorf("scripts/services.sh ensure: %w: %s", serr, strings.TrimSpace(string(out))))
		}
		return nil
	})
	// The workers wait while the crowd buys, so that the stock cannot see
	// the lost reservations' orders in MySQL before the sale sells out:
	// what the stock over-accepts is then certain, not a race with the
	// settler.
	for _, w := range s.cl.workers {
		s.cl.stop(w)
	}
	st.note("stopped worker1 and worker2 (SIGTERM)")
	users := 2 * s.sz.users
	var recovered time.Duration
	res := s.spikeWith(ctx, st, users, s.spikeTime(users)/5, func(ctx context.Context) error {
		killed := time.Now()
		if err := syscall.Kill(victim.pid, syscall.SIGKILL); err != nil {
			return errors.Join(fmt.Errorf("kill redis-server %d: %w", victim.pid, err), repair(context.WithoutCancel(ctx)))
		}
		st.note("killed master %s (SIGKILL to redis-server %d)", victim.addr, victim.pid)
		owner, err := promoted(ctx, cc, victim, slot)
		if err != nil {
			return errors.Join(err, repair(context.WithoutCancel(ctx)))
		}
		recovered = time.Since(killed)
		st.note("replica %s serves slot %d, cluster ok, %.1fs after the kill", owner, slot, recovered.Seconds())
		// Replication on one host seldom loses a write: take the newest
		// reservations off the new master, as a replica that missed them
		// would lack them.
		n, err := dropReservations(ctx, owner, s.stockPrefix, st.sale, lostWrites)
		if err != nil {
			return errors.Join(err, repair(context.WithoutCancel(ctx)))
		}
		st.note("took the %d newest reservations off the new master (units back, buyers forgotten), as writes a replica missed", n)
		if err := repair(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		st.note("%s started again, rejoined as a replica; cluster healthy %.1fs after the kill", victim.addr, time.Since(killed).Seconds())
		return nil
	})
	unavailable := res.detail["503 unavailable"]
	st.note("failover: %d answered 503 while the slot had no master (recovered in %.1fs), %d accepted, %d sold out",
		unavailable, recovered.Seconds(), res.counts.Accepted, res.counts.SoldOut)
	for _, w := range s.cl.workers {
		if err := s.cl.start(ctx, w); err != nil {
			return err
		}
	}
	st.note("started worker1 and worker2")
	return nil
}

// lostWrites is how many acknowledged reservations the failover scenario
// takes off the new master.
const lostWrites = 25

// dropLua undoes reservations the way a replica that never received them
// lacks them: each RESERVED one leaves the reservations, the buyers and the
// in-flight index, and its unit is back in the stock.
// KEYS: stock, buyers, resv, pend; ARGV: order numbers.
var dropLua = redis.NewScript(`
local n = 0
for _, no in ipairs(ARGV) do
  local state = redis.call('HGET', KEYS[3], no)
  if state and string.sub(state, 1, 2) == 'R:' then
    local user = string.sub(state, 3)
    redis.call('HDEL', KEYS[3], no)
    if redis.call('HGET', KEYS[2], user) == no then
      redis.call('HDEL', KEYS[2], user)
    end
    redis.call('ZREM', KEYS[4], no)
    redis.call('INCR', KEYS[1])
    n = n + 1
  end
end
return n
`)

// dropReservations takes the k newest reservations (by order number, a
// UUIDv7) off the sale's master at addr and returns how many it took.
func dropReservations(ctx context.Context, addr, prefix string, sale int64, k int) (int, error) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	base := prefix + ":{s" + strconv.FormatInt(sale, 10) + "}:"
	resv, err := c.HGetAll(ctx, base+"resv").Result()
	if err != nil {
		return 0, fmt.Errorf("read the sale's reservations: %w", err)
	}
	nos := make([]string, 0, len(resv))
	for no, state := range resv {
		if strings.HasPrefix(state, "R:") {
			nos = append(nos, no)
		}
	}
	slices.Sort(nos)
	nos = nos[max(0, len(nos)-k):]
	args := make([]any, len(nos))
	for i, no := range nos {
		args[i] = no
	}
	keys := []string{base + "stock", base + "buyers", base + "resv", base + "pend"}
	n, err := dropLua.Run(ctx, c, keys, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("take reservations off the new master: %w", err)
	}
	return n, nil
}
