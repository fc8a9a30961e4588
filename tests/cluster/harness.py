"""tests/cluster/harness.py - what the real-process tests share: a
cluster of keel-server processes on 127.0.0.x (each stopped by its own
pid), cases with one line of output each, retries of retryable errors,
writer threads that record which writes were acknowledged, a raw RESP2
connection, and ioredis's Cluster client run over a cluster."""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build/asan"
SERVER = os.path.join(BUILD, "keel-server")
CLI = os.path.join(BUILD, "keel-cli")
# client ports BASE+i, peer ports BASE+PEER_OFFSET+i; KEEL_TEST_BASE and
# KEEL_TEST_PEER_OFFSET choose them (for suites that take every address
# from here, as pipeline_test.py does); KEEL_PORT_BASE moves the range
# the base is drawn from
BASE = int(os.environ.get("KEEL_TEST_BASE") or
           int(os.environ.get("KEEL_PORT_BASE", 7300)) + random.randrange(0, 60) * 10)
PEER_OFFSET = int(os.environ.get("KEEL_TEST_PEER_OFFSET") or 10000)
DEADLINE = time.time() + 600


class Cluster:
    def __init__(self, n=3, extra=()):
        self.n = n
        self.dir = tempfile.mkdtemp(prefix="keel-cluster.")
        self.extra = list(extra)
        self.procs = {}
        self.writers = []
        self.members = ",".join(f"{i}@127.0.0.{i}:{BASE + PEER_OFFSET + i}" for i in range(1, n + 1))

    def addr(self, i):
        return (f"127.0.0.{i}", BASE + i)

    def _spawn(self, i, args, env=None):
        log = open(os.path.join(self.dir, f"{i}.log"), "a")
        host, port = self.addr(i)
        self.procs[i] = subprocess.Popen(
            [SERVER, "--id", str(i), "--bind", host, "--port", str(port),
             "--peer-port", str(BASE + PEER_OFFSET + i), "--dir", os.path.join(self.dir, str(i)),
             "--request-timeout-ms", "3000"] + self.extra + list(args),
            stdout=log, stderr=log, env=env)

    def start(self, i):
        """Starts (or restarts) founding member i."""
        self._spawn(i, ["--cluster", self.members])

    def start_new(self, i, extra=()):
        """Starts node i with an empty folder and no --cluster: a node to
        be added (with --join in extra, it asks to be)."""
        self._spawn(i, extra)

    def log(self, i):
        with open(os.path.join(self.dir, f"{i}.log"), errors="replace") as f:
            return f.read()

    def start_all(self):
        for i in range(1, self.n + 1):
            self.start(i)

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs.pop(i, None)
        if p:
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self, sig=signal.SIGTERM):
        for i in list(self.procs):
            self.kill(i, sig)

    def client(self, i, timeout=5, db=0):
        """A client of node i; db: the database it SELECTs on connecting."""
        host, port = self.addr(i)
        return redis.Redis(host=host, port=port, socket_timeout=timeout, db=db,
                           socket_connect_timeout=2, decode_responses=True)

    def info(self, i):
        try:
            return self.client(i, 1).info("raft")
        except (redis.RedisError, OSError):
            return None

    def leader(self, timeout=15, exclude=()):
        end = time.time() + timeout
        while time.time() < end:
            for i in list(self.procs):
                if i in exclude:
                    continue
                inf = self.info(i)
                if inf and inf.get("raft_role") == "leader":
                    return i
            time.sleep(0.1)
        return None

    def wait_caught_up(self, i, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            lead = self.leader(5)
            li = self.info(lead) if lead else None
            fi = self.info(i)
            if li and fi and fi["raft_applied_index"] >= li["raft_commit_index"]:
                return True
            time.sleep(0.2)
        return False

    def cleanup(self):
        for w in self.writers:
            w.finish()
        self.stop_all(signal.SIGKILL)
        if os.environ.get("KEEL_KEEP_LOGS"):
            print(f"  logs kept in {self.dir}", flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


results = []


def case(fn):
    def run():
        name = fn.__name__
        t0 = time.time()
        try:
            if time.time() > DEADLINE:
                raise AssertionError("out of time")
            msg = fn() or ""
            results.append((name, True))
            print(f"ok   {name} ({time.time() - t0:.1f}s) {msg}", flush=True)
        except Exception as e:  # a failed case, whatever raised it
            results.append((name, False))
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
    run.__wrapped__ = fn
    return run


def wait_for(what, f, timeout=60):
    """Calls f until it is true (errors of a node not up yet count as
    false); AssertionError after timeout seconds."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            if f():
                return
        except (redis.RedisError, OSError, KeyError):
            pass  # not up yet
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def retry(f, tries=50):
    """Calls f until it does not raise a retryable error."""
    for k in range(tries):
        try:
            return f()
        except (redis.ConnectionError, redis.TimeoutError) as e:
            last = e
        except redis.ResponseError as e:
            if not str(e).startswith(("CLUSTERDOWN", "TRYAGAIN")):
                raise
            last = e
        time.sleep(0.1)
    raise last


class Writers:
    """Threads writing w:<n> = n through random nodes, recording acks."""

    def __init__(self, c, threads=4):
        self.c, self.stop, self.acked, self.lock = c, False, {}, threading.Lock()
        c.writers.append(self)  # stopped by c.cleanup() if the case fails first
        self.threads = [threading.Thread(target=self.run, args=(t,)) for t in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, t):
        n = 0
        while not self.stop:
            n += 1
            key = f"w:{t}:{n}"
            i = random.choice(list(self.c.procs) or [1])
            try:
                if self.c.client(i, 3).set(key, str(n)):
                    with self.lock:
                        self.acked[key] = str(n)
            except (redis.RedisError, OSError):
                pass

    def finish(self):
        self.stop = True
        for t in self.threads:
            t.join(30)
        return self.acked




def run_suite(name, cases, needs):
    """Runs the cases (those named on the command line after BUILD_DIR, or
    all), then prints `<name>: N passed, M failed`; the exit status."""
    for path in needs:
        if not os.access(path, os.X_OK):
            print(f"{name}: 0 passed, 1 failed ({path} is not built)")
            return 1
    only = sys.argv[2:]
    for fn in cases:
        if not only or fn.__wrapped__.__name__ in only:
            fn()
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"{name}: {passed} passed, {failed} failed")
    return 1 if failed else 0


class Raw:
    """One RESP2 connection: sends commands, reads whole replies."""

    def __init__(self, addr):
        self.s = socket.create_connection(addr, timeout=10)
        self.f = self.s.makefile("rb")

    @staticmethod
    def encode(*args):
        req = f"*{len(args)}\r\n".encode()
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            req += b"$%d\r\n%s\r\n" % (len(a), a)
        return req

    def call(self, *args):
        self.s.sendall(self.encode(*args))
        return self.read()

    def read(self):
        line = self.f.readline()
        assert line, "connection closed"
        kind, rest = line[:1], line[1:-2]
        if kind in (b"+", b"-", b":"):
            return line[:-2].decode()
        if kind in (b"$", b"="):
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2].decode()
        if kind in (b"*", b"%"):
            n = int(rest) * (2 if kind == b"%" else 1)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise AssertionError(f"unexpected reply {line!r}")

    def close(self):
        self.s.close()


IOREDIS = """
const Redis = require("ioredis");
const [host, port, n, step] = process.argv.slice(1).map((v, i) => i ? Number(v) : v);
(async () => {
  const c = new Redis.Cluster([{ host, port }], { redisOptions: { connectTimeout: 5000 } });
  const out = { got: [] };
  for (let i = 0; i < n; i++) await c.set(`io:${i}`, `v${i}`);
  for (let i = 0; i < n; i += step) out.got.push(await c.get(`io:${i}`));
  const p = c.pipeline();
  for (let i = 0; i < 10; i++) p.incr("{io}n");
  out.pipe = (await p.exec()).map(([e, v]) => v);
  out.slots = (await c.cluster("SLOTS")).length;
  out.masters = c.nodes("master").length;
  await c.quit();
  console.log(JSON.stringify(out));
})().catch(e => { console.error(String(e)); process.exit(1); });
"""


def ioredis_cluster(addr, n, step):
    """ioredis's Cluster given addr: SETs io:0..n-1 = v<i>, GETs every
    step-th, INCRs {io}n ten times in a pipeline. Returns what it saw:
    {got, pipe, slots (CLUSTER SLOTS entries), masters (its master nodes)}."""
    mods = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "clients", "node_modules")
    assert os.path.isdir(os.path.join(mods, "ioredis")), f"no ioredis in {mods}"
    out = subprocess.run(["node", "-e", IOREDIS, addr[0], str(addr[1]), str(n), str(step)],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, NODE_PATH=mods))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
