#!/usr/bin/env bash
# tools/bench-shards.sh — `make bench-shards`: a 3-node keel of 3 shards
# (their leaders spread over the nodes) against a 3-node keel of one, on
# this machine, in one run. The one-shard cluster is driven by plain
# redis-benchmark at its leader (redis-benchmark --cluster needs two
# masters), the sharded one by redis-benchmark --cluster (each key to its
# shard's leader); both -t set,get -c 50 -d 64 -P 16 and -P 1 over the
# same KEYS distinct keys (-r KEYS for one shard; -r KEYS/3 for three:
# redis-benchmark --cluster draws -r keys for each master, in its slots),
# N requests a SET run and 5 N a GET run. Prints ops/s of each, and the
# CPU the three nodes spent per request (user + system time of the
# keel-server processes over the run, from /proc): what a request costs a
# sharded node against a one-shard node, whatever the machine's cores.
# Then the same for three shards each placed on two of the three nodes
# against three shards on every node (the CPU all nodes spend a request:
# each write applied on two nodes, not three). Then a node's own cost,
# apart from the load's spread: plain redis-benchmark with keys of one
# shard (one hash tag) at the one-shard cluster's leader, and at that
# shard's leader in the three-shard cluster. Then the one-shard cluster
# against the three-shard one driven with 150 clients (-c 150: 50 at each
# shard's leader, as the one-shard leader has 50): the load of a group
# the same on each side, where with 50 over three each leader batches a
# third as many requests a pass. The three clusters run side
# by side and their runs alternate, REPS times (default 3): the median
# figures are shown, and the median, smallest and largest ratio of runs
# next to each other. Then the speed of moving a range of slots
# (BENCH_MOVE_KEYS keys of 100 bytes, default 300000) beside a loopback
# copy of the same bytes. Then 3 nodes of IDLE groups each (default 1000,
# with 1 MiB log segments), once every group has a leader and is quiet
# (docs/shards.md), idle for 20 s: the CPU of one node as a share of one
# core, and its memory (RSS) per group.
# Usage: bench-shards.sh [N] [REPS] [IDLE]. BENCH_KEYS (100000) keys;
# BENCH_PORT (7600) places the client ports: BENCH_PORT+1..9 (three a
# cluster), BENCH_PEER_PORT (BENCH_PORT+10000) the peer ports: +1..9.
# BENCH_IDLE_ONLY=1 runs only the idle groups' part.
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

# Starts three nodes of `shards` shards, the nth cluster started (from 0):
# client ports P+3n+1..3, peer ports PP+3n+1..3; their pids in
# cpids[n] (every node started is in pids, for stop_all).
declare -a cpids
start() { # n shards [more arguments]
	local n=$1 shards=$2 b=$((3 * $1)) i
	shift 2
	local cluster="1@127.0.0.1:$((PP + b + 1)),2@127.0.0.2:$((PP + b + 2)),3@127.0.0.3:$((PP + b + 3))"
	rm -rf "$work/data$n"
	cpids[n]=""
	for i in 1 2 3; do
		"$bin" --id "$i" --bind "127.0.0.$i" --port $((P + b + i)) \
			--peer-port $((PP + b + i)) --dir "$work/data$n/$i" --cluster "$cluster" \
			--shards "$shards" "$@" >>"$work/$n.$i.log" 2>&1 &
		pids+=($!)
		cpids[n]="${cpids[n]} $!"
	done
}

# Waits until every shard of node 1's view (cluster n) has a leader,
# spread over the nodes when there are as many shards as nodes; prints
# the first leader.
ready() { # n shards
	local port=$((P + 3 * $1 + 1))
	for _ in $(seq $((300 + $2))); do
		local info leaders
		info=$(redis-cli -h 127.0.0.1 -p "$port" info shards 2>/dev/null | tr -d '\r' |
			grep "^shard") # the shards' lines (not the metadata group's)
		leaders=$(echo "$info" | grep -o "leader=[0-9]*" | grep -v "leader=0" | sort -u)
		if [ "$(echo "$info" | grep -c "leader=[1-9]")" = "$2" ] &&
			{ [ "$2" != 3 ] || [ "$(echo "$leaders" | wc -l)" = 3 ]; }; then
			echo "$leaders" | head -1 | cut -d= -f2
			return 0
		fi
		sleep 0.1
	done
	return 1
}

cpu_ticks() { # pids: their user + system ticks (threads gone included)
	local t=0 p
	for p in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t"
}

# One redis-benchmark run of run kind n: "ops cpu_us_per_request" of test
# $3 (SET|GET), pipeline $4, $5 requests, over its keys (range[n]), the
# CPU of cluster of[n]'s nodes; a kind with a key[n] sends that key
# (redis-benchmark's __rand_int__ in it) with a 64-byte value, else -t.
run() { # n args test pipeline requests
	local before after out ops c=${of[$1]} what
	if [ -n "${key[$1]:-}" ]; then
		what="$3 ${key[$1]}"
		[ "$3" = SET ] && what="$what $(printf 'v%.0s' $(seq 64))"
	else
		what="-t $3 -d 64"
	fi
	# shellcheck disable=SC2086 # the pids are words
	before=$(cpu_ticks ${cpids[$c]})
	# shellcheck disable=SC2086 # so are the arguments
	out=$(redis-benchmark $2 -n "$5" -c "${clients[$1]:-50}" -r "${range[$1]}" -P "$4" -q $what 2>&1 |
		tr '\r' '\n' | grep "requests per second" | tail -1)
	# shellcheck disable=SC2086
	after=$(cpu_ticks ${cpids[$c]})
	ops=$(echo "$out" | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
	echo "$ops $(awk -v d=$((after - before)) -v hz="$hz" -v n="$5" \
		'BEGIN {printf "%.2f", d * 1e6 / hz / n}')"
}

median() { # numbers, one a line: the median
	sort -g | awk '{a[NR]=$0} END {print a[int((NR + 1) / 2)]}'
}

# Three shards each placed on two of the nodes (docs/shards.md, "A shard
# on some of the nodes"), cluster n: two shards on every node to start,
# then shards 2, 3 and 4 added on nodes 1,2 / 2,3 / 3,1 and given every
# slot.
placed() { # n
	start "$1" 2
	ready "$1" 2 >/dev/null || return 1
	local cli="build/release/keel-cli -h 127.0.0.1 -p $((P + 3 * $1 + 1))" n
	for n in 1,2 2,3 3,1; do $cli shard add --nodes "$n" >/dev/null || return 1; done
	$cli reshard --slots 0-5460 --to 2 >/dev/null &&
		$cli reshard --slots 5461-8191 --to 3 >/dev/null &&
		$cli reshard --slots 8192-10922 --to 3 >/dev/null &&
		$cli reshard --slots 10923-16383 --to 4 >/dev/null
}

# The three clusters run side by side (an idle one goes quiet: "Idle
# groups" below) and their runs alternate, one of each in turn, so that
# the machine's other load, which drifts over minutes, falls on each
# alike; each ratio is of two runs next to each other, and the median of
# REPS is shown with the smallest and largest. Every key is written
# before (-n 8 times KEYS: all but about 0.03 % of them): a run measures
# a steady keyspace, not its tables growing (a shard's third of 100000
# keys is just past a table size, 32768, that a run would cross). GET
# runs make GET_N (5 N) requests: a read costs a third of a write, and
# the CPU is counted in clock ticks.
KEYS=${BENCH_KEYS:-100000}
GET_N=$((5 * N))
declare -A res args range of key clients
# the same keys on each side: redis-benchmark --cluster draws -r keys for
# each master (a hash tag of its slots in every key), so the sharded
# clusters' three masters get a third each; with -r KEYS each, they held
# three times the keys, and measured a larger keyspace's cache misses
range[0]=$KEYS
range[1]=$((KEYS / 3))
range[2]=$((KEYS / 3))
of[0]=0 of[1]=1 of[2]=2
# kinds 3 and 4: a node's own cost, apart from the load's spread over
# three nodes (a third of the clients each, on this machine's cores):
# plain redis-benchmark with KEYS keys of one hash tag, in shard 1's
# slots, at the one-shard cluster's leader (3) and at shard 1's leader of
# the three-shard cluster (4), which serves them itself
range[3]=$KEYS range[4]=$KEYS of[3]=0 of[4]=1
# kind 5: the three-shard cluster again, with as many clients at each
# shard's leader as the one-shard leader has (150 over three masters, 50
# each): the load of one group, per group (with 50 over three, each
# leader batches a third as many requests a pass as the one-shard one)
range[5]=$((KEYS / 3)) of[5]=1 clients[5]=150
if [ "${BENCH_IDLE_ONLY:-0}" != 1 ]; then
	start 0 1
	start 1 3
	lead=$(ready 0 1) && ready 1 3 >/dev/null && placed 2 || {
		echo "bench-shards: the clusters found no leaders"
		exit 1
	}
	args[0]="-h 127.0.0.$lead -p $((P + lead))"
	args[1]="--cluster -h 127.0.0.1 -p $((P + 4))"
	args[2]="--cluster -h 127.0.0.1 -p $((P + 7))"
	args[3]=${args[0]}
	args[5]=${args[1]}
	lead1=$(redis-cli -h 127.0.0.1 -p $((P + 4)) info shards | tr -d '\r' |
		grep "^shard1:" | grep -o "leader=[0-9]*" | cut -d= -f2)
	args[4]="-h 127.0.0.$lead1 -p $((P + 3 + lead1))"
	for tag in $(seq 100 999); do
		slot=$(redis-cli -h 127.0.0.1 -p $((P + 4)) cluster keyslot "$tag")
		[ "$slot" -ge 5461 ] && [ "$slot" -le 10922 ] && break
	done
	key[3]="key:{$tag}:__rand_int__" key[4]=${key[3]}
	for c in 0 1 2 3 4 5; do
		run "$c" "${args[$c]}" SET 16 $((8 * KEYS)) >/dev/null
	done
	for rep in $(seq "$REPS"); do
		for t in SET GET; do
			for pl in 16 1; do
				n=$N
				[ "$t" = GET ] && n=$GET_N
				for c in 0 1 2 3 4 5; do
					res[$c,$t,$pl,$rep]=$(run "$c" "${args[$c]}" "$t" "$pl" "$n")
				done
			done
		done
	done
	stop_all
fi

# A table of two of the clusters' runs: the median ops/s and CPU a
# request of each, and the median (smallest-largest) of the ratios of
# runs next to each other (the second's over the first's).
compare() { # c1 label1 c2 label2
	printf "\n%-10s %13s %10s %13s %10s %17s %17s\n" "test" "$2 ops/s" "cpu us/req" \
		"$4 ops/s" "cpu us/req" "ops x" "cpu x"
	local t pl rep oa ca ob cb
	for t in SET GET; do
		for pl in 16 1; do
			local a="" b="" ro="" rc=""
			for rep in $(seq "$REPS"); do
				read -r oa ca <<<"${res[$1,$t,$pl,$rep]}"
				read -r ob cb <<<"${res[$3,$t,$pl,$rep]}"
				a="$a$oa $ca"$'\n'
				b="$b$ob $cb"$'\n'
				ro="$ro$(awk -v a="$ob" -v b="$oa" 'BEGIN {printf "%.2f", b ? a / b : 0}')"$'\n'
				rc="$rc$(awk -v a="$cb" -v b="$ca" 'BEGIN {printf "%.2f", b ? a / b : 0}')"$'\n'
			done
			printf "%-10s %13s %10s %13s %10s %17s %17s\n" "$t -P $pl" \
				"$(echo -n "$a" | cut -d' ' -f1 | median)" \
				"$(echo -n "$a" | cut -d' ' -f2 | median)" \
				"$(echo -n "$b" | cut -d' ' -f1 | median)" \
				"$(echo -n "$b" | cut -d' ' -f2 | median)" \
				"$(echo -n "$ro" | median) ($(echo -n "$ro" | sort -g | head -1)-$(echo -n "$ro" | sort -g | tail -1))" \
				"$(echo -n "$rc" | median) ($(echo -n "$rc" | sort -g | head -1)-$(echo -n "$rc" | sort -g | tail -1))"
		done
	done
}
if [ "${BENCH_IDLE_ONLY:-0}" != 1 ]; then
	compare 0 "1 shard" 1 "3 shards"
	compare 1 "3 shards" 2 "placed"
	compare 3 "1 shard" 4 "shard of 3"
	compare 0 "1 shard" 5 "3 sh c150"
fi

if [ "${BENCH_IDLE_ONLY:-0}" != 1 ]; then
# Migration speed: 3 shards, shard 0's slots (0-5460) filled with
# MOVE_KEYS keys of 100 bytes (written by plain redis-benchmark through
# node 1, so that they spread over the slots: redis-benchmark --cluster
# puts every key of a master in one slot, its hash tag's, which moves as
# one piece), then moved to shard 1 (keel-cli reshard)
# with nothing else running: keys/s and MB/s of the move (keys and bytes
# of records as the driver logs each piece, the time keel-cli reshard
# takes, to 100 ms), the pieces and the longest of them (a piece's slots
# are frozen for at most that long),
# beside the same bytes copied over a loopback TCP connection (one
# process, 256 KiB writes).
MOVE_KEYS=${BENCH_MOVE_KEYS:-300000}
start 0 3
lead=$(ready 0 3) || {
	echo "bench-shards: no leaders for the migration test"
	exit 1
}
redis-benchmark -h 127.0.0.1 -p $((P + 1)) -t set -n $((MOVE_KEYS * 3)) \
	-r $((MOVE_KEYS * 3)) -d 100 -P 16 -c 50 -q >/dev/null 2>&1
t0=$(date +%s%N)
build/release/keel-cli -h 127.0.0.1 -p $((P + 1)) reshard --slots 0-5460 --to 1 >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
# the move goes in pieces (--reshard-piece-kb), a line each
pieces=$(grep -h "moved from shard 0 to shard 1:" "$work"/0.[123].log)
sum() { echo "$pieces" | sed -E "s/$1/\\1/" | awk '{ s += $1; m = $1 > m ? $1 : m } END { print s, m }'; }
read -r keys _ <<<"$(sum '.*: ([0-9]+) keys.*')"
read -r bytes _ <<<"$(sum '.* ([0-9]+) bytes.*')"
read -r _ longest <<<"$(sum '.* in ([0-9]+) ms.*')"
n_pieces=$(echo "$pieces" | grep -c .)
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
echo "migration of slots 0-5460 (shard 0 to 1): $keys keys, $bytes bytes in $ms ms," \
	"$n_pieces pieces, the longest $longest ms:" \
	"$(awk -v k="$keys" -v ms="$ms" 'BEGIN {printf "%.0f", k * 1000 / ms}') keys/s," \
	"$(awk -v b="$bytes" -v ms="$ms" 'BEGIN {printf "%.1f", b / ms / 1000}') MB/s;" \
	"a loopback TCP copy of the same bytes: $loop MB/s"
stop_all
fi

# Idle groups: nothing is sent; the node's CPU over 20 s and its memory.
# Each group's log is preallocated 1 MiB at a time (docs/storage-format.md):
# 1000 groups take about 1 GB of disk a node; segments of 1 MiB here.
start 0 "$IDLE" --segment-mb 1
ready 0 "$IDLE" >/dev/null || echo "bench-shards: not every one of $IDLE groups has a leader yet"
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
