#!/usr/bin/python3
"""tools/bench_ops.py - `make bench-ops`: what cluster operations cost.

Starts a 3-node keel cluster (release build, loopback, stopped by pid at
the end), loads GIB GiB of 1000-byte values with redis-benchmark, then
measures:
  1. SET latency (redis-benchmark -t set -c 50 -n 200000 -r 100000 -d 64)
     on the leader, without a snapshot, and again while snapshots of the
     whole keyspace are taken back to back (RAFT SNAPSHOT, in a loop);
  2. the time for a new, empty node to catch up (added with RAFT
     ADD-LEARNER: the leader's log is compacted, so it gets the snapshot,
     then the log), beside the time socat takes to copy the same snapshot
     file over loopback into a file on the same disk (the limit).
Prints a table and the ratios. Usage: bench_ops.py BUILD_DIR [GIB]."""
import glob
import sys
import threading
import time

from benchlib import Bench

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build/release"
GIB = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
B = Bench("bench-ops", BUILD, 7600)
WORK = B.work
client, info, wait, leader, snapshot_now = B.client, B.info, B.wait, B.leader, B.snapshot_now


def start(i, cluster=True):
    B.start(i, cluster, ["--trailing-entries", "1000"])


def bench_set(i):
    return B.bench_set(i)


def main():
    for i in (1, 2, 3):
        start(i)
    lead = wait("a leader", leader, 30)
    keys, load_s = B.load(lead, GIB)
    print(f"loaded {keys} keys of 1000 bytes in {load_s:.1f} s", flush=True)
    snap_s = snapshot_now(lead)
    size = int(info(lead, "persistence")["keel_snapshot_bytes"])
    pers = info(lead, "persistence")
    print(f"snapshot of {size / 2**20:.0f} MiB: {snap_s:.1f} s; the loop paused "
          f"{int(pers['keel_snapshot_last_fork_us']) / 1000:.1f} ms to fork; "
          f"{pers['keel_snapshot_last_fork_to_file_ms']} ms until the child had written and "
          f"synced the file, {pers['keel_snapshot_last_total_ms']} ms until it was adopted",
          flush=True)

    # 1. SET latency without and with snapshots in progress
    rps0, p50_0, p99_0 = bench_set(lead)
    term0 = info(lead, "raft").get("raft_term")
    stop, taken, busy = [False], [0], [0.0]

    def snapshots():
        while not stop[0]:
            busy[0] += snapshot_now(lead)
            taken[0] += 1
    t = threading.Thread(target=snapshots)
    t0 = time.time()
    t.start()
    time.sleep(0.2)
    rps1, p50_1, p99_1 = bench_set(lead)
    run_s = time.time() - t0
    stop[0] = True
    t.join()
    term1 = info(lead, "raft").get("raft_term")
    if term1 != term0:
        print(f"(the term moved from {term0} to {term1} during the snapshot run: an election)",
              flush=True)

    # 2. catch-up of a new node, beside a loopback copy of the snapshot
    now = wait("a leader", leader, 30)
    if now != lead:
        print(f"(leadership moved from {lead} to {now} during the latency runs)", flush=True)
        lead = now
    for k in range(2000):  # past the trailing entries, so the log is compacted
        client(lead).set(f"after:{k}", "x")
    snapshot_now(lead)
    commit = int(info(lead, "raft")["raft_commit_index"])
    start(4, cluster=False)
    wait("node 4", lambda: info(4, "raft"), 30)
    t0 = time.time()
    client(lead).execute_command("RAFT", "ADD-LEARNER", "4", f"127.0.0.4:{B.peer + 4}")
    wait("node 4 to catch up", lambda: int(info(4, "raft").get("raft_applied_index", 0))
         >= commit, 3600)
    catch_s = time.time() - t0
    p4 = info(4, "persistence")
    got = int(p4.get("keel_snapshot_bytes_received", 0))
    size = int(info(lead, "persistence")["keel_snapshot_bytes"])
    if int(p4.get("keel_snapshots_installed", 0)) < 1:
        raise SystemExit(f"bench-ops: node 4 caught up without a snapshot: {p4}")
    keys4, keys_lead = client(4).dbsize(), client(lead).dbsize()
    if keys4 != keys_lead:
        raise SystemExit(f"bench-ops: node 4 has {keys4} keys, the leader {keys_lead}")
    snap = sorted(glob.glob(f"{WORK}/{lead}/snap-*"))[-1]
    copied, copy_s = B.socat_copy(snap, "127.0.0.4")

    print()
    print(f"{'':44s} {'SET/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s}")
    print(f"{'SET -c 50, no snapshot':44s} {rps0:9.0f} {p50_0:8.3f} {p99_0:8.3f}")
    print(f"{f'SET -c 50, {taken[0]} snapshots back to back':44s} {rps1:9.0f} {p50_1:8.3f} "
          f"{p99_1:8.3f}")
    print(f"  snapshots were in progress {100 * min(busy[0], run_s) / run_s:.0f} % of that run; "
          f"p99 with / without: {p99_1 / p99_0:.2f} (goal <= 3)")
    print(f"catch-up of a new node on {size / 2**20:.0f} MiB ({got / 2**20:.0f} MiB of snapshot "
          f"received): {catch_s:.2f} s, {size / 2**20 / catch_s:.0f} MiB/s")
    print(f"socat, the same {copied / 2**20:.0f} MiB over loopback into a file: {copy_s:.2f} s, "
          f"{copied / 2**20 / copy_s:.0f} MiB/s")
    print(f"  catch-up time / copy time: {catch_s / copy_s:.2f}")


if __name__ == "__main__":
    try:
        main()
    finally:
        B.close()
