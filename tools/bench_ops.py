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
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import redis

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build/release"
GIB = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
WORK = os.path.abspath("build/bench-ops")
PORT, PEER = 7600, 17600
procs = {}


def start(i, cluster=True):
    os.makedirs(WORK, exist_ok=True)
    args = [os.path.join(BUILD, "keel-server"), "--id", str(i), "--bind", f"127.0.0.{i}",
            "--port", str(PORT + i), "--peer-port", str(PEER + i),
            "--dir", f"{WORK}/{i}", "--trailing-entries", "1000", "--request-timeout-ms", "20000"]
    if cluster:
        args += ["--cluster", ",".join(f"{k}@127.0.0.{k}:{PEER + k}" for k in (1, 2, 3))]
    procs[i] = subprocess.Popen(args, stdout=open(f"{WORK}/{i}.log", "a"),
                                stderr=subprocess.STDOUT)


def client(i, timeout=60):
    return redis.Redis(host=f"127.0.0.{i}", port=PORT + i, socket_timeout=timeout,
                       decode_responses=True)


def info(i, section):
    try:
        return client(i, 5).info(section)
    except (redis.RedisError, OSError):
        return {}


def wait(what, f, timeout):
    end = time.time() + timeout
    while time.time() < end:
        v = f()
        if v:
            return v
        time.sleep(0.05)
    raise SystemExit(f"bench-ops: timed out waiting for {what}")


def leader():
    for i in (1, 2, 3):
        if info(i, "raft").get("raft_role") == "leader":
            return i
    return None


def bench_set(i):
    out = subprocess.run(["redis-benchmark", "-h", f"127.0.0.{i}", "-p", str(PORT + i),
                          "-t", "set", "-c", "50", "-n", "200000", "-r", "100000", "-d", "64",
                          "--csv"], capture_output=True, text=True, timeout=600).stdout
    row = [ln for ln in out.splitlines() if ln.startswith('"SET"')][0].replace('"', "")
    f = row.split(",")  # SET,rps,avg,min,p50,p95,p99,max
    return float(f[1]), float(f[4]), float(f[6])


def snapshot_now(i):
    """Asks for a snapshot and waits until it is saved; its seconds."""
    t0 = time.time()
    while True:
        try:
            at = client(i).execute_command("RAFT", "SNAPSHOT")
            break
        except redis.ResponseError as e:  # one of its own is in progress
            if "already" not in str(e):
                raise
            time.sleep(0.05)
    wait("a snapshot", lambda: int(info(i, "persistence").get("keel_snapshot_index", 0)) >= at
         and int(info(i, "persistence").get("keel_snapshot_in_progress", 1)) == 0, 600)
    return time.time() - t0


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    for i in (1, 2, 3):
        start(i)
    lead = wait("a leader", leader, 30)
    n = int(GIB * (1 << 30) / 1000)
    t0 = time.time()
    subprocess.run(["redis-benchmark", "-h", f"127.0.0.{lead}", "-p", str(PORT + lead),
                    "-t", "set", "-c", "8", "-P", "64", "-n", str(n), "-r", "1000000000",
                    "-d", "1000", "-q"], capture_output=True, timeout=3600)
    load_s = time.time() - t0
    keys = client(lead).dbsize()
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
    client(lead).execute_command("RAFT", "ADD-LEARNER", "4", f"127.0.0.4:{PEER + 4}")
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
    out = f"{WORK}/copy.bin"
    rx = subprocess.Popen(["socat", "-u", f"TCP-LISTEN:{PEER + 9},bind=127.0.0.4,reuseaddr",
                           f"CREATE:{out}"])
    time.sleep(0.3)
    t0 = time.time()
    subprocess.run(["socat", "-u", f"FILE:{snap}", f"TCP:127.0.0.4:{PEER + 9}"], timeout=600)
    rx.wait(600)
    copy_s = time.time() - t0
    copied = os.path.getsize(out)

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
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(WORK, ignore_errors=True)
