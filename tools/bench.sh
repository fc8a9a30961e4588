#!/usr/bin/env bash
# tools/bench.sh — `make bench`: keel against real peers on this machine, in
# one run. Starts (on loopback, stopped by pid at the end): a 3-node keel
# cluster; a redis-server with appendonly yes, appendfsync always; a
# redis-server with two replicas (each SET followed by WAIT 1 0, driven by
# tools/loadgen); a 3-member etcd cluster (puts through its v3 HTTP gateway,
# driven by tools/loadgen). Runs redis-benchmark -t set,get -c 50 -n N
# -r 100000 -d 64 at -P 1 and -P 16, and -c 1; and SET k v / GET k pairs,
# 16 commands in flight per client (tools/loadgen set-get: redis-benchmark
# runs one command per test), against keel's leader and durable Redis.
# Prints ops/s, p50, p99 and the ratios. Each test runs REPS times (default 3) and the run with
# the median ops/s is the one shown: on a small machine one run can be
# 30 % off another. Usage: bench.sh [N] [REPS] (default 200000 3).
# BENCH_KEEL_DIR puts keel's data folders in BENCH_KEEL_DIR/keel-bench (a tmpfs, to see
# what the disk's syncs cost; the result is then not durable).
# BENCH_PORT (7400) places the client ports: keel BENCH_PORT+1..3 (peers
# BENCH_PEER_PORT+1..3, default BENCH_PORT+10000), durable Redis +11, Redis
# with replicas +21..23; etcd listens on BENCH_ETCD_PORT (24000) +11..13,
# peers +21..23.
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-${BENCH_N:-200000}}
REPS=${2:-${BENCH_REPS:-3}}
P=${BENCH_PORT:-7400}
PP=${BENCH_PEER_PORT:-$((P + 10000))}
E=${BENCH_ETCD_PORT:-24000}
rel=build/release
work=$PWD/build/bench
keel_dir=$work/keel
[ -z "${BENCH_KEEL_DIR:-}" ] || keel_dir=$BENCH_KEEL_DIR/keel-bench # only this folder is removed
rm -rf "$work" "$keel_dir"
mkdir -p "$work" "$keel_dir"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
}
trap 'cleanup; [ -z "${BENCH_KEEL_DIR:-}" ] || rm -rf "$keel_dir"' EXIT

wait_port() { # host port
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on $1:$2" >&2
	return 1
}

# keel
cluster="1@127.0.0.1:$((PP + 1)),2@127.0.0.2:$((PP + 2)),3@127.0.0.3:$((PP + 3))"
for i in 1 2 3; do
	"$rel/keel-server" --id "$i" --bind "127.0.0.$i" --port $((P + i)) --peer-port $((PP + i)) \
		--dir "$keel_dir/$i" --cluster "$cluster" >"$work/keel-$i.log" 2>&1 &
	pids+=($!)
done
for i in 1 2 3; do wait_port "127.0.0.$i" $((P + i)) || exit 1; done
leader=""
for _ in $(seq 100); do
	for i in 1 2 3; do
		if redis-cli -h "127.0.0.$i" -p $((P + i)) info raft 2>/dev/null | grep -q "raft_role:leader"; then
			leader=$i
		fi
	done
	[ -n "$leader" ] && break
	sleep 0.1
done
follower=$((leader % 3 + 1))

# redis, durable on its own disk
redis-server --bind 127.0.0.1 --port $((P + 11)) --appendonly yes --appendfsync always --save '' \
	--dir "$work" --appendfilename durable.aof --logfile "$work/redis-durable.log" &
pids+=($!)
# redis with two replicas (WAIT 1 0 after each SET)
redis-server --bind 127.0.0.1 --port $((P + 21)) --save '' --appendonly no --dir "$work" \
	--logfile "$work/redis-primary.log" &
pids+=($!)
for r in 2 3; do
	redis-server --bind "127.0.0.$r" --port $((P + 20 + r)) --save '' --appendonly no --dir "$work" \
		--replicaof 127.0.0.1 $((P + 21)) --logfile "$work/redis-replica-$r.log" &
	pids+=($!)
done
# etcd, three members
if command -v etcd >/dev/null; then
	ic="e1=http://127.0.0.1:$((E + 21)),e2=http://127.0.0.2:$((E + 22)),e3=http://127.0.0.3:$((E + 23))"
	for i in 1 2 3; do
		etcd --name "e$i" --data-dir "$work/etcd/$i" \
			--listen-client-urls "http://127.0.0.$i:$((E + 10 + i))" \
			--advertise-client-urls "http://127.0.0.$i:$((E + 10 + i))" \
			--listen-peer-urls "http://127.0.0.$i:$((E + 20 + i))" \
			--initial-advertise-peer-urls "http://127.0.0.$i:$((E + 20 + i))" \
			--initial-cluster "$ic" --initial-cluster-state new >"$work/etcd-$i.log" 2>&1 &
		pids+=($!)
	done
fi
wait_port 127.0.0.1 $((P + 11)) || exit 1
wait_port 127.0.0.1 $((P + 21)) || exit 1
sleep 2 # replicas sync, etcd elects

rows=()
# row NAME OPS/S P50 P99
row() { rows+=("$(printf '%-36s %10s %8s %8s' "$1" "$2" "$3" "$4")"); }

# median NAME: of the runs gathered in $runs ("ops p50 p99" lines), the
# one with the median ops/s becomes the row
median() {
	local pick
	pick=$(printf '%s\n' "${runs[@]}" | sort -n | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')
	# shellcheck disable=SC2086
	row "$1" $pick
	echo "$1: runs (ops/s p50 p99): $(printf '%s; ' "${runs[@]}")" >&2
}

# redis-benchmark, one test: name host port test extra-args...
rb() {
	local name=$1 host=$2 port=$3 test=$4
	shift 4
	runs=()
	for _ in $(seq "$REPS"); do
		local line rps p50 p99
		line=$(redis-benchmark -h "$host" -p "$port" -t "$test" -r 100000 -d 64 --csv "$@" 2>/dev/null |
			grep -i "^\"$test\"" | tail -1)
		# "SET","rps","avg","min","p50","p95","p99","max"
		rps=$(echo "$line" | cut -d, -f2 | tr -d '"')
		p50=$(echo "$line" | cut -d, -f5 | tr -d '"')
		p99=$(echo "$line" | cut -d, -f7 | tr -d '"')
		runs+=("${rps%.*} $p50 $p99")
	done
	median "$name"
}

# tools/loadgen, one test: name mode host port clients ops pipeline. In
# set-get mode, GETs that did not read the SET sent just before them on
# their connection become a note under the table.
notes=()
lg() {
	runs=()
	for _ in $(seq "$REPS"); do
		local out rps p50 p99 stale
		out=$("$rel/tools/loadgen" "$2" "$3" "$4" "$5" "$6" "$7" 64 100000 2>&1 | tail -1)
		rps=$(echo "$out" | sed -nE 's/.*ops\/s=([0-9]+).*/\1/p')
		p50=$(echo "$out" | sed -nE 's/.*p50_ms=([0-9.]+).*/\1/p')
		p99=$(echo "$out" | sed -nE 's/.*p99_ms=([0-9.]+).*/\1/p')
		stale=$(echo "$out" | sed -nE 's/.*stale_gets=([0-9]+).*/\1/p')
		runs+=("${rps:-0} ${p50:--} ${p99:--}")
		[ -z "$rps" ] && echo "$1: loadgen: $out" >&2
		if [ "${stale:-0}" -gt 0 ]; then
			notes+=("$1: $stale of $(($6 / 2)) GETs did not read the SET sent just before them")
		fi
	done
	median "$1"
}

kl="127.0.0.$leader"
kf="127.0.0.$follower"
for t in set get; do
	T=$(echo "$t" | tr a-z A-Z)
	rb "keel leader $T -P1" "$kl" $((P + leader)) "$t" -c 50 -n "$N"
	rb "keel leader $T -P16" "$kl" $((P + leader)) "$t" -c 50 -n "$N" -P 16
	rb "keel follower $T -P1" "$kf" $((P + follower)) "$t" -c 50 -n "$N"
	rb "redis durable $T -P1" 127.0.0.1 $((P + 11)) "$t" -c 50 -n "$N"
	rb "redis durable $T -P16" 127.0.0.1 $((P + 11)) "$t" -c 50 -n "$N" -P 16
done
lg "keel leader SET+GET pipelined -P16" set-get "$kl" $((P + leader)) 50 "$N" 16
lg "redis durable SET+GET pipelined -P16" set-get 127.0.0.1 $((P + 11)) 50 "$N" 16
rb "keel leader SET -c1" "$kl" $((P + leader)) set -c 1 -n $((N / 10))
rb "redis durable SET -c1" 127.0.0.1 $((P + 11)) set -c 1 -n $((N / 10))
lg "redis WAIT 1 SET -P1" set-wait 127.0.0.1 $((P + 21)) 50 "$N" 1
lg "redis WAIT 1 SET -P16" set-wait 127.0.0.1 $((P + 21)) 50 "$N" 16
if command -v etcd >/dev/null; then
	lg "etcd put (HTTP gateway) -c50" etcd-put 127.0.0.1 $((E + 11)) 50 $((N / 10)) 1
fi

echo
echo "keel bench: $N requests per test, 64-byte values, 100000 keys; leader node $leader;" \
	"the median of $REPS runs"
printf '%-36s %10s %8s %8s\n' "target and test" "ops/s" "p50 ms" "p99 ms"
for r in "${rows[@]}"; do echo "$r"; done
for n in "${notes[@]}"; do echo "note: $n"; done
val() { printf '%s\n' "${rows[@]}" | grep -F "$1" | head -1 | awk '{print $(NF-2)}'; }
ratio() { awk -v a="$(val "$1")" -v b="$(val "$2")" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "ratios (keel / peer):"
echo "  SET -P1  vs durable redis:  $(ratio 'keel leader SET -P1' 'redis durable SET -P1')"
echo "  SET -P16 vs durable redis:  $(ratio 'keel leader SET -P16' 'redis durable SET -P16')"
echo "  SET -P1  vs redis WAIT 1:   $(ratio 'keel leader SET -P1' 'redis WAIT 1 SET -P1')"
echo "  SET -P16 vs redis WAIT 1:   $(ratio 'keel leader SET -P16' 'redis WAIT 1 SET -P16')"
echo "  SET -P1  vs etcd put:       $(ratio 'keel leader SET -P1' 'etcd put')"
echo "  GET -P1  vs durable redis:  $(ratio 'keel leader GET -P1' 'redis durable GET -P1')"
echo "  GET -P16 vs durable redis:  $(ratio 'keel leader GET -P16' 'redis durable GET -P16')"
echo "  SET+GET -P16 vs durable redis: $(ratio 'keel leader SET+GET pipelined -P16' \
	'redis durable SET+GET pipelined -P16')"
