#!/usr/bin/env bash
# tests/diff/run.sh — the differential test: starts a redis-server of its
# own on loopback (no persistence, a free port, stopped by its pid at the
# end), then runs build/<variant>/diff/diff against it for a few seeds.
# Usage: run.sh BUILD_DIR [COMMANDS] [SEEDS]. Prints `diff: N passed, M failed`
# with one test per seed (it fails if any reply diverged).
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/asan}
commands=${2:-20000}
seeds=${3:-2}
if ! command -v redis-server >/dev/null; then
	echo "diff: 0 passed, 1 failed (redis-server is not installed: scripts/packages.txt)"
	exit 1
fi
work=$(mktemp -d /tmp/keel-diff.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$pid" ] && wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
# a free port: a few tries, each checked with a PING
for _ in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 10000)) # below the ephemeral range (32768 and up)
	redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
		--dir "$work" --logfile "$work/redis.log" &
	pid=$!
	up=""
	for _ in $(seq 50); do
		if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]; then
			up=1
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$up" ] && break
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=""
done
if [ -z "$pid" ]; then
	echo "diff: 0 passed, 1 failed (redis-server did not start: $(tail -2 "$work/redis.log" 2>/dev/null))"
	exit 1
fi
pass=0
fail=0
compared=0
for seed in $(seq "$seeds"); do
	line=$(timeout 600 "$build/diff/diff" "$port" "$commands" "$seed" 2>"$work/err.$seed" | tail -1)
	echo "$line"
	cat "$work/err.$seed" | head -40
	p=$(echo "$line" | sed -nE 's/^diff: ([0-9]+) passed, ([0-9]+) failed.*/\1/p')
	f=$(echo "$line" | sed -nE 's/^diff: ([0-9]+) passed, ([0-9]+) failed.*/\2/p')
	# one test per seed: it passes when no reply diverged
	if [ -z "$p" ] || [ "$f" -ne 0 ]; then
		fail=$((fail + 1))
	else
		pass=$((pass + 1))
	fi
	compared=$((compared + ${p:-0} + ${f:-0}))
done
echo "diff: $pass passed, $fail failed (seeds of $commands commands; $compared replies compared with redis-server $(redis-server --version | sed -nE 's/.*v=([0-9.]+).*/\1/p'))"
[ "$fail" -eq 0 ]
