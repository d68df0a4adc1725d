#!/usr/bin/env bash
# Makes sure every server the tests talk to answers on 127.0.0.1:
# Redis, RabbitMQ and MariaDB (started with the machine's own commands when
# they are down) and memcached and Prometheus's tools (installed with apt-get
# when missing; memcached started with -M so a full cache errors instead of
# evicting stock).
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

case "${1:-ensure}" in
ensure)
	ensure_redis
	ensure_rabbitmq
	ensure_mariadb
	ensure_memcached
	ensure_prometheus_tools
	log "redis :6379, rabbitmq :5672, mariadb :3306, memcached :11211 answer; promtool $(promtool --version 2>&1 | head -1 | awk '{print $3}')"
	;;
*)
	echo "usage: $0 [ensure]" >&2
	exit 2
	;;
esac
