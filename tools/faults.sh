#!/usr/bin/env bash
# tools/faults.sh — the fault-injection suite's two runs beside the short
# one in `make test` (tests/cluster/nemesis_test.py):
#
#   tools/faults.sh teeth           the suites against a build with a
#                                   deliberate bug (each patch in
#                                   tests/cluster/mutants/; replica_*: the
#                                   replica suite, order_*: the order
#                                   suite's write sent twice, orderread_*:
#                                   its pipelines on every node, the others:
#                                   the nemesis suite): it must report the
#                                   violation.
#                                   Prints `teeth: N passed, M failed`
#                                   (passed: the bug was caught).
#   tools/faults.sh all SECONDS     every nemesis together for SECONDS.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

VIOLATION="NOT linearizable|acknowledged writes lost|half applied|differs from the leader|went from|replica [0-9]+ stopped|answered as not applied was applied|answered unlike one at a time"

# Runs the suite that must catch the mutant name against build.
hunt() {
	case $1 in
	replica_*)
		/usr/bin/python3 tests/cluster/replica_test.py "$2" \
			source_killed_mid_catchup_and_mid_stream 2>&1
		;;
	order_*)
		/usr/bin/python3 tests/cluster/order_test.py "$2" \
			a_write_sent_twice_is_never_answered_not_applied 2>&1
		;;
	orderread_*)
		/usr/bin/python3 tests/cluster/order_test.py "$2" \
			pipelined_reads_see_the_writes_before_them_on_every_node 2>&1
		;;
	*) /usr/bin/python3 tests/cluster/nemesis_test.py "$2" --time "${TEETH_TIME:-60}" \
		isolated_follower 2>&1 ;;
	esac
}

teeth() {
	local pass=0 fail=0
	for patch in tests/cluster/mutants/*.patch; do
		local name work
		name=$(basename "$patch" .patch)
		work=$(mktemp -d /tmp/keel-teeth.XXXXXX)
		# the tree with its times, and build/ as built: make then
		# compiles only what the patch changes
		git ls-files -z --cached --others --exclude-standard |
			xargs -0 cp -p --parents -t "$work"
		mkdir -p "$work/build"
		for b in asan gen .deps-ok; do
			[ -e "build/$b" ] && cp -a "build/$b" "$work/build/"
		done
		if ! (cd "$work" && patch -s -p1 <"$top/$patch") ||
			! make -C "$work" -j2 build/asan/keel-server build/asan/keel-cli \
				build/asan/tools/lincheck >"$work/build.log" 2>&1; then
			echo "FAIL $name: the mutated tree does not build"
			tail -5 "$work/build.log"
			fail=$((fail + 1))
			rm -rf "$work"
			continue
		fi
		local out
		out=$(hunt "$name" "$work/build/asan")
		if echo "$out" | grep -qE "$VIOLATION"; then
			echo "ok   $name: caught: $(echo "$out" | grep -oE "($VIOLATION)[^;]*" | head -1 |
				cut -c1-200)"
			pass=$((pass + 1))
		else
			echo "FAIL $name: the suite did not see the bug"
			echo "$out" | tail -5
			fail=$((fail + 1))
		fi
		rm -rf "$work"
	done
	echo "teeth: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}

case "${1:-}" in
teeth) teeth ;;
all) /usr/bin/python3 tests/cluster/nemesis_test.py build/asan --time "${2:-600}" all ;;
*)
	echo "usage: tools/faults.sh teeth | all SECONDS" >&2
	exit 2
	;;
esac
