"""tools/benchlib.py - what the cluster benchmarks share (bench_ops.py,
bench_replica.py): keel-server processes of a release build on
127.0.0.x, each stopped by its pid at the end, with their folders under
one work directory; waiting, the leader, a snapshot taken now, a load of
1000-byte values, and socat's loopback copy of a file (the limit a
transfer is compared with)."""
import os
import shutil
import signal
import subprocess
import time

import redis


class Bench:
    def __init__(self, name, build, port):
        self.name, self.build, self.port, self.peer = name, build, port, port + 10000
        self.work = os.path.abspath(f"build/{name}")
        self.procs = {}
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work, exist_ok=True)

    def start(self, i, cluster=True, extra=(), nice=False, folder=None):
        args = (["nice", "-n", "19"] if nice else []) + [
                os.path.join(self.build, "keel-server"), "--id", str(i),
                "--bind", f"127.0.0.{i}", "--port", str(self.port + i),
                "--peer-port", str(self.peer + i), "--dir", folder or f"{self.work}/{i}",
                "--request-timeout-ms", "20000"] + list(extra)
        if cluster:
            args += ["--cluster", ",".join(f"{k}@127.0.0.{k}:{self.peer + k}" for k in (1, 2, 3))]
        self.procs[i] = subprocess.Popen(args, stdout=open(f"{self.work}/{i}.log", "a"),
                                         stderr=subprocess.STDOUT)

    def stop(self, i):
        p = self.procs.pop(i)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def addr(self, i):
        return f"127.0.0.{i}:{self.port + i}"

    def client(self, i, timeout=60):
        return redis.Redis(host=f"127.0.0.{i}", port=self.port + i, socket_timeout=timeout,
                           decode_responses=True)

    def info(self, i, section):
        try:
            return self.client(i, 5).info(section)
        except (redis.RedisError, OSError):
            return {}

    def wait(self, what, f, timeout):
        end = time.time() + timeout
        while time.time() < end:
            v = f()
            if v:
                return v
            time.sleep(0.05)
        raise SystemExit(f"{self.name}: timed out waiting for {what}")

    def leader(self):
        for i in (1, 2, 3):
            if self.info(i, "raft").get("raft_role") == "leader":
                return i
        return None

    def load(self, lead, gib):
        """gib GiB of 1000-byte values through the leader; (keys, seconds)."""
        n = int(gib * (1 << 30) / 1000)
        t0 = time.time()
        subprocess.run(["redis-benchmark", "-h", f"127.0.0.{lead}", "-p", str(self.port + lead),
                        "-t", "set", "-c", "8", "-P", "64", "-n", str(n), "-r", "1000000000",
                        "-d", "1000", "-q"], capture_output=True, timeout=3600)
        return self.client(lead).dbsize(), time.time() - t0

    def bench_set(self, i, pipeline=1, n=200000):
        """redis-benchmark SET -c 50 on node i: (SET/s, p50 ms, p99 ms)."""
        out = subprocess.run(["redis-benchmark", "-h", f"127.0.0.{i}", "-p", str(self.port + i),
                              "-t", "set", "-c", "50", "-P", str(pipeline), "-n", str(n),
                              "-r", "100000", "-d", "64", "--csv"],
                             capture_output=True, text=True, timeout=600).stdout
        rows = [ln for ln in out.splitlines() if ln.startswith('"SET"')]
        if not rows:
            raise SystemExit(f"{self.name}: redis-benchmark printed no SET row:\n{out[-2000:]}")
        f = rows[0].replace('"', "").split(",")  # SET,rps,avg,min,p50,p95,p99,max
        return float(f[1]), float(f[4]), float(f[6])

    def snapshot_now(self, i):
        """Asks node i for a snapshot and waits until it is saved; its seconds."""
        t0 = time.time()
        while True:
            try:
                at = self.client(i).execute_command("RAFT", "SNAPSHOT")
                break
            except redis.ResponseError as e:  # one of its own is in progress
                if "already" not in str(e):
                    raise
                time.sleep(0.05)
        self.wait("a snapshot",
                  lambda: int(self.info(i, "persistence").get("keel_snapshot_index", 0)) >= at
                  and int(self.info(i, "persistence").get("keel_snapshot_in_progress", 1)) == 0,
                  600)
        return time.time() - t0

    def socat_copy(self, path, to_ip):
        """Copies the file over loopback into a file with socat; (bytes, seconds)."""
        out = f"{self.work}/copy.bin"
        port = self.peer + 9
        rx = subprocess.Popen(["socat", "-u", f"TCP-LISTEN:{port},bind={to_ip},reuseaddr",
                               f"CREATE:{out}"])
        time.sleep(0.3)
        t0 = time.time()
        subprocess.run(["socat", "-u", f"FILE:{path}", f"TCP:{to_ip}:{port}"], timeout=600)
        rx.wait(600)
        took = time.time() - t0
        size = os.path.getsize(out)
        os.unlink(out)
        return size, took

    def close(self):
        for p in self.procs.values():
            p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.work, ignore_errors=True)
