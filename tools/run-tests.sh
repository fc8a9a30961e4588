#!/usr/bin/env bash
# tools/run-tests.sh — what `make test` runs after building build/asan:
# the tidy check, the self-tests of the spec file checker, of the mutant
# generator and of the simulated world and libuv (tests/nsim/selftest.c),
# every unit suite, the storage fault suite (real system
# faults on the real binary paths), the fuzzers (tests/fuzz/: corpus and a
# fixed-seed burst each), the differential test, the cluster,
# pipeline (random pipelines against redis-server's answers, plain and
# through leader kills), connection (COMMAND, CLIENT and HELLO against
# redis-server), operations, edges (huge requests and replies, forged peer
# frames), read-replica, Sentinel, shards, read replicas of shards, client-library
# (tests/clients/) and nemesis suites on real processes (and the nemesis suite
# against a deliberately broken build, which it must catch), the scenario
# scripts, 1000 seeds of the Raft core's simulator and 1000 of the whole
# node's (tests/nsim/). Each suite prints `<suite>: N passed, M failed`
# (shown with the seconds it took); a suite that
# crashes or exits non-zero without that line counts as one failure. Ends
# with the total `N passed, M failed` and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

logs=build/test-logs
rm -rf "$logs"
mkdir -p "$logs"
total_pass=0
total_fail=0

# Runs one suite: name, then the command. Adds its counts to the totals.
suite() {
	local name=$1
	shift
	local log="$logs/$name.log" t0=$SECONDS
	"$@" >"$log" 2>&1
	local rc=$? took=$((SECONDS - t0))
	local line
	line=$(grep -E '^[A-Za-z0-9_./-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	if [ -z "$line" ]; then
		echo "$name: exited $rc without a summary (log: $log)"
		tail -30 "$log"
		total_fail=$((total_fail + 1))
		return
	fi
	local p f
	p=$(echo "$line" | sed -E 's/^[^:]+: ([0-9]+) passed, ([0-9]+) failed.*/\1/')
	f=$(echo "$line" | sed -E 's/^[^:]+: ([0-9]+) passed, ([0-9]+) failed.*/\2/')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		line="$line (but exited $rc)"
	fi
	echo "$line (${took} s)"
	if [ "$f" -ne 0 ]; then
		grep -E 'FAIL|failed|mismatch|violation|error' "$log" | head -30
		echo "  (log: $log)"
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
}

suite tidy python3 tools/tidy.py
suite gen_commands python3 tools/gen_commands.py --self-test
suite mutagen python3 tools/mutagen.py --self-test
suite patches tools/mutants.sh --check
suite equivalents python3 tools/mutagen.py --stale
suite nsim-selftest build/asan/nsim-selftest
for t in build/asan/unit/test_*; do
	[ -x "$t" ] || continue
	suite "$(basename "$t")" "$t"
done
suite faults tests/faults/run.sh build/asan
suite diff tests/diff/run.sh build/asan
suite fuzz tests/fuzz/run.sh
suite cluster /usr/bin/python3 tests/cluster/cluster_test.py build/asan
suite order /usr/bin/python3 tests/cluster/order_test.py build/asan
suite poison /usr/bin/python3 tests/cluster/poison_test.py build/asan
suite pipeline /usr/bin/python3 tests/cluster/pipeline_test.py build/asan --time 30 \
	--nemesis --nemesis-time 20
suite connection /usr/bin/python3 tests/cluster/connection_test.py build/asan
suite ops /usr/bin/python3 tests/cluster/ops_test.py build/asan
suite edges /usr/bin/python3 tests/cluster/edges_test.py build/asan
suite replica /usr/bin/python3 tests/cluster/replica_test.py build/asan
suite sentinel /usr/bin/python3 tests/cluster/sentinel_test.py build/asan
suite cluster-proto /usr/bin/python3 tests/cluster/cluster_proto_test.py build/asan
suite shards /usr/bin/python3 tests/cluster/shards_test.py build/asan
suite shard-replica /usr/bin/python3 tests/cluster/shard_replica_test.py build/asan
suite shard-members /usr/bin/python3 tests/cluster/shard_members_test.py build/asan
suite clients /usr/bin/python3 tests/clients/run.py build/asan
suite nemesis /usr/bin/python3 tests/cluster/nemesis_test.py build/asan --time 45
suite teeth env TEETH_TIME=45 tools/faults.sh teeth
if [ -d tests/sim/scenarios ]; then
	suite scenario build/asan/scenario tests/sim/scenarios
fi
suite sim tools/sim-seeds.sh build/asan/sim "${TEST_SEEDS:-1000}" 1 "$logs/sim"
suite nsim-scenario build/asan/nsim --scenarios
suite nsim tools/sim-seeds.sh build/asan/nsim "${TEST_NSIM_SEEDS:-1000}" 1 "$logs/nsim"
suite nsim-sharded env SIM_ARGS=--sharded tools/sim-seeds.sh build/asan/nsim \
	"${TEST_NSIM_SHARDED_SEEDS:-100}" 1 "$logs/nsim-sharded"

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
