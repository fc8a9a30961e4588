#!/usr/bin/env bash
# tools/mutants.sh — proves the tests have teeth: applies each deliberate bug
# in tests/mutants/*.patch to a copy of the tree, builds it, and runs the
# storage suite, the fault suite, the scenario scripts and the simulator
# against it. A mutant is caught when a
# suite fails (or the build's own assertions fire, or a suite hangs past its
# time limit). Prints `caught K of N`
# and exits non-zero unless every mutant is caught.
#
#   tools/mutants.sh [PATCH...]      (default: every patch)
#   tools/mutants.sh --check         only that every deliberate bug, here, in
#                                    tests/cluster/mutants/ and tests/nsim/mutants/,
#                                    still applies to
#                                    the source (make test runs this)
#   MUTANT_SEEDS=n                   simulator seeds per mutant (default 1000)
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

if [ "${1:-}" = --check ]; then
	ok=0 bad=0
	for p in "$top"/tests/mutants/*.patch "$top"/tests/cluster/mutants/*.patch \
		"$top"/tests/nsim/mutants/*.patch; do
		if git -C "$top" apply --check "$p" >/dev/null 2>&1; then
			ok=$((ok + 1))
		else
			echo "${p#"$top"/} no longer applies: make it again on today's source"
			bad=$((bad + 1))
		fi
	done
	echo "patches: $ok passed, $bad failed"
	[ "$bad" -eq 0 ]
	exit
fi
seeds=${MUTANT_SEEDS:-1000}
work=$(mktemp -d /tmp/keel-mutants.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [ $# -gt 0 ]; then
	patches=("$@")
else
	patches=("$top"/tests/mutants/*.patch)
fi

# The tree as committed plus local changes, without build products.
copy_tree() {
	local dst=$1
	mkdir -p "$dst"
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 cp --parents -t "$dst")
}

# Runs the suites of the mutated tree; returns 0 if the mutant was caught.
run_suites() {
	local dir=$1 log=$2
	if ! make -C "$dir" -j2 asan >"$log" 2>&1; then
		echo "build failed (not counted as caught)" >>"$log"
		return 2
	fi
	if ! timeout 600 "$dir/build/asan/unit/test_storage" >>"$log" 2>&1; then
		return 0
	fi
	if ! timeout 600 "$dir/tests/faults/run.sh" "$dir/build/asan" >>"$log" 2>&1; then
		return 0
	fi
	if ! timeout 600 "$dir/build/asan/scenario" "$dir/tests/sim/scenarios" >>"$log" 2>&1; then
		return 0
	fi
	local half=$((seeds / 2))
	timeout 1200 "$dir/build/asan/sim" --seeds "$half" --first 1 >>"$log" 2>&1 &
	local p1=$!
	timeout 1200 "$dir/build/asan/sim" --seeds "$((seeds - half))" --first "$((half + 1))" >>"$log" 2>&1
	local rc2=$?
	wait "$p1"
	local rc1=$?
	[ $rc1 -ne 0 ] || [ $rc2 -ne 0 ]
}

total=0
caught=0
for p in "${patches[@]}"; do
	name=$(basename "$p" .patch)
	total=$((total + 1))
	dir="$work/$name"
	copy_tree "$dir"
	if ! (cd "$dir" && patch -p1 --quiet <"$p"); then
		echo "mutant $name: patch does not apply"
		continue
	fi
	log="$work/$name.log"
	run_suites "$dir" "$log"
	rc=$?
	if [ $rc -eq 0 ]; then
		caught=$((caught + 1))
		why=$(grep -m1 -E 'seed [0-9]+:|FAIL|assertion failed|differs' "$log" | cut -c1-120)
		echo "mutant $name: caught (${why:-a suite failed})"
	elif [ $rc -eq 2 ]; then
		echo "mutant $name: BUILD FAILED"
		tail -5 "$log"
	else
		echo "mutant $name: NOT CAUGHT"
	fi
	rm -rf "$dir"
done
echo "caught $caught of $total"
[ "$caught" -eq "$total" ]
