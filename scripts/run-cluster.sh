#!/usr/bin/env bash
# scripts/run-cluster.sh — what `make run` starts: a local three-node keel
# cluster, node i on 127.0.0.i (client port 700i, peer port 1700i), data
# under DATA (default data/, or data/shards-N with SHARDS=N), logs beside
# it; SHARDS=N gives each node N Raft groups (shards), their leaders spread
# over the nodes. Prints how to connect and runs until Ctrl-C, then stops
# the three nodes it started (by pid).
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${KEEL_SERVER:-build/release/keel-server}

shards=${SHARDS:-1}
data=${DATA:-data}
[ "$shards" != 1 ] && data=${DATA:-data/shards-$shards}
mkdir -p "$data"
cluster="1@127.0.0.1:17001,2@127.0.0.2:17002,3@127.0.0.3:17003"
pids=()
stop() {
	trap - INT TERM EXIT
	echo
	echo "stopping the cluster"
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
	exit 0
}
trap stop INT TERM EXIT
for i in 1 2 3; do
	# each client port also listens on 127.0.0.1, so `redis-cli -p 700i` works
	clients="127.0.0.$i"
	[ "$i" != 1 ] && clients="$clients,127.0.0.1"
	"$bin" --id "$i" --bind "127.0.0.$i" --client-bind "$clients" --port "700$i" \
		--peer-port "1700$i" --dir "$data/$i" --cluster "$cluster" --shards "$shards" \
		>>"$data/$i.log" 2>&1 &
	pids+=($!)
done
sleep 1
for i in 1 2 3; do
	if ! kill -0 "${pids[$((i - 1))]}" 2>/dev/null; then
		echo "node $i did not start; its log says:"
		tail -5 "$data/$i.log"
		stop
	fi
done
if [ "$shards" != 1 ]; then
	cat <<MSG
keel: a 3-node cluster of $shards shards is running (data and logs in $data/)
Each shard is a Raft group over the three nodes with a range of the 16384
hash slots; their leaders spread over the nodes. Cluster clients find them:
  redis-cli -c -p 7001 cluster slots
  redis-cli -c -p 7002 set a 1 && redis-cli -c -p 7003 get a
  redis-benchmark --cluster -p 7001 -t set,get -q
  build/release/keel-cli -p 7001 shard status
  build/release/keel-cli -p 7001 reshard --slots 0-999 --to 1
  build/release/keel-cli -p 7001 shard add
Plain clients work on any node too (a write goes to its shard's leader).
Keys of one command must be in one shard ({hash tags} keep them together).
docs/shards.md tells the rest. Ctrl-C stops the cluster.
MSG
	wait
	exit 0
fi
cat <<MSG
keel: a 3-node cluster is running (data and logs in $data/)
  node 1: redis-cli -p 7001
  node 2: redis-cli -p 7002     (or -h 127.0.0.2)
  node 3: redis-cli -p 7003     (or -h 127.0.0.3)
Any node takes any command: writes are forwarded to the leader, reads
are linearizable everywhere. Try:
  redis-cli -p 7001 set a 1 && redis-cli -p 7003 get a
  build/release/keel-cli -p 7002 status
A read replica, in another terminal (docs/replicas.md):
  build/release/keel-server --id 9 --bind 127.0.0.9 --port 7009 --dir $data/9 \\
      --replica-of 127.0.0.1:7001,127.0.0.2:7002,127.0.0.3:7003
Ctrl-C stops the cluster.
MSG
wait
