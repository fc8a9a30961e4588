#!/usr/bin/env bash
# tools/sim-seeds.sh — runs a simulator (the Raft core's, build/*/sim, or
# the whole node's, build/*/nsim) over a range of seeds on every core (the
# seeds are split into one contiguous range per process) and prints one
# line `<name>: P passed, F failed` for the whole range, the name being
# the binary's (sim, nsim).
#
#   tools/sim-seeds.sh SIM_BINARY SEEDS FIRST_SEED [LOG_DIR]
#   SIM_ARGS="--sharded"   more arguments for each run (nsim's)
set -uo pipefail

bin=$1
seeds=$2
first=$3
logdir=${4:-$(mktemp -d /tmp/keel-sim.XXXXXX)}
name=$(basename "$bin")
mkdir -p "$logdir"
procs=$(nproc 2>/dev/null || echo 2)
[ "$procs" -gt "$seeds" ] && procs=$seeds
[ "$procs" -lt 1 ] && procs=1

start=$(date +%s)
pids=()
per=$(((seeds + procs - 1) / procs))
for ((i = 0; i < procs; i++)); do
	lo=$((first + i * per))
	n=$per
	left=$((first + seeds - lo))
	[ "$n" -gt "$left" ] && n=$left
	[ "$n" -le 0 ] && break
	# shellcheck disable=SC2086 # SIM_ARGS: words
	"$bin" --seeds "$n" --first "$lo" ${SIM_ARGS:-} >"$logdir/$name.$i.log" 2>&1 &
	pids+=($!)
done

passed=0
failed=0
for i in "${!pids[@]}"; do
	wait "${pids[$i]}"
	rc=$?
	line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "$logdir/$name.$i.log" | tail -1)
	if [ -z "$line" ]; then
		echo "sim process $i exited $rc without a summary:"
		tail -20 "$logdir/$name.$i.log"
		failed=$((failed + 1))
		continue
	fi
	p=$(echo "$line" | sed -E "s/^$name: ([0-9]+) passed, ([0-9]+) failed.*/\\1/")
	f=$(echo "$line" | sed -E "s/^$name: ([0-9]+) passed, ([0-9]+) failed.*/\\2/")
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && failed=$((failed + 1))
	grep -E '^seed [0-9]+: |died' "$logdir/$name.$i.log" | head -20
done
echo "$name: $passed passed, $failed failed ($(($(date +%s) - start))s, seeds $first..$((first + seeds - 1)))"
[ "$failed" -eq 0 ]
