#!/usr/bin/python3
"""tools/bench_replica.py - `make bench-replica`: what read replicas cost
and how far behind they run (SPEC.md §5).

On a 3-node keel cluster (release build, loopback, stopped by pid at the
end):
  1. the leader's SET throughput (redis-benchmark -t set -c 50 -P 16
     -r 100000 -d 64) with 0, 1 and 4 replicas attached, each run twice
     (the better one counts); then again with the replicas apart (their
     processes at nice 19 and their folders on tmpfs), which shows the
     leader's own cost of serving them without the CPU and the disk their
     own applying and syncing take on a machine of few cores and one disk;
  2. with GIB GiB of 1000-byte values loaded and the log compacted, the
     time for an empty replica to catch up (a snapshot, then the log), in
     MB/s and keys/s, beside socat's copy of the same snapshot file over
     loopback into a file (the limit);
  3. replication lag while redis-benchmark drives the leader's full SET
     throughput: every 20 ms a probe key is written through the leader and
     the replica is polled until it shows it; p50, p99, max of the delay
     from the write's acknowledgement to its visibility on the replica.
Prints a table and the ratios. Usage: bench_replica.py BUILD_DIR [GIB]."""
import glob
import os
import shutil
import sys
import threading
import time

import redis

from benchlib import Bench

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build/release"
GIB = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
B = Bench("bench-replica", BUILD, 7700)
REPLICAS = (9, 8, 7, 6)


def start_cluster():
    for i in (1, 2, 3):
        B.start(i, extra=["--trailing-entries", "1000"])
    return B.wait("a leader", B.leader, 30)


def start_replica(i, lead, apart=False):
    """apart: at nice 19 with its folder on tmpfs, so that it takes neither
    CPU nor disk from the cluster: the leader's own cost of serving it."""
    folder = None
    if apart:
        folder = f"/dev/shm/keel-bench-replica-{os.getpid()}/{i}"
        shutil.rmtree(folder, ignore_errors=True)
    B.start(i, cluster=False, extra=["--replica-of", B.addr(lead)], nice=apart, folder=folder)
    B.wait(f"replica {i} to stream",
           lambda: B.info(i, "replication").get("keel_replica_state") == "streaming", 3600)


def throughput_with_replicas(lead, apart):
    rows = []
    attached = 0
    for want in (0, 1, 4):
        while attached < want:
            start_replica(REPLICAS[attached], lead, apart)
            attached += 1
        best = max((B.bench_set(lead, pipeline=16, n=500000) for _ in range(2)),
                   key=lambda r: r[0])
        rows.append((want, best))
        print(f"  {want} replica(s){' apart' if apart else ''}: {best[0]:.0f} SET/s",
              flush=True)
    for i in REPLICAS[:attached]:
        B.stop(i)
    shutil.rmtree(f"/dev/shm/keel-bench-replica-{os.getpid()}", ignore_errors=True)
    return rows


def catch_up(lead):
    for i in (1, 2, 3):
        B.snapshot_now(i)
    for k in range(2000):  # past the trailing entries, so the log is compacted
        B.client(lead).set(f"after:{k}", "x")
    B.snapshot_now(lead)
    applied = int(B.info(lead, "raft")["raft_applied_index"])
    keys = B.client(lead).dbsize()
    t0 = time.time()
    B.start(9, cluster=False, extra=["--replica-of", B.addr(lead)])
    B.wait("the replica to catch up",
           lambda: int(B.info(9, "replication").get("keel_replica_applied_index", 0)) >= applied,
           3600)
    took = time.time() - t0
    rep = B.info(9, "replication")
    if int(rep.get("keel_replica_snapshots_received", 0)) < 1:
        raise SystemExit(f"bench-replica: the replica caught up without a snapshot: {rep}")
    if B.client(9).dbsize() != keys:
        raise SystemExit("bench-replica: the replica's key count differs from the leader's")
    size = int(B.info(lead, "persistence")["keel_snapshot_bytes"])
    snap = sorted(glob.glob(f"{B.work}/{lead}/snap-*"))[-1]
    copied, copy_s = B.socat_copy(snap, "127.0.0.9")
    return keys, size, took, int(rep["keel_replica_bytes_received"]), copied, copy_s


def lag_under_load(lead):
    stop, lags = [False], []
    w, r = B.client(lead, 10), B.client(9, 10)

    def probe():
        n = 0
        while not stop[0]:
            n += 1
            try:
                w.set("lagprobe", n)
            except redis.ResponseError:  # -TIMEOUT under full load: not acknowledged
                continue
            acked = time.time()
            while int(r.get("lagprobe") or 0) < n:
                if time.time() - acked > 10:
                    raise SystemExit("bench-replica: a probe did not reach the replica in 10 s")
                time.sleep(0.0005)
            lags.append((time.time() - acked) * 1000)
            time.sleep(0.02)
    t = threading.Thread(target=probe)
    t.start()
    rps = B.bench_set(lead, pipeline=16, n=1000000)[0]
    stop[0] = True
    t.join()
    lags.sort()
    return rps, len(lags), lags[len(lags) // 2], lags[int(len(lags) * 0.99)], lags[-1]


def main():
    print("1. the leader's SET -c 50 -P 16 throughput with replicas attached", flush=True)
    lead = start_cluster()
    rows = throughput_with_replicas(lead, False)
    rows_apart = throughput_with_replicas(lead, True)
    B.close()
    B.__init__("bench-replica", BUILD, 7700)
    lead = start_cluster()
    keys, load_s = B.load(lead, GIB)
    print(f"loaded {keys} keys of 1000 bytes in {load_s:.1f} s", flush=True)
    keys, size, took, got, copied, copy_s = catch_up(lead)
    rps, n, p50, p99, worst = lag_under_load(lead)

    print()
    print(f"{'replicas attached':24s} {'SET/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'vs 0':>6s}")
    for want, (r, a, b) in rows:
        print(f"{want:<24d} {r:9.0f} {a:8.3f} {b:8.3f} {r / rows[0][1][0]:6.2f}")
    print(f"  with 4 replicas / with none: {rows[2][1][0] / rows[0][1][0]:.2f} (goal >= 0.90)")
    print("  the same with the replicas apart (at nice 19, their folders on tmpfs: the "
          "leader's own cost, without their CPU and disk on this machine): "
          + ", ".join(f"{w}: {r[0]:.0f}" for w, r in rows_apart)
          + f"; 4 / none: {rows_apart[2][1][0] / rows_apart[0][1][0]:.2f}")
    mib = size / 2**20
    print(f"catch-up of an empty replica: {keys} keys, a {mib:.0f} MiB snapshot "
          f"({got / 2**20:.0f} MiB on the wire): {took:.2f} s, {mib / took:.0f} MiB/s, "
          f"{keys / took:.0f} keys/s")
    print(f"socat, the same {copied / 2**20:.0f} MiB over loopback into a file: {copy_s:.2f} s, "
          f"{copied / 2**20 / copy_s:.0f} MiB/s")
    print(f"  catch-up throughput / copy throughput: {copy_s / took:.2f} (goal >= 0.50)")
    print(f"replication lag at full SET throughput ({rps:.0f} SET/s, {n} probes): "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms (goal p99 < 50 ms)")


if __name__ == "__main__":
    try:
        main()
    finally:
        B.close()
