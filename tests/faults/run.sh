#!/usr/bin/env bash
# tests/faults/run.sh — real system faults on the real binary paths: the
# storage driver (wal_driver) appends through the group-commit thread on a
# real folder while a preloaded shim makes fdatasync, pwrite, rename or
# fallocate fail (EIO, ENOSPC), and on a real 1 MiB tmpfs that fills up.
# Each case checks: the driver stops with a clear error (fail-stop, no
# retry of a failed fdatasync: a retry would let it finish), every entry it
# reported durable is recovered intact, and after a restart it goes on.
# Usage: run.sh BUILD_DIR (build/asan). Prints `faults: N passed, M failed`.
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/asan}
driver=$build/faults/wal_driver
shim=$PWD/build/faults/shim.so
work=$(mktemp -d /tmp/keel-faults.XXXXXX)
pass=0
fail=0
as_root=""
[ "$(id -u)" -ne 0 ] && as_root="sudo -n"
trap '$as_root umount "$work/tmpfs" 2>/dev/null; rm -rf "$work"' EXIT

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }

# The highest index a driver output reported durable (0 if none).
max_durable() { awk '/^durable /{ if ($2 > m) m = $2 } END { print m + 0 }' "$1"; }

# check NAME DIR MIN: recovery holds at least MIN entries, all intact.
check() {
	local out n
	out=$("$driver" check "$2")
	if [ $? -ne 0 ]; then
		bad "$1" "recovery failed: $out"
		return 1
	fi
	n=${out#recovered }
	if [ "$n" -lt "$3" ]; then
		bad "$1" "recovered $n entries but $3 were reported durable"
		return 1
	fi
	echo "$n"
}

# fault NAME OP ERRNO AFTER SIZE SEGMENT EXPECT: one injected failure.
fault() {
	local name=$1 op=$2 errno=$3 after=$4 size=$5 seg=$6 expect=$7
	local dir=$work/$name out=$work/$name.out rc d n
	KEEL_FAULT_OP=$op KEEL_FAULT_ERRNO=$errno KEEL_FAULT_AFTER=$after \
		LD_PRELOAD=$shim ASAN_OPTIONS=verify_asan_link_order=0 \
		"$driver" append "$dir" 1 3000 16 "$size" "$seg" >"$out" 2>"$out.err"
	rc=$?
	d=$(max_durable "$out")
	if [ $rc -ne 3 ]; then
		bad "$name" "the driver exited $rc, not 3 (stopped by the fault)"
		return
	fi
	if ! tail -1 "$out" | grep -q "^error: .*$expect"; then
		bad "$name" "last line is not an error naming '$expect': $(tail -1 "$out")"
		return
	fi
	n=$(check "$name" "$dir" "$d") || return
	# restarted without the fault, it goes on from what it recovered
	if ! "$driver" append "$dir" $((n + 1)) 3500 4 "$size" "$seg" >"$out.2"; then
		bad "$name" "no restart: $(tail -1 "$out.2")"
		return
	fi
	check "$name" "$dir" 3500 >/dev/null || return
	ok "$name ($d reported durable, $n recovered, then 3500 after a restart)"
}

# keel-wal on the clean run's folder, damaged in a closed segment.
wal_tool() {
	local tool=$build/tools/keel-wal dir=$work/clean out=$work/tool.out seg
	seg=$(ls "$dir" | grep -E '^[0-9]{20}-[0-9]{20}$' | head -1)
	if [ -z "$seg" ]; then
		bad keel-wal "no closed segment in $dir"
		return
	fi
	printf '\377' | dd of="$dir/$seg" bs=1 seek=122 conv=notrunc status=none
	if "$tool" check "$dir" >"$out" 2>&1 || ! grep -q "damaged before its tail: .*$seg at offset 112" "$out"; then
		bad keel-wal "check did not refuse naming file and offset: $(cat "$out")"
		return
	fi
	if "$tool" repair "$dir" 1 >"$out" 2>&1 || ! grep -q "repair refused: no configuration" "$out"; then
		bad keel-wal "repair was not refused: $(cat "$out")"
		return
	fi
	"$tool" check "$dir" >/dev/null 2>&1 && { bad keel-wal "the refusal changed the disk"; return; }
	ok "keel-wal (check names $seg at offset 112; repair refused without a configuration)"
}

clean() {
	local dir=$work/clean out=$work/clean.out
	if ! "$driver" append "$dir" 1 3000 16 64 65536 >"$out"; then
		bad clean "the driver failed: $(tail -1 "$out")"
		return
	fi
	[ "$(max_durable "$out")" -eq 3000 ] || { bad clean "not all reported durable"; return; }
	check clean "$dir" 3000 >/dev/null && ok "clean (3000 appended by 16 clients, recovered)"
}

# A real file system that fills: a 1 MiB tmpfs, 4 KiB entries.
tmpfs_full() {
	local mnt=$work/tmpfs out=$work/tmpfs.out d n
	mkdir -p "$mnt"
	if ! $as_root mount -t tmpfs -o size=1m tmpfs "$mnt" 2>"$work/mount.err"; then
		bad tmpfs-enospc "cannot mount a tmpfs (needs root): $(cat "$work/mount.err")"
		return
	fi
	$as_root chmod 777 "$mnt"
	"$driver" append "$mnt/data" 1 1000 8 4096 262144 >"$out" 2>&1
	local rc=$?
	d=$(max_durable "$out")
	if [ $rc -ne 3 ] || ! tail -1 "$out" | grep -q "^error: .*no space left"; then
		bad tmpfs-enospc "exit $rc, last line: $(tail -1 "$out")"
		$as_root umount "$mnt"
		return
	fi
	n=$(check tmpfs-enospc "$mnt/data" "$d") || { $as_root umount "$mnt"; return; }
	# still full: a restart recovers and reports the same
	n2=$(check tmpfs-enospc "$mnt/data" "$n") || { $as_root umount "$mnt"; return; }
	$as_root mount -o remount,size=16m "$mnt"
	if ! "$driver" append "$mnt/data" $((n2 + 1)) 1000 8 4096 262144 >"$out.2" 2>&1; then
		bad tmpfs-enospc "no resume after space was freed: $(tail -1 "$out.2")"
		$as_root umount "$mnt"
		return
	fi
	check tmpfs-enospc "$mnt/data" 1000 >/dev/null && \
		ok "tmpfs-enospc ($d reported durable before the disk filled, $n recovered, 1000 after space was freed)"
	$as_root umount "$mnt"
}

# keel-server itself: fdatasync fails under it; it must stop (fail-stop)
# with a clear error, and every write it acknowledged must be there after a
# restart without the fault.
server_failstop() {
	# ports below Linux's ephemeral range (32768 and up), where no outgoing
	# connection can be holding them
	local srv=$build/keel-server dir=$work/server port=$((12000 + RANDOM % 2000)) acked=0 pid i
	local args=(--id 1 --bind 127.0.0.1 --port "$port" --peer-port $((port + 3000))
		--dir "$dir" --cluster "1@127.0.0.1:$((port + 3000))")
	KEEL_FAULT_OP=fdatasync KEEL_FAULT_ERRNO=EIO KEEL_FAULT_AFTER=60 LD_PRELOAD=$shim \
		ASAN_OPTIONS=verify_asan_link_order=0 "$srv" "${args[@]}" >"$work/server.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		[ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ] && break
		sleep 0.1
	done
	for i in $(seq 1 400); do
		if [ "$(redis-cli -p "$port" set "s$i" "$i" 2>/dev/null)" = "OK" ]; then
			acked=$i
		elif ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
	done
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		wait "$pid" 2>/dev/null
		bad server-failstop "keel-server kept running after fdatasync failed"
		return
	fi
	wait "$pid"
	local rc=$?
	if [ "$rc" -eq 0 ] || ! grep -q "storage failed, the node stops: fdatasync" "$work/server.log"; then
		bad server-failstop "exit $rc, log: $(tail -2 "$work/server.log")"
		return
	fi
	"$srv" "${args[@]}" >>"$work/server.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		[ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ] && break
		sleep 0.1
	done
	local missing=0
	for i in $(seq 1 "$acked"); do
		[ "$(redis-cli -p "$port" get "s$i" 2>/dev/null)" = "$i" ] || missing=$((missing + 1))
	done
	kill "$pid"
	wait "$pid" 2>/dev/null
	if [ "$acked" -eq 0 ] || [ "$missing" -ne 0 ]; then
		bad server-failstop "$acked acknowledged, $missing missing after the restart"
		return
	fi
	ok "server-failstop (stopped with exit $rc after fdatasync failed; $acked acknowledged writes all there after a restart)"
}

clean
if [ -n "${FAULTS_NO_SERVER:-}" ]; then
	echo "skip server-failstop (FAULTS_NO_SERVER is set: no keel-server is started)"
else
	server_failstop
fi
wal_tool
fault fdatasync-eio fdatasync EIO 40 64 65536 "i/o error"
fault fdatasync-eio-first fdatasync EIO 0 64 65536 "i/o error"
fault pwrite-eio pwrite EIO 50 64 65536 "i/o error"
fault pwrite-enospc pwrite ENOSPC 50 64 65536 "no space left"
fault rename-eio rename EIO 2 256 16384 "i/o error"
fault fallocate-enospc fallocate ENOSPC 3 256 16384 "no space left"
tmpfs_full

echo "faults: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
