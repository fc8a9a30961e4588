#!/usr/bin/python3
"""tests/cluster/pipeline_test.py - the pipeline property test: one
connection, one order. Many connections (spread over the three nodes,
leader and followers alike) each send random pipelines of 1..32 string
and key commands (SET with its options, GET, INCR..., MULTI/EXEC bodies)
on keys of their own, over raw RESP sockets so the test decides exactly
what is in flight, while other clients write other keys. Each
connection's replies must equal those a redis-server 7.0.15 (started by
the test on loopback) gives for the same commands sent one at a time,
each after the reply to the one before. Redis runs a connection's
commands one after another; keel must too.

The model. Every keel connection has a redis connection of its own; its
pipeline goes to keel in one write, then command by command to redis.
Replies are compared byte for byte, except TTL and PTTL: both -1 or both
-2, or both positive and within TTL_SLACK_S plus the longest time keel
took to answer a pipeline on these keys (the two servers start and read
the clock at different moments). Every expiry the test sets is at least 100 s
away, so no key expires during a run except the ones an EXPIRE in the
past deletes at once (the same on both).

Faults (the nemesis variant; SPEC.md §4 says what each error means):
  - `-TRYAGAIN` or `-CLUSTERDOWN` for a command: it was not applied; the
    model skips it (it is not sent to redis; an EXEC so refused becomes a
    DISCARD there) and goes on comparing the commands after it;
  - `-TIMEOUT ...` (the write may have been applied), a connection that
    breaks or is silent for READ_TIMEOUT_S, or a refusal inside a MULTI
    body: the state of the connection's keys is unknown from that
    command on. Replies before it have been compared; none after it are.
    The connection then reconnects (to keel, maybe another node, and to
    redis) and moves to fresh keys (a new generation in the key names), so
    a write still in flight cannot reach a key the model knows. Re-reading
    the old keys instead would race with such a write;
  - any other reply, errors included, is compared.
A mismatch is reported in full (the connection, its node, the pipeline
sent, keel's replies beside redis's); the connection then moves to fresh
keys too, so later pipelines are checked against a model that is right.
The run fails on any mismatch (it then stops at half its time), if fewer
than MIN_COMPARED of the commands sent were compared, or if a node's log
shows a sanitizer report.

Deterministic from a seed (printed; --seed picks it): each connection
draws its pipelines from its own generator; absolute expiry times are
now plus a drawn offset.

Usage: pipeline_test.py BUILD_DIR [--seed N] [--time S] [--conns N]
         [--nemesis] [--nemesis-time S] [--partition] [--one-at-a-time]
         [CASE...]
  plain run                  pipelines_equal_redis (S seconds of traffic)
  --nemesis                  also pipelines_equal_redis_while_leaders_die:
                             the leader killed (kill -9 by pid) and
                             restarted every few seconds
  --partition                that case also cuts the leader off from its
                             peers with iptables rules of its own chain
                             (needs root; disturbs nothing else, but make
                             test does not use it: other tests share the
                             machine's firewall)
  --one-at-a-time            a control: keel too gets one command at a
                             time (tells an ordering fault from another)
Prints one line per case and `pipeline: N passed, M failed`.
KEEL_TEST_BASE / KEEL_TEST_PEER_OFFSET choose the ports (harness.py); the
model redis-server listens on 127.0.0.1:BASE."""
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

import harness
from harness import Cluster, Writers, case, run_suite

# ---- options ------------------------------------------------------------

OPTS = {"--seed": int(time.time()) % 1000000, "--time": 40, "--conns": 12, "--nemesis-time": 30}
FLAGS = {"--nemesis": False, "--partition": False, "--one-at-a-time": False}
_rest = []
_args = sys.argv[2:]
while _args:
    a = _args.pop(0)
    if a in OPTS and _args:
        OPTS[a] = int(_args.pop(0))
    elif a in FLAGS:
        FLAGS[a] = True
    else:
        _rest.append(a)
sys.argv = sys.argv[:2] + _rest  # case names, for run_suite
SEED = OPTS["--seed"]
PARTITION = FLAGS["--partition"]
NEMESIS = FLAGS["--nemesis"] or PARTITION
ONE_AT_A_TIME = FLAGS["--one-at-a-time"]

KEYS_PER_CONN = 4
PIPELINE_MAX = 32
READ_TIMEOUT_S = 12  # keel answers every request within its 3 s timeout
TTL_SLACK_S = 2
MIN_COMPARED = {"plain": 0.9, "nemesis": 0.3}
MISMATCHES_SHOWN = 3
CRASHES = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "Assertion", "assertion failed")
harness.DEADLINE = time.time() + 900


# ---- RESP over a socket --------------------------------------------------

class Broken(Exception):
    """The connection closed, or said nothing for READ_TIMEOUT_S."""


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Conn:
    """One RESP2 connection; replies are ("+", bytes), ("-", bytes),
    (":", int), ("$", bytes or None), ("*", list or None)."""

    def __init__(self, host, port, timeout=READ_TIMEOUT_S):
        self.s = socket.create_connection((host, port), timeout=2)
        self.s.settimeout(timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.s.close()

    def send(self, cmds):
        try:
            self.s.sendall(b"".join(encode(c) for c in cmds))
        except OSError as e:
            raise Broken(str(e)) from e

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._more()

    def _more(self):
        try:
            data = self.s.recv(65536)
        except OSError as e:  # socket.timeout included
            raise Broken(str(e) or type(e).__name__) from e
        if not data:
            raise Broken("closed by the server")
        self.buf += data

    def reply(self):
        line = self._line()
        t, rest = line[:1].decode(), line[1:]
        if t in "+-":
            return (t, rest)
        if t == ":":
            return (t, int(rest))
        if t == "$":
            n = int(rest)
            if n < 0:
                return (t, None)
            while len(self.buf) < n + 2:
                self._more()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return (t, data)
        if t == "*":
            n = int(rest)
            return (t, None if n < 0 else [self.reply() for _ in range(n)])
        raise Broken(f"not RESP: {line[:80]!r}")

    def call(self, cmd):
        self.send([cmd])
        return self.reply()


def short(b):
    """A string or bulk reply, long ones cut to their start and length."""
    t = b.decode(errors="replace") if isinstance(b, bytes) else b
    return repr(t) if len(t) <= 24 else repr(t[:12]) + f"...({len(t)} bytes)"


def show(r):
    """A reply as one short line, in redis-cli's manner."""
    if r is None:
        return "(no reply)"
    t, v = r
    if t == "+":
        return "+" + v.decode(errors="replace")
    if t == "-":
        return "-" + v.decode(errors="replace")
    if t == ":":
        return f"(integer) {v}"
    if v is None:
        return "(nil)"
    if t == "$":
        return short(v)
    return "[" + ", ".join(show(x) for x in v) + "]"


def show_cmd(c):
    return " ".join(a if a and " " not in a and len(a) <= 24 else short(a) for a in c)


# ---- the commands --------------------------------------------------------

class Gen:
    """A connection's random pipelines, drawn from its own generator.
    Each command is (args, how): how is "exact", "ttl" or "pttl" (compared
    loosely, see same()) or, for EXEC, the list of its queued commands'
    hows."""

    def __init__(self, n):
        self.rng = random.Random(SEED * 1000 + n)
        self.n = n
        self.gen = 0

    def keys(self):
        return [f"p{self.n}.{self.gen}.{j}" for j in range(KEYS_PER_CONN)]

    def key(self):
        return self.rng.choice(self.keys())

    def some_keys(self):
        return self.rng.sample(self.keys(), self.rng.randint(1, KEYS_PER_CONN))

    def value(self):
        r = self.rng
        return r.choice([
            str(r.randint(-5, 100)), str(r.randint(0, 9)), f"v{r.randrange(1 << 16):x}", "",
            "12abc", "9223372036854775807", "-9223372036854775808", "1.5", "hello world",
            "x" * r.randint(1, 300)])

    def secs(self):
        return str(self.rng.randint(100, 100000))

    def expiry(self):
        """A SET/GETEX expiry option and its argument, at least 100 s away."""
        r, now = self.rng, time.time()
        return r.choice([
            ["EX", self.secs()], ["PX", str(r.randint(100000, 10 ** 8))],
            ["EXAT", str(int(now) + r.randint(100, 100000))],
            ["PXAT", str(int(now * 1000) + r.randint(100000, 10 ** 8))]])

    def set_cmd(self):
        r = self.rng
        c = ["SET", self.key(), self.value()]
        if r.random() < 0.3:
            c.append(r.choice(["NX", "XX"]))
        p = r.random()
        if p < 0.3:
            c += self.expiry()
        elif p < 0.4:
            c.append("KEEPTTL")
        if r.random() < 0.2:
            c.append("GET")
        if r.random() < 0.04:  # a syntax error now and then: refused, nothing changes
            c += r.choice([["NX", "XX"], ["EX", "0"], ["EX", "abc"], ["KEEPTTL", "EX", "5"]])
        return c

    def expire_cmd(self):
        r = self.rng
        name = r.choice(["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])
        secs = r.randint(100, 100000) if r.random() < 0.9 else -r.randint(1, 10)
        t = {"EXPIRE": secs, "PEXPIRE": secs * 1000, "EXPIREAT": int(time.time()) + secs,
             "PEXPIREAT": int(time.time() * 1000) + secs * 1000}[name]
        c = [name, self.key(), str(t)]
        if r.random() < 0.3:
            c.append(r.choice(["NX", "XX", "GT", "LT"]))
        return c

    def one(self):
        """One command (not MULTI/EXEC)."""
        r, k = self.rng, self.key()
        table = [
            (10, lambda: ["GET", k]),
            (10, self.set_cmd),
            (2, lambda: ["SETNX", k, self.value()]),
            (2, lambda: ["SETEX", k, self.secs(), self.value()]),
            (1, lambda: ["PSETEX", k, str(r.randint(100000, 10 ** 8)), self.value()]),
            (2, lambda: ["GETSET", k, self.value()]),
            (2, lambda: ["GETDEL", k]),
            (2, lambda: ["GETEX", k] + r.choice([[], ["PERSIST"], self.expiry()])),
            (3, lambda: ["MGET"] + self.some_keys()),
            (3, lambda: ["MSET"] + [x for key in self.some_keys() for x in (key, self.value())]),
            (1, lambda: ["MSETNX"] + [x for key in self.some_keys()
                                      for x in (key, self.value())]),
            (3, lambda: ["APPEND", k, self.value()]),
            (2, lambda: ["STRLEN", k]),
            (2, lambda: ["GETRANGE", k, str(r.randint(-10, 20)), str(r.randint(-10, 40))]),
            (2, lambda: ["SETRANGE", k, str(r.randint(0, 24)), self.value()]),
            (5, lambda: [r.choice(["INCR", "DECR"]), k]),
            (3, lambda: [r.choice(["INCRBY", "DECRBY"]), k, str(r.randint(-100, 100))]),
            (1, lambda: ["INCRBYFLOAT", k, r.choice(["0.5", "-0.25", "1.5", "3", "abc"])]),
            (3, lambda: [r.choice(["DEL", "UNLINK"])] + self.some_keys()),
            (3, lambda: ["EXISTS"] + self.some_keys()),
            (1, lambda: ["TYPE", k]),
            (1, lambda: [r.choice(["RENAME", "RENAMENX"]), k, self.key()]),
            (3, self.expire_cmd),
            (3, lambda: ["TTL", k]),
            (2, lambda: ["PTTL", k]),
            (2, lambda: ["PERSIST", k]),
            (1, lambda: ["PING"]),
            (1, lambda: ["ECHO", self.value()]),
        ]
        x = r.uniform(0, sum(w for w, _ in table))
        for w, f in table:
            x -= w
            if x < 0:
                break
        c = f()
        return (c, {"TTL": "ttl", "PTTL": "pttl"}.get(c[0], "exact"))

    def transaction(self, room):
        """MULTI, up to room-2 commands, then EXEC (or DISCARD)."""
        r = self.rng
        body = [self.one() for _ in range(r.randint(0, min(5, room - 2)))]
        out = [(["MULTI"], "exact")] + body
        if r.random() < 0.05 and body:  # a command refused while queued: EXECABORT
            out.insert(r.randint(1, len(body)), (["GET"], "exact"))
        if r.random() < 0.1:
            return out + [(["DISCARD"], "exact")]
        return out + [(["EXEC"], [h for _, h in body])]

    def pipeline(self):
        size = self.rng.randint(1, PIPELINE_MAX)
        out = []
        while len(out) < size:
            if size - len(out) >= 3 and self.rng.random() < 0.08:
                out += self.transaction(size - len(out))
            else:
                out.append(self.one())
        return out


# ---- comparing -----------------------------------------------------------

def same(how, a, b, slack_s):
    """Whether keel's reply a matches redis's reply b; TTLs may differ by
    slack_s seconds."""
    if how in ("ttl", "pttl") and a[0] == b[0] == ":" and a[1] > 0 and b[1] > 0:
        return abs(a[1] - b[1]) <= slack_s * (1000 if how == "pttl" else 1)
    if isinstance(how, list) and a[0] == b[0] == "*" and a[1] is not None \
            and b[1] is not None and len(a[1]) == len(b[1]) == len(how):
        return all(same(h, x, y, slack_s) for h, x, y in zip(how, a[1], b[1]))
    return a == b


def not_applied(r):
    return r[0] == "-" and r[1].startswith((b"TRYAGAIN", b"CLUSTERDOWN"))


def unknown(r):
    return r[0] == "-" and r[1].startswith(b"TIMEOUT")


# ---- one connection ------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.n = {"pipelines": 0, "sent": 0, "compared": 0, "skipped": 0, "unknown": 0,
                  "resyncs": 0, "mismatches": 0, "broken": 0, "by_node": {}}
        self.reports = []

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                self.n[k] += v


class Client(threading.Thread):
    """Connection n: pipelines to keel (node n % 3 + 1 first), then the
    same commands one at a time to its own redis connection."""

    def __init__(self, c, n, redis_port, stop, stats):
        super().__init__(daemon=True)
        self.c, self.n, self.redis_port, self.stop, self.st = c, n, redis_port, stop, stats
        self.g = Gen(n)
        self.keel = self.redis = None
        self.node = None
        self.count = 0
        self.slowest_s = 0  # the slowest pipeline on keel since the keys were fresh

    def connect(self):
        """A keel connection (its first choice of node, else any live one)
        and a fresh redis connection."""
        self.close()
        self.redis = Conn("127.0.0.1", self.redis_port)
        order = [(self.n + k) % 3 + 1 for k in range(3)]
        while not self.stop.is_set():
            for i in order:
                try:
                    self.keel = Conn(*self.c.addr(i))
                    self.node = i
                    with self.st.lock:
                        self.st.n["by_node"][i] = self.st.n["by_node"].get(i, 0) + 1
                    return True
                except OSError:
                    continue
            time.sleep(0.2)
        return False

    def close(self):
        for x in (self.keel, self.redis):
            if x:
                x.close()
        self.keel = self.redis = None

    def run(self):
        while not self.stop.is_set():
            if self.keel is None and not self.connect():
                return
            self.count += 1
            p = self.g.pipeline()
            t0 = time.monotonic()
            got, broke = self.send_keel(p)
            self.slowest_s = max(self.slowest_s, time.monotonic() - t0)
            self.st.add(pipelines=1, sent=len(p), broken=int(broke))
            if self.check(p, got, broke):
                self.st.add(resyncs=1)
                self.g.gen += 1
                self.slowest_s = 0
                self.close()
        self.close()

    def send_keel(self, p):
        """keel's replies to pipeline p (a prefix, if the connection broke)."""
        got = []
        try:
            if ONE_AT_A_TIME:
                for cmd, _ in p:
                    got.append(self.keel.call(cmd))
            else:
                self.keel.send([cmd for cmd, _ in p])
                for _ in p:
                    got.append(self.keel.reply())
            return got, False
        except Broken:
            return got, True

    def check(self, p, got, broke):
        """Replays p on redis as far as keel's replies say what happened;
        True when the connection must move to fresh keys."""
        want = [None] * len(p)
        in_multi = False
        for i, ((cmd, how), r) in enumerate(zip(p, got)):
            name = cmd[0]
            if unknown(r) or (in_multi and not_applied(r) and name != "EXEC"):
                self.st.add(unknown=1)
                return self.mismatch_done(p, got, want, None)
            if not_applied(r):
                self.st.add(skipped=1)
                if name == "EXEC" and in_multi:  # the transaction ends, not applied
                    self.redis.call(["DISCARD"])
                    in_multi = False
                continue
            want[i] = self.redis.call(cmd)
            in_multi = (in_multi or name == "MULTI") and name not in ("EXEC", "DISCARD")
            if not same(how, r, want[i], TTL_SLACK_S + self.slowest_s):
                return self.mismatch_done(p, got, want, i)
            self.st.add(compared=1)
        if broke:
            self.st.add(unknown=1)
        return broke

    def mismatch_done(self, p, got, want, i):
        if i is None:
            return True
        self.st.add(mismatches=1)
        with self.st.lock:
            if len(self.st.reports) >= MISMATCHES_SHOWN:
                return True
            role = (self.c.info(self.node) or {}).get("raft_role", "?")
            lines = [f"pipeline mismatch: connection {self.n} to node {self.node} ({role} now), "
                     f"its pipeline {self.count}, keys p{self.n}.{self.g.gen}.*, command "
                     f"#{i} differs; the pipeline sent ({len(p)} commands), keel's replies, "
                     f"redis's replies to the same commands one at a time:"]
            for j, (cmd, _) in enumerate(p[:i + 1]):
                k = show(got[j]) if j < len(got) else "(no reply)"
                w = show(want[j]) if want[j] is not None else "(not sent)"
                mark = "   <== differs" if j == i else ""
                lines.append(f"  {j:2} {show_cmd(cmd)[:100]}\n       keel  {k[:100]}\n"
                             f"       redis {w[:100]}{mark}")
            rest = [f"{show_cmd(cmd)[:40]} -> {show(r)[:30]}" for (cmd, _), r in
                    zip(p[i + 1:], got[i + 1:])]
            if rest:
                lines.append(f"  then (not compared; keel's replies): {'; '.join(rest)}")
            self.st.reports.append("\n".join(lines))
        return True


# ---- faults --------------------------------------------------------------

class Nemesis(threading.Thread):
    """Every 4-7 s: kill -9 the leader (by pid), restart it 1-2 s later;
    with --partition, every other round instead cuts the leader off from
    both peers (iptables, both ways) for 3-5 s."""

    def __init__(self, c, stop):
        super().__init__(daemon=True)
        self.c, self.stop = c, stop
        self.rng = random.Random(SEED)
        self.done = {"kill": 0, "partition": 0}
        self.chain = f"keel-pipeline-{os.getpid()}"
        self.chain_made = False

    def ipt(self, *args):
        subprocess.run(["iptables", "-w", *args], check=True, capture_output=True, timeout=10)

    def cut_off(self, a):
        if not self.chain_made:
            self.ipt("-N", self.chain)
            self.ipt("-I", "OUTPUT", "-j", self.chain)
            self.chain_made = True
        for b in (1, 2, 3):
            if b == a:
                continue
            for x, y in ((a, b), (b, a)):
                self.ipt("-A", self.chain, "-s", f"127.0.0.{x}", "-d", f"127.0.0.{y}", "-p", "tcp",
                         "--dport", str(peer_port(y)), "-j", "DROP")
                self.ipt("-A", self.chain, "-s", f"127.0.0.{x}", "-d", f"127.0.0.{y}", "-p", "tcp",
                         "--sport", str(peer_port(x)), "-j", "DROP")

    def heal(self):
        if self.chain_made:
            for args in (["-D", "OUTPUT", "-j", self.chain], ["-F", self.chain],
                         ["-X", self.chain]):
                subprocess.run(["iptables", "-w", *args], capture_output=True)
            self.chain_made = False

    def run(self):
        try:
            rounds = 0
            while not self.stop.wait(self.rng.uniform(4, 7)):
                lead = self.c.leader(3)
                if not lead:
                    continue
                rounds += 1
                if PARTITION and rounds % 2 == 0:
                    self.cut_off(lead)
                    self.stop.wait(self.rng.uniform(3, 5))
                    self.heal()
                    self.done["partition"] += 1
                else:
                    self.c.kill(lead, signal.SIGKILL)
                    self.stop.wait(self.rng.uniform(1, 2))
                    self.c.start(lead)
                    self.done["kill"] += 1
        finally:
            self.heal()


def peer_port(i):
    return harness.BASE + harness.PEER_OFFSET + i


# ---- the runs ------------------------------------------------------------

def start_redis(workdir):
    """redis-server 7.0.15, no persistence, on 127.0.0.1:BASE."""
    port = harness.BASE
    p = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                          "--appendonly", "no", "--dir", workdir, "--logfile",
                          os.path.join(workdir, "redis.log")])
    for _ in range(50):
        try:
            if Conn("127.0.0.1", port, 2).call(["PING"]) == ("+", b"PONG"):
                return p, port
        except (OSError, Broken):
            pass
        if p.poll() is not None:
            break
        time.sleep(0.1)
    p.kill()
    p.wait()
    raise AssertionError(f"redis-server did not start on port {port}")


def run(kind, seconds):
    print(f"  seed {SEED} ({kind}, {OPTS['--conns']} connections, {seconds} s; "
          f"rerun with --seed {SEED})", flush=True)
    work = tempfile.mkdtemp(prefix="keel-pipeline.")
    rp, port = start_redis(work)
    c = Cluster()
    stop = threading.Event()
    nem = None
    try:
        version = Conn("127.0.0.1", port).call(["INFO", "server"])[1]
        c.start_all()
        assert c.leader(30), "no leader elected"
        st = Stats()
        w = Writers(c, threads=2)
        clients = [Client(c, n, port, stop, st) for n in range(OPTS["--conns"])]
        for t in clients:
            t.start()
        if kind == "nemesis":
            nem = Nemesis(c, stop)
            nem.start()
        end = time.time() + seconds
        while time.time() < end and not (st.n["mismatches"] and time.time() > end - seconds / 2):
            time.sleep(0.5)
        stop.set()
        for t in clients:
            t.join(READ_TIMEOUT_S + 10)
        if nem:
            nem.join(30)
        acked = w.finish()
        return verdict(kind, c, st, nem, version, len(acked))
    finally:
        stop.set()
        if nem:
            nem.heal()
        c.cleanup()
        rp.kill()
        rp.wait()
        shutil.rmtree(work, ignore_errors=True)


def verdict(kind, c, st, nem, version, acked):
    n = st.n
    ver = next((ln.split(":")[1].strip() for ln in version.decode().splitlines()
                if ln.startswith("redis_version:")), "?")
    summary = (f"{n['pipelines']} pipelines, {n['sent']} commands sent, {n['compared']} compared "
               f"with redis {ver}, {n['skipped']} not applied (TRYAGAIN/CLUSTERDOWN), "
               f"{n['unknown']} unknown (TIMEOUT or broken), {n['resyncs']} resyncs; "
               f"connections per node {dict(sorted(n['by_node'].items()))}; "
               f"{acked} other writes acknowledged")
    if nem:
        summary += f"; faults {nem.done}"
    print("  " + summary, flush=True)
    for r in st.reports:
        print(r, flush=True)
    crashed = [i for i in (1, 2, 3) if any(x in c.log(i) for x in CRASHES)]
    assert not crashed, f"a sanitizer or assertion report in the log of node(s) {crashed}"
    assert n["mismatches"] == 0, f"{n['mismatches']} pipelines answered unlike redis " \
        f"(seed {SEED}; first ones above)"
    assert n["sent"] > 0 and n["compared"] >= MIN_COMPARED[kind] * n["sent"], \
        f"only {n['compared']} of {n['sent']} commands compared"
    if nem:
        assert nem.done["kill"] + nem.done["partition"] > 0, "no fault was injected"
    return summary


@case
def pipelines_equal_redis():
    return run("plain", OPTS["--time"])


@case
def pipelines_equal_redis_while_leaders_die():
    return run("nemesis", OPTS["--nemesis-time"])


if __name__ == "__main__":
    CASES = [pipelines_equal_redis] + ([pipelines_equal_redis_while_leaders_die] if NEMESIS else [])
    sys.exit(run_suite("pipeline", CASES, [harness.SERVER, shutil.which("redis-server") or
                                           "redis-server"]))
