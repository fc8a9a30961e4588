#!/usr/bin/python3
"""tests/clients/run.py - the client libraries people use, run as their
users run them against a 3-node keel cluster on loopback: redis-py
(Debian's python3-redis), ioredis and node-redis (npm, pinned by
package-lock.json, installed by scripts/install-deps.sh) and hiredis (C,
hiredis_cases.c). For each: its getting-started example, pipelines that
read their own writes on the leader and on a follower, MULTI/EXEC,
database 1, a node restarted under the client, and (but hiredis, which
has no Sentinel support) the Sentinel configuration writing INCRs
through a kill -9 of the leader with no acknowledged write lost and none
applied twice. The Node.js cases live in ioredis_cases.js and
node_redis_cases.js, one process per case.

Usage: run.py BUILD_DIR [CASE...]       keel (make test: build/asan)
       run.py --redis [CASE...]        the same cases against redis-server
                                       7 on loopback (with 3 sentinels for
                                       the Sentinel cases): checks the tests
Every case has a time limit; the suite takes about a minute. Prints one
line per case and `clients: N passed, M failed`. CLIENTS_PORT_BASE=P puts
the servers on ports P+1.. (keel's peers on P+51..) instead of harness's."""
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cluster"))

import redis  # noqa: E402
from redis.sentinel import Sentinel  # noqa: E402

import harness  # noqa: E402
from harness import case, retry, run_suite, wait_for  # noqa: E402

MASTER_NAME = "keel"  # keel's default --sentinel-master-name
REDIS_MODE = len(sys.argv) > 1 and sys.argv[1] == "--redis"
HIREDIS = os.path.join("build/asan" if REDIS_MODE else harness.BUILD, "clients", "hiredis_cases")
NODE_MODULES = os.path.join(HERE, "node_modules")
BEFORE_KILL, AFTER_KILL = 20, 30  # acknowledged INCRs before and after the kill
BEFORE_KILL_S, AFTER_KILL_S = 15, 30  # the time they may take
PORT_BASE = int(os.environ.get("CLIENTS_PORT_BASE", "0"))


class KeelCluster(harness.Cluster):
    """harness's cluster, on CLIENTS_PORT_BASE's ports when it is set."""

    def __init__(self):
        super().__init__(3)
        if PORT_BASE:
            self.members = ",".join(f"{i}@127.0.0.{i}:{PORT_BASE + 50 + i}" for i in (1, 2, 3))

    def addr(self, i):
        return (f"127.0.0.{i}", PORT_BASE + i) if PORT_BASE else super().addr(i)

    def _spawn(self, i, args, env=None):
        if not PORT_BASE:
            return super()._spawn(i, args, env)
        log = open(os.path.join(self.dir, f"{i}.log"), "a")
        host, port = self.addr(i)
        self.procs[i] = subprocess.Popen(
            [harness.SERVER, "--id", str(i), "--bind", host, "--port", str(port),
             "--peer-port", str(PORT_BASE + 50 + i), "--dir", os.path.join(self.dir, str(i)),
             "--request-timeout-ms", "3000"] + self.extra + list(args),
            stdout=log, stderr=log, env=env)


class Keel:
    """The cluster the cases run against. Indexes are 0-based."""

    def __init__(self):
        self.c = KeelCluster()
        self.c.start_all()
        assert self.c.leader(20), "no leader elected"

    def nodes(self):
        return [list(self.c.addr(i)) for i in (1, 2, 3)]

    def sentinels(self):
        return self.nodes()

    def leader(self):
        lead = self.c.leader(20)
        assert lead, "no leader"
        return lead - 1

    def follower(self):
        lead = self.leader()
        return next(i - 1 for i in sorted(self.c.procs) if i - 1 != lead)

    def client(self, i, db=0):
        host, port = self.c.addr(i + 1)
        return redis.Redis(host=host, port=port, db=db, socket_timeout=5,
                           socket_connect_timeout=2)

    def serving(self, i):
        """Waits until node i answers a write and a read."""
        wait_for(f"node {i + 1} to serve",
                 lambda: self.client(i).set("clients:probe", "1") and
                 self.client(i).get("clients:probe") == b"1", 30)

    def restart(self, i):
        self.c.kill(i + 1)
        self.c.start(i + 1)
        self.serving(i)

    def kill_master(self):
        """kill -9 of the leader; returns a function that starts it again."""
        lead = self.leader()
        self.c.kill(lead + 1)
        return lambda: (self.c.start(lead + 1), self.serving(lead),
                        self.c.wait_caught_up(lead + 1))

    def cleanup(self):
        self.c.cleanup()


class RedisServers:
    """redis-server 7 on loopback, for checking the tests themselves: one
    durable server (appendfsync always) as every "node", and for the
    Sentinel cases a master, two replicas and three sentinels."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="keel-clients-redis.")
        self.base = PORT_BASE or 24000 + (os.getpid() % 40) * 20
        self.procs = {}
        self.start(0, ["--appendonly", "yes", "--appendfsync", "always"])
        self.sentinel_up = False

    def port(self, k):
        return self.base + 1 + k

    def start(self, k, extra):
        d = os.path.join(self.dir, str(k))
        os.makedirs(d, exist_ok=True)
        log = open(os.path.join(d, "log"), "a")
        self.procs[k] = (subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port(k)), "--dir", d,
             "--save", ""] + extra, stdout=log, stderr=log), extra)
        wait_for(f"redis-server {k}", lambda: self.raw(k).ping(), 10)

    def raw(self, k):
        return redis.Redis(host="127.0.0.1", port=self.port(k), socket_timeout=3)

    def kill(self, k):
        p, extra = self.procs.pop(k)
        p.kill()
        p.wait()
        return extra

    def nodes(self):
        return [["127.0.0.1", self.port(0)]]

    def leader(self):
        return 0

    def follower(self):
        return 0

    def client(self, i, db=0):
        return redis.Redis(host="127.0.0.1", port=self.port(0), db=db, socket_timeout=5)

    def restart(self, i):
        self.start(0, self.kill(0))

    # Sentinel: servers 1 (master), 2, 3 (replicas); sentinels 4, 5, 6.
    def sentinels(self):
        if not self.sentinel_up:
            self.start(1, [])
            for k in (2, 3):
                self.start(k, ["--replicaof", "127.0.0.1", str(self.port(1))])
            for k in (4, 5, 6):
                conf = os.path.join(self.dir, f"sentinel{k}.conf")
                with open(conf, "w") as f:
                    f.write(f"bind 127.0.0.1\nport {self.port(k)}\ndir {self.dir}\n"
                            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.port(1)} 2\n"
                            f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                            f"sentinel failover-timeout {MASTER_NAME} 5000\n")
                log = open(os.path.join(self.dir, f"sentinel{k}.log"), "a")
                self.procs[k] = (subprocess.Popen(["redis-server", conf, "--sentinel"],
                                                  stdout=log, stderr=log), None)
            wait_for("the replicas to sync", lambda: all(self.raw(1).info(
                "replication")[f"slave{j}"]["state"] == "online" for j in (0, 1)), 30)
            wait_for("sentinels to see the replicas", lambda: all(
                int(self.raw(k).sentinel_master(MASTER_NAME)["num-slaves"]) == 2
                and int(self.raw(k).sentinel_master(MASTER_NAME)["num-other-sentinels"]) == 2
                for k in (4, 5, 6)), 30)
            self.sentinel_up = True
        return [["127.0.0.1", self.port(k)] for k in (4, 5, 6)]

    def kill_master(self):
        _, port = self.raw(4).sentinel_get_master_addr_by_name(MASTER_NAME)
        k = int(port) - self.base - 1
        extra = self.kill(k)

        def back():
            self.start(k, extra)  # the sentinels make it a replica of the new master
            wait_for("the old master to be a synced replica", lambda: self.raw(k).info(
                "replication").get("master_link_status") == "up", 30)
        return back

    def cleanup(self):
        for k in list(self.procs):
            self.kill(k)
        if os.environ.get("KEEL_KEEP_LOGS"):
            print(f"  logs kept in {self.dir}", flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


target = None


def check_history(history, final):
    """history: the replies of sequential INCRs of one fresh key, in order
    (the value, or "E" for an error: a write that may or may not have been
    applied); final: the key read afterwards. Each acknowledged value must
    exceed the last (else an acknowledged write was lost) by at most one
    plus the errors between (else a write was applied twice), and the
    final value likewise."""
    prev, maybe, problems = 0, 0, []
    for v in history:
        if v == "E":
            maybe += 1
            continue
        if v <= prev:
            problems.append(f"INCR answered {v} after an acknowledged {prev}: a write was lost")
        elif v - prev - 1 > maybe:
            problems.append(f"INCR answered {v} after {prev} with {maybe} failed INCRs "
                            "between: a write was applied twice")
        prev, maybe = v, 0
    if final < prev:
        problems.append(f"the key reads {final} after an acknowledged {prev}: a write was lost")
    elif final - prev > maybe:
        problems.append(f"the key reads {final}, the last INCR answered {prev} and {maybe} "
                        "failed after it: a write was applied twice")
    assert not problems, "; ".join(problems[:3]) + f" (history {history}, final {final})"
    acked = sum(1 for v in history if v != "E")
    return f"{acked} INCRs acknowledged, {len(history) - acked} failed, final {final}"


class Proc:
    """One case process: lines out, lines in, all under one deadline."""

    def __init__(self, argv, time_s, cwd=HERE):
        self.deadline = time.time() + time_s + 10
        self.p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.p.stdout, selectors.EVENT_READ)

    def lines(self):
        while True:
            left = self.deadline - time.time()
            if left <= 0 or not self.sel.select(left):
                self.p.kill()
                self.p.wait()
                raise AssertionError("the case process did not finish in time")
            line = self.p.stdout.readline()
            if not line:
                return
            yield line.rstrip("\n")

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def close(self):
        try:
            self.p.wait(max(1, self.deadline - time.time()))
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.sel.close()
        return self.p.returncode


def run_node(script, name, on_line=None, time_s=40, **extra):
    """Runs one case of a Node.js case file; on_line answers its handshake
    lines. Returns the RESULT's message and data; fails when it failed."""
    assert shutil.which("node"), "no node command: run scripts/install-deps.sh"
    assert os.path.isdir(NODE_MODULES), \
        f"{NODE_MODULES} is missing: run scripts/install-deps.sh"
    cfg = {"nodes": target.nodes(), "leader": target.leader(), "follower": target.follower(),
           "prefix": f"{script[:-len('_cases.js')]}:{name}:", "master": MASTER_NAME,
           "time_s": time_s}
    cfg.update(extra)
    p = Proc(["node", script, name, json.dumps(cfg)], time_s)
    result = None
    for line in p.lines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
        elif on_line:
            p.send(on_line(line))
    rc = p.close()
    assert result, f"exited {rc} without a result"
    assert result["ok"], result["msg"]
    return result["msg"], result["data"]


def restart_handler(i):
    def on_line(line):
        assert line == "ready", line
        target.restart(i)
        return "restarted"
    return on_line


def node_cases(lib, script):
    """The case functions of one Node.js library, named <lib>_<case>."""
    def make(name):
        def fn():
            if name == "reconnect":
                i = target.leader()
                msg, _ = run_node(script, name, restart_handler(i), target=i)
                return f"node {i + 1} (the leader) restarted; {msg}"
            if name == "sentinel":
                return sentinel_case(lambda on_line: run_node(
                    script, name, on_line, BEFORE_KILL_S + AFTER_KILL_S,
                    nodes=target.sentinels(), before=BEFORE_KILL, after=AFTER_KILL))
            return run_node(script, name)[0]
        fn.__name__ = f"{lib}_{name}"
        return case(fn)
    names = ["getting_started", "pipeline", "multi_exec", "select_db1", "lib_name"]
    return ([make(n) for n in names], [make("reconnect")], [make("sentinel")])


def sentinel_case(run):
    """Runs a Sentinel case whose client says `writing` when it has
    written BEFORE_KILL INCRs: the master is killed (kill -9), the client
    told, and once it has finished the node is started again."""
    back = []

    def on_line(line):
        assert line == "writing", line
        back.append(target.kill_master())
        return "killed"
    try:
        _, data = run(on_line)
    finally:
        for b in back:
            b()
    assert back, "the client never started writing"
    assert data["acked_after"] >= AFTER_KILL, data
    return check_history(data["history"], data["final"])


def run_hiredis(name):
    """Runs one case of hiredis_cases; for reconnect, restarts the leader
    when the program says `ready`."""
    assert os.access(HIREDIS, os.X_OK), f"{HIREDIS} is not built"
    nodes, lead = target.nodes(), target.leader()
    p = Proc([HIREDIS, name, f"hiredis:{name}:", str(lead), str(target.follower())]
             + [f"{h}:{port}" for h, port in nodes], 40, cwd=None)
    last = []
    for line in p.lines():
        if line.startswith("RESULT "):
            last.append(line)
        elif line == "ready":
            target.restart(lead)
            p.send("restarted")
    rc = p.close()
    assert last, f"exited {rc} without a result"
    assert last[-1].startswith("RESULT ok"), last[-1][7:]
    return last[-1][10:]


def hiredis_cases():
    def make(name):
        def fn():
            return run_hiredis(name)
        fn.__name__ = f"hiredis_{name}"
        return case(fn)
    return ([make(n) for n in ("getting_started", "pipeline", "multi_exec", "select_db1")],
            [make("reconnect")])


# redis-py, as its README and docs show it.

@case
def redis_py_getting_started():
    """r = redis.Redis(host, port, db=0); r.set('foo', 'bar'); r.get('foo'),
    4 fresh clients on every node, each with its own value."""
    for i in range(len(target.nodes())):
        for run in range(4):
            host, port = target.nodes()[i]
            r = redis.Redis(host=host, port=port, db=0, socket_timeout=5)
            value = f"bar-{i}-{run}".encode()
            assert r.set("redis-py:foo", value) is True
            got = r.get("redis-py:foo")
            assert got == value, f"node {i + 1} run {run}: got {got!r}, want {value!r}"
            r.close()
    return f"{4 * len(target.nodes())} runs"


@case
def redis_py_pipeline():
    """pipeline(transaction=False) of 50 SET k new / GET k pairs after k
    was set to old, 10 times, then one of INCR n; GET n; INCR n; GET n on
    20 fresh keys; on the leader and on a follower."""
    out = []
    for role, i in (("leader", target.leader()), ("follower", target.follower())):
        r = target.client(i)
        stale = []
        for rnd in range(10):
            keys = [f"redis-py:{role}:p{rnd}:{k}" for k in range(50)]
            r.mset({k: "old" for k in keys})
            pipe = r.pipeline(transaction=False)
            for k in keys:
                pipe.set(k, "new").get(k)
            res = pipe.execute()
            stale += [(k, res[2 * j + 1]) for j, k in enumerate(keys)
                      if res[2 * j:2 * j + 2] != [True, b"new"]]
        pipe = r.pipeline(transaction=False)
        for k in range(20):
            n = f"redis-py:{role}:n{k}"
            pipe.incr(n).get(n).incr(n).get(n)
        res = pipe.execute()
        bad = [res[j:j + 4] for j in range(0, 80, 4) if res[j:j + 4] != [1, b"1", 2, b"2"]]
        assert not stale and not bad, (f"{role}: {len(stale)} of 500 GETs read an old value "
                                       f"(first {stale[:1]}); {len(bad)} of 20 INCR/GET wrong "
                                       f"(first {bad[:1]})")
        out.append(f"{role}: 500 SET/GET, 20 INCR/GET")
        r.close()
    return "; ".join(out)


@case
def redis_py_multi_exec():
    """r.pipeline() (a MULTI/EXEC transaction) of SET, INCR, GET on the
    leader and on a follower, read from the other; and one whose INCR
    fails at run time: the others still run, that one is the error."""
    for role, i, o in (("leader", target.leader(), target.follower()),
                       ("follower", target.follower(), target.leader())):
        r, other = target.client(i), target.client(o)
        k, n = f"redis-py:{role}:m", f"redis-py:{role}:c"
        res = r.pipeline().set(k, "v1").incr(n).get(k).execute()
        assert res == [True, 1, b"v1"], f"{role}: EXEC gave {res}"
        got = [other.get(k), other.get(n)]
        assert got == [b"v1", b"1"], f"{role}: read from another node: {got}"
        res = r.pipeline().set(k, "abc").incr(k).get(k).execute(raise_on_error=False)
        assert res[0] is True and res[2] == b"abc", f"{role}: EXEC gave {res}"
        assert isinstance(res[1], redis.ResponseError) and \
            str(res[1]) == "value is not an integer or out of range", f"{role}: {res[1]!r}"
    return "leader and follower"


@case
def redis_py_select_db1():
    """redis.Redis(db=1) on a follower: SET and GET there; a db 0 client
    of the leader does not see the key, a db 1 client of the leader does."""
    k = "redis-py:db1key"
    r1 = target.client(target.follower(), db=1)
    assert r1.set(k, "in-db1") is True
    assert r1.get(k) == b"in-db1"
    r0 = target.client(target.leader())
    assert r0.get(k) is None, f"db 0 reads {r0.get(k)!r}"
    assert r0.exists(k) == 0
    assert target.client(target.leader(), db=1).get(k) == b"in-db1"


@case
def redis_py_reconnect():
    """A client of the leader; the node is killed (kill -9) and started
    again; the same client object's next commands succeed."""
    i = target.leader()
    r = target.client(i)
    assert r.set("redis-py:restart", "before") is True
    target.restart(i)
    got = r.get("redis-py:restart")
    assert got == b"before", f"GET after the restart: {got!r}"
    assert r.set("redis-py:restart", "after") is True
    assert r.get("redis-py:restart") == b"after"
    return f"node {i + 1} (the leader) restarted"


@case
def redis_py_sentinel():
    """Sentinel([the three nodes]).master_for(name): INCRs through a kill -9
    of the master, checked as the Node.js clients' are."""
    s = Sentinel([tuple(a) for a in target.sentinels()], socket_timeout=2,
                 socket_connect_timeout=2)
    m = s.master_for(MASTER_NAME, socket_timeout=3, socket_connect_timeout=2)
    key = "redis-py:sentinel:counter"
    history, killed_at, back, last_error = [], None, [], None
    end = time.time() + BEFORE_KILL_S
    while time.time() < end:
        acked = sum(1 for v in history if v != "E")
        if killed_at is None and acked >= BEFORE_KILL:
            back.append(target.kill_master())
            killed_at, end = acked, time.time() + AFTER_KILL_S
        if killed_at is not None and acked - killed_at >= AFTER_KILL:
            break
        try:
            history.append(m.incr(key))
        except (redis.RedisError, OSError) as e:
            history.append("E")
            last_error = e
            time.sleep(0.05)
    try:
        acked = sum(1 for v in history if v != "E")
        assert killed_at is not None, \
            f"{acked} INCRs acknowledged in {BEFORE_KILL_S} s; last error: {last_error!r}"
        assert acked - killed_at >= AFTER_KILL, \
            (f"{acked - killed_at} INCRs acknowledged in {AFTER_KILL_S} s after the kill; "
             f"last error: {last_error!r}")
        final = int(retry(lambda: m.get(key)))
        return check_history(history, final)
    finally:
        for b in back:
            b()


def main():
    global target
    ioredis = node_cases("ioredis", "ioredis_cases.js")
    node_redis = node_cases("node_redis", "node_redis_cases.js")
    hiredis = hiredis_cases()
    plain = ([redis_py_getting_started, redis_py_pipeline, redis_py_multi_exec,
              redis_py_select_db1] + ioredis[0] + node_redis[0] + hiredis[0])
    cases = (plain + [redis_py_reconnect] + ioredis[1] + node_redis[1] + hiredis[1] +
             [redis_py_sentinel] + ioredis[2] + node_redis[2])
    if REDIS_MODE:
        version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        print(f"checking the tests against redis-server: {version.stdout.strip()}")
        target = RedisServers()
    else:
        if not os.access(harness.SERVER, os.X_OK):
            print(f"clients: 0 passed, 1 failed ({harness.SERVER} is not built)")
            return 1
        target = Keel()
    try:
        return run_suite("clients", cases, ())
    finally:
        target.cleanup()


if __name__ == "__main__":
    sys.exit(main())
