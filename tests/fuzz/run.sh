#!/usr/bin/env bash
# tests/fuzz/run.sh — runs the libFuzzer harnesses of build/fuzz/.
#   run.sh           (make test) each fuzzer over its seed corpus
#                    (tests/fuzz/corpus/<name>/) then a burst of a fixed
#                    number of runs from a fixed seed (-seed=1; not quite
#                    the same run each time: a failure replays from the
#                    input it saves); prints
#                    `fuzz: N passed, M failed` (one per fuzzer)
#   run.sh long      (make fuzz) each fuzzer for FUZZ_SECONDS (default 60)
# FUZZ_NAMES (default: every fuzzer, the longest first) picks which run,
# by name (kv wal ...); they run side by side, one a core.
# New inputs go to build/fuzz/scratch/<name>/, never into the tree; a crash
# is saved as build/fuzz/crashes/<name>-crash-<sha1> (replay it with
# build/fuzz/fuzz_<name> <file>). Each fuzzer uses its dictionary
# tests/fuzz/<name>.dict.
set -uo pipefail
cd "$(dirname "$0")/../.."

mode=${1:-test}
seconds=${FUZZ_SECONDS:-60}
# Runs of the make-test burst, per fuzzer: a few seconds each, but kv's
# and cluster's (a request through the command table and the slot map:
# a minute or two under ASan's coverage counters).
declare -A runs=(
	[resp]=100000 [frame]=300000 [raft]=500000 [replica]=30000 [snapshot]=10000
	[entry]=500000 [config]=3000 [wal]=15000 [kv]=60000 [poison]=200000 [cluster]=150000 [migrate]=200000 [journal]=200000 [fanout]=200000
)
read -r -a names <<<"${FUZZ_NAMES:-kv cluster resp frame raft replica snapshot entry config wal poison migrate journal fanout}"

# One fuzzer: runs it and writes its result line to build/fuzz/<name>.result.
one() {
	local name=$1
	local bin=build/fuzz/fuzz_$name
	local scratch=build/fuzz/scratch/$name
	rm -rf "$scratch"
	mkdir -p "$scratch"
	local args=(-dict="tests/fuzz/$name.dict" -artifact_prefix="build/fuzz/crashes/$name-"
		-max_len=4096 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1)
	if [ "$mode" = long ]; then
		args+=(-max_total_time="$seconds")
	else
		args+=(-seed=1 -runs="${runs[$name]}")
	fi
	local log=build/fuzz/$name.log start rc took stats cov
	start=$(date +%s)
	"$bin" "${args[@]}" "$scratch" "tests/fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	took=$(($(date +%s) - start))
	stats=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
	cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 |
		sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [0-9]+\/[0-9]+[a-zA-Z]*).*/\1/')
	if [ "$rc" -eq 0 ]; then
		echo "fuzz_$name: ok, ${stats:-?} runs in ${took}s, $cov"
	else
		echo "fuzz_$name: FAILED (exit $rc, log $log)"
		grep -E 'ERROR|runtime error|property failed|Test unit written' "$log" | head -5
	fi >"build/fuzz/$name.result"
	return "$rc"
}

# The fuzzers run side by side, one a core (each is one process and
# draws its inputs from its own fixed seed, so a run is the same either
# way); the results are printed in the order of the names.
jobs_max=$(nproc 2>/dev/null || echo 2)
pass=0
fail=0
mkdir -p build/fuzz/crashes
declare -A pid_of=()
for name in "${names[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
		wait -n
	done
	rm -f "build/fuzz/$name.result"
	one "$name" &
	pid_of[$name]=$!
done
for name in "${names[@]}"; do
	if wait "${pid_of[$name]}"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
	fi
	cat "build/fuzz/$name.result" 2>/dev/null || echo "fuzz_$name: FAILED (no result)"
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
