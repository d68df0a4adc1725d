#!/usr/bin/env bash
# Makes sure every server the tests talk to answers on 127.0.0.1:
# Redis, RabbitMQ and MariaDB (started with the machine's own commands when
# they are down), a Redis Cluster of 3 masters and 3 replicas on ports
# 7000-7005 (formed again from scratch when it is not healthy), and memcached
# and Prometheus's tools (installed with apt-get when missing; memcached
# started with -M so a full cache errors instead of evicting stock), and
# Chromium for the storefront's browser test, which drives it through the
# DevTools protocol (installed with apt-get when missing).
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # name port seconds
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		if port_open "$2"; then return 0; fi
		sleep 0.1
	done
	log "$1 does not answer on 127.0.0.1:$2 after $3s"
	return 1
}

apt_updated=0
apt_install() {
	if [ "$(id -u)" != 0 ]; then
		log "$* missing and not root: install it with: sudo apt-get install -y $*"
		return 1
	fi
	if [ "$apt_updated" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
		apt_updated=1
	fi
	log "installing $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_redis() {
	port_open 6379 && return 0
	log "starting redis-server"
	mkdir -p /var/lib/redis /var/log/redis
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log
	wait_port redis 6379 20
}

# The cluster's nodes keep their state (nodes.conf) in a directory each;
# no data is persisted.
cluster_ports=(7000 7001 7002 7003 7004 7005)
cluster_dir=${SECKILL_REDIS_CLUSTER_DIR:-/var/lib/redis-cluster}

# cluster_healthy: every node answers, knows all six and serves all slots.
cluster_healthy() {
	local port info
	for port in "${cluster_ports[@]}"; do
		info=$(redis-cli -p "$port" cluster info 2>/dev/null) || return 1
		grep -q '^cluster_state:ok' <<<"$info" || return 1
		grep -q "^cluster_known_nodes:${#cluster_ports[@]}" <<<"$info" || return 1
	done
}

# cluster_remembered: some node knows of other nodes (from its nodes.conf).
cluster_remembered() {
	local port
	for port in "${cluster_ports[@]}"; do
		redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_known_nodes:[2-9]' && return 0
	done
	return 1
}

wait_cluster_healthy() { # seconds
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		if cluster_healthy; then return 0; fi
		sleep 0.1
	done
	return 1
}

start_cluster_node() { # port
	mkdir -p "$cluster_dir/$1" /var/log/redis
	redis-server --daemonize yes --bind 127.0.0.1 --port "$1" --dir "$cluster_dir/$1" \
		--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
		--save "" --appendonly no --logfile "/var/log/redis/cluster-$1.log"
}

ensure_redis_cluster() {
	cluster_healthy && return 0
	local port down=()
	for port in "${cluster_ports[@]}"; do port_open "$port" || down+=("$port"); done
	if [ "${#down[@]}" -gt 0 ]; then
		log "starting redis cluster nodes ${down[*]}"
		for port in "${down[@]}"; do start_cluster_node "$port"; done
		for port in "${down[@]}"; do wait_port "redis cluster node" "$port" 20; done
		# Nodes restarted with the cluster's nodes.conf rejoin it by themselves;
		# nodes that know only themselves never will.
		if cluster_remembered && wait_cluster_healthy 10; then
			log "redis cluster on :${cluster_ports[0]}-${cluster_ports[-1]} formed again from its nodes.conf"
			return 0
		fi
	fi
	log "redis cluster on :${cluster_ports[0]}-${cluster_ports[-1]} is not formed or not healthy: wiping its nodes and creating it"
	for port in "${cluster_ports[@]}"; do
		port_open "$port" && redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
	done
	for port in "${cluster_ports[@]}"; do
		local i
		for ((i = 0; i < 100; i++)); do
			port_open "$port" || break
			sleep 0.1
		done
		if port_open "$port"; then
			log "redis cluster node :$port does not stop"
			return 1
		fi
		rm -rf "${cluster_dir:?}/$port"
		start_cluster_node "$port"
	done
	local addrs=()
	for port in "${cluster_ports[@]}"; do
		wait_port "redis cluster node" "$port" 20
		addrs+=("127.0.0.1:$port")
	done
	local out
	if ! out=$(redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes 2>&1); then
		printf '%s\n' "$out" >&2
		log "redis-cli --cluster create failed"
		return 1
	fi
	if ! wait_cluster_healthy 30; then
		redis-cli -p "${cluster_ports[0]}" cluster info >&2 || true
		log "redis cluster not healthy 30s after its creation"
		return 1
	fi
	log "redis cluster created: 3 masters and 3 replicas on :${cluster_ports[0]}-${cluster_ports[-1]}"
}

ensure_rabbitmq() {
	port_open 5672 && return 0
	log "starting rabbitmq-server"
	rabbitmq-server -detached || true
	wait_port rabbitmq 5672 90
}

ensure_mariadb() {
	port_open 3306 && return 0
	log "starting mariadbd"
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
	wait_port mariadb 3306 60
}

ensure_memcached() {
	command -v memcached >/dev/null || apt_install memcached
	port_open 11211 && return 0
	log "starting memcached on 127.0.0.1:11211 (-M: no eviction)"
	local user=()
	[ "$(id -u)" = 0 ] && user=(-u memcache)
	id memcache >/dev/null 2>&1 || user=(-u root)
	memcached -d -l 127.0.0.1 -p 11211 -m 256 -M -c 4096 "${user[@]}"
	wait_port memcached 11211 10
}

ensure_prometheus_tools() {
	command -v promtool >/dev/null && command -v prometheus >/dev/null && return 0
	apt_install prometheus
	# The Debian package may start a server through its init script; the
	# tests start their own on a port of their choosing.
	if [ -x /etc/init.d/prometheus ]; then /etc/init.d/prometheus stop >/dev/null 2>&1 || true; fi
}

ensure_chromium() {
	command -v chromium >/dev/null && return 0
	apt_install chromium
}

case "${1:-ensure}" in
ensure)
	ensure_redis
	ensure_redis_cluster
	ensure_rabbitmq
	ensure_mariadb
	ensure_memcached
	ensure_prometheus_tools
	ensure_chromium
	log "redis :6379, redis cluster :7000-7005, rabbitmq :5672, mariadb :3306, memcached :11211 answer; promtool $(promtool --version 2>&1 | head -1 | awk '{print $3}'); $(chromium --version 2>/dev/null)"
	;;
*)
	echo "usage: $0 [ensure]" >&2
	exit 2
	;;
esac
