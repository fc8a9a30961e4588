#!/usr/bin/env bash
# tools/bench-shards.sh — `make bench-shards`: a 3-node keel of 3 shards
# (their leaders spread over the nodes) against a 3-node keel of one, on
# this machine, in one run. The one-shard cluster is driven by plain
# redis-benchmark at its leader (redis-benchmark --cluster needs two
# masters), the sharded one by redis-benchmark --cluster (each key to its
# shard's leader); both -t set,get -c 50 -n N -r 100000 -d 64 -P 16 and
# -P 1. Prints ops/s of each, their ratio, and the CPU the three nodes
# spent per request (user + system time of the keel-server processes over
# the run, from /proc): what a request costs a sharded node against a
# one-shard node, whatever the machine's cores. Then the same for three
# shards each placed on two of the three nodes against three shards on
# every node (the CPU all nodes spend a request: each write applied on
# two nodes, not three). Then 3 nodes of IDLE
# groups each (default 1000, with 1 MiB log segments), once every group
# has a leader and is quiet (docs/shards.md), idle for 20 s:
# the CPU of one node as a share of one core, and its memory (RSS) per
# group. Each load test runs
# REPS times (default 3); the median run's figures are shown. Between
# them, the speed of moving a range of slots (BENCH_MOVE_KEYS keys of 100
# bytes, default 300000) beside a loopback copy of the same bytes.
# Usage: bench-shards.sh [N] [REPS] [IDLE]. BENCH_PORT (7600) places the
# client ports: BENCH_PORT+1..3, BENCH_PEER_PORT (BENCH_PORT+10000) the
# peer ports: +1..3. BENCH_IDLE_ONLY=1 runs only the idle groups' part.
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-${BENCH_N:-200000}}
REPS=${2:-${BENCH_REPS:-3}}
IDLE=${3:-${BENCH_IDLE:-1000}}
P=${BENCH_PORT:-7600}
PP=${BENCH_PEER_PORT:-$((P + 10000))}
bin=build/release/keel-server
work=$PWD/build/bench-shards
rm -rf "$work"
mkdir -p "$work"
pids=()
stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	pids=()
}
trap stop_all EXIT
hz=$(getconf CLK_TCK)

start() { # shards [more arguments]
	local shards=$1
	shift
	local cluster="1@127.0.0.1:$((PP + 1)),2@127.0.0.2:$((PP + 2)),3@127.0.0.3:$((PP + 3))"
	rm -rf "$work/data"
	for i in 1 2 3; do
		"$bin" --id "$i" --bind "127.0.0.$i" --port $((P + i)) --peer-port $((PP + i)) \
			--dir "$work/data/$i" --cluster "$cluster" --shards "$shards" "$@" \
			>>"$work/$i.log" 2>&1 &
		pids+=($!)
	done
}

# Waits until every shard of node 1's view has a leader, spread over the
# nodes when there are as many shards as nodes; prints the first leader.
ready() { # shards
	for _ in $(seq $((300 + $1))); do
		local info leaders
		info=$(redis-cli -h 127.0.0.1 -p $((P + 1)) info shards 2>/dev/null | tr -d '\r' |
			grep "^shard") # the shards' lines (not the metadata group's)
		leaders=$(echo "$info" | grep -o "leader=[0-9]*" | grep -v "leader=0" | sort -u)
		if [ "$(echo "$info" | grep -c "leader=[1-9]")" = "$1" ] &&
			{ [ "$1" != 3 ] || [ "$(echo "$leaders" | wc -l)" = 3 ]; }; then
			echo "$leaders" | head -1 | cut -d= -f2
			return 0
		fi
		sleep 0.1
	done
	return 1
}

cpu_ticks() { # the three nodes' user + system ticks
	local t=0
	for p in "${pids[@]}"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t"
}

# One redis-benchmark run: "ops cpu_us_per_request" of test $2 (SET|GET).
run() { # args test pipeline
	local before after out ops
	before=$(cpu_ticks)
	out=$(redis-benchmark $1 -t "$2" -n "$N" -c 50 -r 100000 -d 64 -P "$3" -q 2>&1 |
		tr '\r' '\n' | grep "requests per second" | tail -1)
	after=$(cpu_ticks)
	ops=$(echo "$out" | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
	echo "$ops $(awk -v d=$((after - before)) -v hz="$hz" -v n="$N" \
		'BEGIN {printf "%.2f", d * 1e6 / hz / n}')"
}

median() { # lines "ops cpu": the line of the median ops
	sort -n | awk '{a[NR]=$0} END {print a[int((NR + 1) / 2)]}'
}

# Three shards each placed on two of the nodes (docs/shards.md, "A shard
# on some of the nodes"): two shards on every node to start, then shards
# 2, 3 and 4 added on nodes 1,2 / 2,3 / 3,1 and given every slot.
placed() {
	start 2
	ready 2 >/dev/null || return 1
	local cli="build/release/keel-cli -h 127.0.0.1 -p $((P + 1))" n
	for n in 1,2 2,3 3,1; do $cli shard add --nodes "$n" >/dev/null || return 1; done
	$cli reshard --slots 0-5460 --to 2 >/dev/null &&
		$cli reshard --slots 5461-8191 --to 3 >/dev/null &&
		$cli reshard --slots 8192-10922 --to 3 >/dev/null &&
		$cli reshard --slots 10923-16383 --to 4 >/dev/null
}

declare -A res
for shards in $([ "${BENCH_IDLE_ONLY:-0}" = 1 ] || echo 1 3 placed); do
	if [ "$shards" = placed ]; then
		placed || {
			echo "bench-shards: the placed shards could not be set up"
			exit 1
		}
	else
		start "$shards"
		lead=$(ready "$shards") || {
			echo "bench-shards: no leaders with $shards shards"
			exit 1
		}
	fi
	if [ "$shards" = 1 ]; then
		args="-h 127.0.0.$lead -p $((P + lead))"
	else
		args="--cluster -h 127.0.0.1 -p $((P + 1))"
	fi
	for t in SET GET; do
		for pl in 16 1; do
			res[$shards,$t,$pl]=$(for _ in $(seq "$REPS"); do run "$args" "$t" "$pl"; done |
				median)
		done
	done
	stop_all
done
# A table of two of the runs above: ops/s and CPU a request of each,
# and their ratios (the second's over the first's).
compare() { # key1 label1 key2 label2
	printf "\n%-12s %14s %10s %14s %10s %8s %8s\n" "test" "$2 ops/s" "cpu us/req" \
		"$4 ops/s" "cpu us/req" "ops x" "cpu x"
	local t pl oa ca ob cb
	for t in SET GET; do
		for pl in 16 1; do
			read -r oa ca <<<"${res[$1,$t,$pl]}"
			read -r ob cb <<<"${res[$3,$t,$pl]}"
			printf "%-12s %14s %10s %14s %10s %8s %8s\n" "$t -P $pl" "$oa" "$ca" "$ob" \
				"$cb" "$(awk -v a="$ob" -v b="$oa" 'BEGIN {printf "%.2f", a / b}')" \
				"$(awk -v a="$cb" -v b="$ca" 'BEGIN {printf "%.2f", b ? a / b : 0}')"
		done
	done
}
if [ "${BENCH_IDLE_ONLY:-0}" != 1 ]; then
	compare 1 "1 shard" 3 "3 shards"
	compare 3 "3 shards" placed "placed"
fi

if [ "${BENCH_IDLE_ONLY:-0}" != 1 ]; then
# Migration speed: 3 shards, shard 0's slots (0-5460) filled with
# MOVE_KEYS keys of 100 bytes, then moved to shard 1 (keel-cli reshard)
# with nothing else running: keys/s and MB/s of the copy as the driver
# logs it (keys, bytes of records, ms from the move's start to its flip),
# beside the same bytes copied over a loopback TCP connection (one
# process, 256 KiB writes).
MOVE_KEYS=${BENCH_MOVE_KEYS:-300000}
start 3
lead=$(ready 3) || {
	echo "bench-shards: no leaders for the migration test"
	exit 1
}
redis-benchmark --cluster -h 127.0.0.1 -p $((P + 1)) -t set -n $((MOVE_KEYS * 3)) \
	-r $((MOVE_KEYS * 3)) -d 100 -P 16 -c 50 -q >/dev/null 2>&1
build/release/keel-cli -h 127.0.0.1 -p $((P + 1)) reshard --slots 0-5460 --to 1 >/dev/null
line=$(grep -h "slots 0-5460 moved" "$work"/[123].log | tail -1)
keys=$(echo "$line" | sed -E 's/.*: ([0-9]+) keys.*/\1/')
bytes=$(echo "$line" | sed -E 's/.* ([0-9]+) bytes.*/\1/')
ms=$(echo "$line" | sed -E 's/.* in ([0-9]+) ms.*/\1/')
loop=$(python3 - "$bytes" <<'PY'
import socket, sys, threading, time
n = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
def sink():
    c, _ = srv.accept()
    got = 0
    while got < n:
        b = c.recv(1 << 18)
        if not b:
            break
        got += len(b)
    c.close()
t = threading.Thread(target=sink)
t.start()
s = socket.create_connection(srv.getsockname())
buf = b"x" * (1 << 18)
t0 = time.time()
left = n
while left > 0:
    left -= s.send(buf[:min(left, len(buf))])
s.close()
t.join()
print(f"{n / (time.time() - t0) / 1e6:.1f}")
PY
)
echo "migration of slots 0-5460 (shard 0 to 1): $keys keys, $bytes bytes in $ms ms:" \
	"$(awk -v k="$keys" -v ms="$ms" 'BEGIN {printf "%.0f", k * 1000 / ms}') keys/s," \
	"$(awk -v b="$bytes" -v ms="$ms" 'BEGIN {printf "%.1f", b / ms / 1000}') MB/s;" \
	"a loopback TCP copy of the same bytes: $loop MB/s"
stop_all
fi

# Idle groups: nothing is sent; the node's CPU over 20 s and its memory.
# Each group's log preallocates a segment (--segment-mb, 64 by default):
# 1 MiB here, or 1000 groups would ask 64 GB of disk a node.
start "$IDLE" --segment-mb 1
ready "$IDLE" >/dev/null || echo "bench-shards: not every one of $IDLE groups has a leader yet"
# Then until every group of every node is quiet (INFO shards' quiet=1:
# docs/shards.md, "Idle groups"; the leaders spread first), at most 30 s.
quiet_wait=0
for _ in $(seq 300); do
	busy=0
	for i in 1 2 3; do
		busy=$((busy + $(redis-cli -h "127.0.0.$i" -p $((P + i)) info shards 2>/dev/null |
			grep -c "quiet=0")))
	done
	[ "$busy" = 0 ] && break
	sleep 0.1
	quiet_wait=$((quiet_wait + 1))
done
[ "$busy" = 0 ] || echo "bench-shards: $busy groups still not quiet after 30 s"
echo "idle groups: every group quiet $((quiet_wait / 10)) s after every group had a leader"
t0=$(awk '{print $14 + $15}' "/proc/${pids[0]}/stat")
n0=()
for p in "${pids[@]}"; do n0+=("$(awk '{print $14 + $15}' "/proc/$p/stat")"); done
sleep 20
t1=$(awk '{print $14 + $15}' "/proc/${pids[0]}/stat")
each=""
for i in 0 1 2; do
	d=$(($(awk '{print $14 + $15}' "/proc/${pids[$i]}/stat") - n0[i]))
	each="$each node $((i + 1)) $(awk -v d="$d" -v hz="$hz" 'BEGIN {printf "%.1f", 100 * d / hz / 20}') %"
done
echo "idle groups, each node's share of one core over 20 s:$each"
rss=$(awk '/VmRSS/ {print $2}' "/proc/${pids[0]}/status")
echo "$IDLE idle groups a node: node 1 used $(awk -v d=$((t1 - t0)) -v hz="$hz" \
	'BEGIN {printf "%.1f", 100 * d / hz / 20}') % of one core over 20 s, RSS ${rss} kB" \
	"($(awk -v r="$rss" -v n="$IDLE" 'BEGIN {printf "%.0f", r / n}') kB a group)"
stop_all
