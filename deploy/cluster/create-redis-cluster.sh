#!/bin/sh
# Forms the compose cluster profile's Redis Cluster: 3 masters and 3
# replicas from redis-node-1 … redis-node-6, once. A cluster that is already
# formed (its nodes keep nodes.conf in their volumes) is left alone.
# `redis-cli --cluster create` wants addresses, not names, so each node is
# asked for the address it answers on.
set -eu

nodes="redis-node-1 redis-node-2 redis-node-3 redis-node-4 redis-node-5 redis-node-6"

formed() { redis-cli -h redis-node-1 cluster info | grep -q '^cluster_state:ok'; }

if formed; then
	echo "redis cluster already formed"
	exit 0
fi

addrs=""
for n in $nodes; do
	addr=$(redis-cli -h "$n" client info | tr ' ' '\n' | sed -n 's/^laddr=//p' | tr -d '\r')
	if [ -z "$addr" ]; then
		echo "redis node $n does not tell its address" >&2
		exit 1
	fi
	addrs="$addrs $addr"
done

# shellcheck disable=SC2086 # one argument per address
redis-cli --cluster create $addrs --cluster-replicas 1 --cluster-yes

i=0
until formed; do
	i=$((i + 1))
	if [ "$i" -ge 60 ]; then
		echo "redis cluster not ok 60s after its creation" >&2
		redis-cli -h redis-node-1 cluster info >&2
		exit 1
	fi
	sleep 1
done
echo "redis cluster formed: 3 masters, 3 replicas"
