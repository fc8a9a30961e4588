#!/usr/bin/env bash
# tests/nsim/mutants/run.sh — the whole-node simulator's teeth for slot
# migration: applies each deliberate bug here (*.patch) to a copy of the
# tree, builds the simulator, and runs its scenarios and --sharded seeds
# (every seed 2 or 3 shards, moving slot ranges under faults). A mutant is
# caught when a run fails. Prints `nsim-mutants: caught K of N` and exits
# non-zero unless every one is caught. make mutants-shards runs it.
#
#   tests/nsim/mutants/run.sh [PATCH...]   (default: every patch here)
#   NSIM_MUTANT_SEEDS=n                     --sharded seeds each (default 300)
set -uo pipefail

top=$(cd "$(dirname "$0")/../../.." && pwd)
seeds=${NSIM_MUTANT_SEEDS:-300}
work=$(mktemp -d /tmp/keel-nsim-mutants.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ $# -gt 0 ]; then
	patches=("$@")
else
	patches=("$top"/tests/nsim/mutants/*.patch)
fi

total=0 caught=0
for p in "${patches[@]}"; do
	name=$(basename "$p" .patch)
	dir=$work/$name
	mkdir -p "$dir"
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 cp --parents -t "$dir")
	total=$((total + 1))
	log=$work/$name.log
	if ! (cd "$dir" && patch -s -p1 <"$p") || ! make -C "$dir" -j2 build/release/nsim >"$log" 2>&1; then
		echo "$name: does not apply or build (not caught)"
		continue
	fi
	start=$(date +%s)
	if ! timeout 900 "$dir/build/release/nsim" --scenarios >>"$log" 2>&1; then
		how="scenarios: $(grep -m1 -E '^scenario .*: [^o]' "$log" | cut -c1-160)"
	elif ! timeout 1800 "$dir/build/release/nsim" --seeds "$seeds" --sharded >>"$log" 2>&1; then
		how="seeds: $(grep -m1 -E '^seed [0-9]+: ' "$log" | cut -c1-160)"
	else
		how=""
	fi
	took=$(($(date +%s) - start))
	if [ -n "$how" ]; then
		caught=$((caught + 1))
		echo "$name: caught in ${took}s by $how"
	else
		echo "$name: NOT caught (${took}s; log $log kept)"
		cp "$log" "/tmp/nsim-mutant-$name.log"
	fi
done
echo "nsim-mutants: caught $caught of $total"
[ "$caught" -eq "$total" ]
