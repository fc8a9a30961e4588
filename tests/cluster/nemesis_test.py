#!/usr/bin/python3
"""tests/cluster/nemesis_test.py - the fault-injection suite on real
processes (Jepsen's method): concurrent clients record every operation as
invoked and then ok, failed or unknown, while nemeses kill, pause,
partition, reconfigure, snapshot and fill the disk of a 3-node cluster;
then the faults heal and the history is checked.

Workloads: registers (SET of unique values and GET on a few keys),
counters (INCR and GET), a set (distinct keys written once, all read at
the end: lost acknowledged writes), transactions (MULTI/EXEC setting three
keys to one value; every read of them must see one value: atomicity).
Checkers: linearizability per key by tools/lincheck (the simulator's
checker), lost writes, atomicity, and liveness (the cluster serves again
after the faults heal). A violation saves the history and every node's log
under build/nemesis-failures/.

Partitions are iptables rules in a chain of the suite's own (keel-nemesis-
<pid>), jumped to from OUTPUT and always removed; the full disk is a small
tmpfs under one node's data folder. Both need root.

Usage: nemesis_test.py BUILD_DIR [--time S] [--seed N] [SCENARIO...]
Scenarios: partition_kill, pause_membership, snapshot_disk, reshard (3
shards: ranges of 1000 slots move between them, each move hit by a
partition, a kill or a pause while it runs; every move must end once the
faults heal), isolated_follower (at most 25 s: a follower cut off, then
a new key written at the leader and read at that follower, in the
history: a follower that reads its own state answers nil every time),
all (every nemesis together but reshard). Prints one line per scenario and `nemesis: N passed, M
failed`."""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import redis

import harness
from harness import BASE, Cluster

ARGS = [a for a in sys.argv[2:]]
TIME = 60
SEED = int(time.time())
if "--time" in ARGS:
    TIME = int(ARGS[ARGS.index("--time") + 1])
    del ARGS[ARGS.index("--time"):ARGS.index("--time") + 2]
if "--seed" in ARGS:
    SEED = int(ARGS[ARGS.index("--seed") + 1])
    del ARGS[ARGS.index("--seed"):ARGS.index("--seed") + 2]
LINCHECK = os.path.join(harness.BUILD, "tools", "lincheck")
CHAIN = f"keel-nemesis-{os.getpid()}"
EPOCH_S = 10
CRASHES = ("Assertion", "assertion failed", "AddressSanitizer", "LeakSanitizer", "runtime error:",
           "Segmentation fault")
harness.DEADLINE = time.time() + 3600


def now_us():
    return time.monotonic_ns() // 1000


def peer_port(i):
    return BASE + harness.PEER_OFFSET + i


# ---- the history --------------------------------------------------------

class History:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []  # [key, kind, outcome, invoke, complete, arg, out, nil, client, id]
        self.counts = {"ok": 0, "fail": 0, "unknown": 0}
        self.set_acked, self.set_unknown = set(), set()
        self.txn_bad = []
        self.start = time.monotonic()
        self.why = {}  # op id -> the error that ended it

    def add(self, key, kind, outcome, t0, arg=0, out=0, nil=0, client=0, why=None):
        with self.lock:
            self.counts[outcome] += 1
            if kind == "r" and outcome != "ok":
                return  # a read that failed took no effect
            if why:
                self.why[len(self.ops)] = why[:200]
            self.ops.append([key, kind, outcome, t0, now_us() if outcome != "unknown" else 0,
                             arg, out, nil, client, len(self.ops)])


DEFINITE = ("CLUSTERDOWN", "TRYAGAIN", "REMOVED", "READONLY", "ERR the node is shutting down",
            "ERR the node has stopped", "ERR storage failed")


def outcome_of(e):
    """ok/fail/unknown for an exception: definite errors say the write was
    not applied (SPEC.md §4); timeouts and lost connections do not."""
    if isinstance(e, redis.ResponseError) and str(e).startswith(DEFINITE):
        return "fail"
    if isinstance(e, redis.ConnectionError) and "Connection refused" in str(e):
        return "fail"  # never sent
    return "unknown"


class Client(threading.Thread):
    def __init__(self, c, hist, n, stop):
        super().__init__(daemon=True)
        self.c, self.h, self.n, self.stop = c, hist, n, stop
        self.rng = random.Random(SEED * 1000 + n)
        self.r = None
        self.seq = 0

    def conn(self):
        if self.r is None:
            i = self.rng.choice(sorted(self.c.procs) or [1])
            host, port = self.c.addr(i)
            self.r = redis.Redis(host=host, port=port, socket_timeout=1.5,
                                 socket_connect_timeout=1, decode_responses=True)
        return self.r

    def run(self):
        while not self.stop.is_set():
            self.seq += 1
            p = self.rng.random()
            try:
                if p < 0.35:
                    self.register()
                elif p < 0.55:
                    self.counter()
                elif p < 0.8:
                    self.set_add()
                else:
                    self.txn()
            except Exception:  # noqa: the outcome is recorded by the op
                self.r = None  # a fresh connection, maybe to another node
                time.sleep(0.05)

    def op(self, key, kind, f, arg=0):
        t0 = now_us()
        try:
            v = f(self.conn())
        except (redis.RedisError, OSError) as e:
            self.h.add(key, kind, outcome_of(e), t0, arg=arg, client=self.n,
                       why=f"{type(e).__name__}: {e}")
            raise
        if kind == "r":
            self.h.add(key, "r", "ok", t0, out=int(v) if v is not None else 0,
                       nil=1 if v is None else 0, client=self.n)
        elif kind == "i":
            self.h.add(key, "i", "ok", t0, arg=arg, out=int(v), client=self.n)
        else:
            self.h.add(key, "w", "ok", t0, arg=arg, client=self.n)

    def epoch(self):
        """Keys rotate every EPOCH_S seconds (Jepsen's independent keys):
        the checker's search grows fast with the operations on one key."""
        return int((time.monotonic() - self.h.start) / EPOCH_S) * 16

    def register(self):
        k = self.epoch() + self.rng.randrange(4)
        if self.rng.random() < 0.5:
            self.op(k, "r", lambda r: r.get(f"reg:{k}"))
        else:
            v = self.n * 10_000_000 + self.seq
            self.op(k, "w", lambda r: r.set(f"reg:{k}", v), arg=v)

    def counter(self):
        k = 8 + self.epoch() + self.rng.randrange(2)
        if self.rng.random() < 0.4:
            self.op(k, "r", lambda r: r.get(f"ctr:{k}"))
        else:
            self.op(k, "i", lambda r: r.incr(f"ctr:{k}"), arg=1)

    def set_add(self):
        key = f"set:{self.n}:{self.seq}"
        try:
            self.conn().set(key, "1")
        except (redis.RedisError, OSError) as e:
            with self.h.lock:
                self.h.counts[outcome_of(e)] += 1
                if outcome_of(e) == "unknown":
                    self.h.set_unknown.add(key)
            raise
        with self.h.lock:
            self.h.counts["ok"] += 1
            self.h.set_acked.add(key)

    def txn(self):
        r = self.conn()
        if self.rng.random() < 0.5:
            v = str(self.n * 10_000_000 + self.seq)
            p = r.pipeline(transaction=True)
            for k in "abc":
                p.set(f"{{txn}}{k}", v)  # one slot: one shard when sharded
            try:
                p.execute()
                outcome = "ok"
            except (redis.RedisError, OSError) as e:
                outcome = outcome_of(e)
            with self.h.lock:
                self.h.counts[outcome] += 1
            if outcome != "ok":
                raise redis.RedisError("txn")
        else:
            try:
                got = r.mget("{txn}a", "{txn}b", "{txn}c")
            except (redis.RedisError, OSError) as e:
                with self.h.lock:
                    self.h.counts["fail"] += 1
                raise e
            with self.h.lock:
                self.h.counts["ok"] += 1
                if len(set(got)) != 1:
                    self.h.txn_bad.append(got)


# ---- nemeses ------------------------------------------------------------

class Nemesis:
    def __init__(self, c, rng):
        self.c, self.rng = c, rng
        self.faults = {}
        self.paused = set()
        self.chain = False
        self.next_id = 4
        self.tmpfs = None

    def count(self, name):
        self.faults[name] = self.faults.get(name, 0) + 1

    # partitions
    def ipt(self, *args):
        subprocess.run(["iptables", "-w", *args], check=True, capture_output=True, timeout=10)

    def chain_up(self):
        if not self.chain:
            self.ipt("-N", CHAIN)
            self.ipt("-I", "OUTPUT", "-j", CHAIN)
            self.chain = True

    def cut(self, a, b):
        """Nothing from a reaches b on the peer ports (one way)."""
        self.chain_up()
        self.ipt("-A", CHAIN, "-s", f"127.0.0.{a}", "-d", f"127.0.0.{b}", "-p", "tcp",
                 "--dport", str(peer_port(b)), "-j", "DROP")
        self.ipt("-A", CHAIN, "-s", f"127.0.0.{a}", "-d", f"127.0.0.{b}", "-p", "tcp",
                 "--sport", str(peer_port(a)), "-j", "DROP")

    def lossy(self, a, b, p):
        """A fraction p of what a sends b on the peer ports is lost."""
        self.chain_up()
        for port_opt in (("--dport", str(peer_port(b))), ("--sport", str(peer_port(a)))):
            self.ipt("-A", CHAIN, "-s", f"127.0.0.{a}", "-d", f"127.0.0.{b}", "-p", "tcp",
                     *port_opt, "-m", "statistic", "--mode", "random", "--probability",
                     f"{p:.2f}", "-j", "DROP")

    def heal_net(self):
        if self.chain:
            self.ipt("-F", CHAIN)

    def chain_down(self):
        if self.chain:
            subprocess.run(["iptables", "-w", "-D", "OUTPUT", "-j", CHAIN], capture_output=True)
            subprocess.run(["iptables", "-w", "-F", CHAIN], capture_output=True)
            subprocess.run(["iptables", "-w", "-X", CHAIN], capture_output=True)
            self.chain = False

    def members(self):
        return sorted(self.c.procs)

    def partition(self):
        nodes = [1, 2, 3]
        lead = self.c.leader(2)
        kind = self.rng.choice(["halves", "isolate_leader", "bridge", "one_way", "loss"])
        if kind == "loss":  # random packet loss between every pair
            p = self.rng.uniform(0.05, 0.3)
            for a in nodes:
                for b in nodes:
                    if a != b:
                        self.lossy(a, b, p)
            self.count("packet_loss")
            return
        if kind == "isolate_leader" and lead in nodes:
            alone, rest = [lead], [n for n in nodes if n != lead]
        else:
            self.rng.shuffle(nodes)
            alone, rest = nodes[:1], nodes[1:]
        if kind == "bridge":  # rest[0] sees both sides; alone and rest[1] do not meet
            self.cut(alone[0], rest[1])
            self.cut(rest[1], alone[0])
        elif kind == "one_way":
            for b in rest:
                self.cut(alone[0], b)
        else:
            for b in rest:
                self.cut(alone[0], b)
                self.cut(b, alone[0])
        self.count(f"partition:{kind}")

    def isolate_follower(self):
        """A follower (not the leader) cut off both ways: returns (leader,
        follower), or (None, None) if there is no leader to tell them by."""
        lead = self.c.leader(2)
        followers = [i for i in (1, 2, 3) if i != lead and i in self.c.procs]
        if not lead or not followers:
            return None, None
        f = self.rng.choice(followers)
        for b in (1, 2, 3):
            if b != f:
                self.cut(f, b)
                self.cut(b, f)
        self.count("partition:isolate_follower")
        return lead, f

    # processes
    def kill(self):
        lead = self.c.leader(2)
        live = [i for i in self.c.procs if i <= 3]
        kind = self.rng.choice(["random", "leader", "all"])
        victims = live if kind == "all" else [lead] if kind == "leader" and lead else \
            [self.rng.choice(live)] if live else []
        for i in victims:
            self.c.kill(i, signal.SIGKILL)
        self.count(f"kill:{kind}")

    def pause(self):
        lead = self.c.leader(2)
        live = [i for i in self.c.procs if i not in self.paused]
        i = lead if lead and self.rng.random() < 0.5 else self.rng.choice(live)
        os.kill(self.c.procs[i].pid, signal.SIGSTOP)
        self.paused.add(i)
        self.count("pause")

    def resume(self):
        for i in list(self.paused):
            if i in self.c.procs:
                os.kill(self.c.procs[i].pid, signal.SIGCONT)
        self.paused.clear()

    def heal(self):
        """Ends every fault: the network, pauses, the disk, dead nodes."""
        self.heal_net()
        self.resume()
        self.free_disk()
        self.restart_dead()

    def restart_dead(self):
        for i in (1, 2, 3):
            p = self.c.procs.get(i)
            if p is not None and p.poll() is not None:  # it stopped by itself (disk full)
                del self.c.procs[i]
            if i not in self.c.procs:
                self.c.start(i)

    # operations
    def admin(self, *cmd):
        for i in self.rng.sample(self.members(), len(self.members())):
            try:
                return self.c.client(i, 3).execute_command(*cmd)
            except (redis.RedisError, OSError):
                continue
        return None

    def membership(self):
        """A new node joins as a learner (promoted once caught up), then is
        removed; or leadership moves."""
        if self.rng.random() < 0.4:
            lead = self.c.leader(2)
            to = self.rng.choice([i for i in (1, 2, 3) if i != lead])
            self.admin("RAFT", "TRANSFER", str(to))
            self.count("transfer")
            return
        extra = [i for i in self.c.procs if i > 3]
        if extra:
            i = extra[0]
            if self.admin("RAFT", "REMOVE", str(i)) == "OK":
                self.c.kill(i, signal.SIGTERM)
                self.count("remove")
            return
        i = self.next_id
        if i > 9:
            return
        self.next_id += 1
        self.c.start_new(i, ["--join", f"127.0.0.1:{BASE + 1}"])
        self.count("join")

    # slots (the reshard scenario: 3 shards)
    def reshard(self):
        """A range of 1000 slots, all of one shard, moves to another
        (KEEL.RESHARD, as keel-cli reshard sends it, to any member); the
        fault that follows hits it while it runs."""
        info = None
        for i in self.rng.sample(self.members(), len(self.members())):
            try:
                info = self.c.client(i, 2).info("shards")
                break
            except (redis.RedisError, OSError):
                continue
        if not info or "migration" not in info or info["migration"] != "none":
            return
        owner = {}
        for g in range(3):
            for part in str(info[f"shard{g}"]["slots"]).split():
                a, _, b = part.partition("-")
                for s in range(int(a), int(b or a) + 1):
                    owner[s] = g
        starts = [s for s in range(0, 16384 - 999, 1000)
                  if len({owner.get(x) for x in range(s, s + 1000)}) == 1]
        if not starts:
            return
        first = self.rng.choice(starts)
        to = self.rng.choice([g for g in range(3) if g != owner[first]])
        if self.admin("KEEL.RESHARD", str(first), str(first + 999), str(to)) == "OK":
            self.count("reshard")

    def reshard_then(self, fault):
        self.reshard()
        time.sleep(self.rng.uniform(0, 0.3))
        fault()

    def snapshot(self):
        i = self.rng.choice(self.members())
        try:
            self.c.client(i, 3).execute_command("RAFT", "SNAPSHOT")
            self.count("snapshot")
        except (redis.RedisError, OSError):
            pass

    def fill_disk(self):
        """Node 3's data folder is a small tmpfs; a writer fills it."""
        if not self.tmpfs:
            return
        st = os.statvfs(self.tmpfs)
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        size = (used >> 20) + 2  # MiB: what it holds and 2 more
        p = subprocess.run(["mount", "-o", f"remount,size={size}m", self.tmpfs],
                           capture_output=True)
        if p.returncode == 0:
            self.count("disk_full")

    def free_disk(self):
        if self.tmpfs:
            subprocess.run(["mount", "-o", "remount,size=512m", self.tmpfs],
                           capture_output=True)


SCENARIOS = {
    "partition_kill": ["partition", "kill"],
    "pause_membership": ["pause", "membership"],
    "snapshot_disk": ["snapshot", "kill", "disk"],
    "all": ["partition", "kill", "pause", "membership", "snapshot", "disk"],
    # a follower cut off, and a read of a new write at it each time
    # (probe_isolated): what a follower reading its own state must fail
    "isolated_follower": ["isolate_follower"],
    # 3 shards: 1000 slots move between them while partitions, kills and
    # pauses hit the nodes (the metadata group's leader, which drives the
    # move, among them)
    "reshard": ["reshard_partition", "reshard_kill", "reshard_pause"],
}


def probe_isolated(c, hist, nem, n):
    """Isolates a follower, then writes a new key at the leader and reads
    it at the follower, both in the history the checker reads: a follower
    that answered the read from its own state (it cannot have the write)
    gives nil after the acknowledged write, every time; keel's follower
    cannot get a read index while cut off, and its read fails."""
    lead, f = nem.isolate_follower()
    if not f:
        return
    k, v = 1_000_000 + n, n + 1  # a key of its own: not the clients'
    t0 = now_us()
    try:
        c.client(lead, 2).set(f"reg:{k}", v)
    except (redis.RedisError, OSError) as e:
        hist.add(k, "w", outcome_of(e), t0, arg=v, client=90)
        return
    hist.add(k, "w", "ok", t0, arg=v, client=90)
    t0 = now_us()
    try:
        got = c.client(f, 2).get(f"reg:{k}")
    except (redis.RedisError, OSError) as e:
        hist.add(k, "r", outcome_of(e), t0, client=91)
        return
    hist.add(k, "r", "ok", t0, out=int(got) if got is not None else 0,
             nil=1 if got is None else 0, client=91)


def filler(c, stop):
    """Large writes, so that a small disk fills (not part of the history)."""
    while not stop.is_set():
        try:
            c.client(3, 2).set("filler", "x" * (256 << 10))
        except (redis.RedisError, OSError):
            time.sleep(0.1)


def run_scenario(name, duration):
    if name == "isolated_follower":  # its probes decide: 25 s make two or three
        duration = min(duration, 25)
    rng = random.Random(SEED)
    extra = ["--snapshot-entries", "300", "--trailing-entries", "100", "--segment-mb", "1",
             "--request-timeout-ms", "2000"]
    if name == "reshard":
        extra += ["--shards", "3"]
    c = Cluster(extra=extra)
    nem = Nemesis(c, rng)
    hist = History()
    stop = threading.Event()
    kinds = SCENARIOS[name]
    try:
        if "disk" in kinds:
            nem.tmpfs = os.path.join(c.dir, "3")
            os.makedirs(nem.tmpfs)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", nem.tmpfs],
                           check=True, capture_output=True)
        c.start_all()
        assert c.leader(20), "no leader at the start"
        clients = [Client(c, hist, n, stop) for n in range(6)]
        for t in clients:
            t.start()
        fill = None
        if "disk" in kinds:
            fill = threading.Thread(target=filler, args=(c, stop), daemon=True)
            fill.start()
        act = {"partition": nem.partition, "kill": nem.kill, "pause": nem.pause,
               "membership": nem.membership, "snapshot": nem.snapshot, "disk": nem.fill_disk,
               "isolate_follower": lambda: probe_isolated(
                   c, hist, nem, nem.faults.get("partition:isolate_follower", 0)),
               "reshard_partition": lambda: nem.reshard_then(nem.partition),
               "reshard_kill": lambda: nem.reshard_then(nem.kill),
               "reshard_pause": lambda: nem.reshard_then(nem.pause)}
        end = time.time() + duration
        while time.time() < end - 8:
            act[rng.choice(kinds)]()
            time.sleep(rng.uniform(2, 5))
            nem.heal()
            time.sleep(rng.uniform(1, 3))
        nem.heal()  # then liveness
        t0 = time.time()
        live_s = None
        while time.time() < t0 + 30:
            try:
                lead = c.leader(1)
                if lead and c.client(lead, 1).set("liveness", "1"):
                    live_s = time.time() - t0
                    break
            except (redis.RedisError, OSError):
                pass
            time.sleep(0.05)
        time.sleep(2)
        if name == "reshard":  # the last move resumes and ends once healed
            harness.wait_for("every migration done", lambda: all(
                c.client(i, 2).info("shards").get("migration") == "none"
                for i in (1, 2, 3)), 60)
        stop.set()
        for t in clients:
            t.join(10)
        if fill:
            fill.join(10)
        return check(c, hist, nem, live_s)
    finally:
        stop.set()
        nem.resume()
        nem.chain_down()
        c.stop_all(signal.SIGKILL)
        if nem.tmpfs:
            subprocess.run(["umount", "-l", nem.tmpfs], capture_output=True)
        if not os.environ.get("KEEL_KEEP_LOGS"):
            shutil.rmtree(c.dir, ignore_errors=True)


def save_failure(c, hist, why):
    """Saves the verdict, the whole history, every node's log, and the
    window that shows a linearizability violation: the operations on the
    key that overlap the second before the first operation the checker
    could not place, up to its answer."""
    d = os.path.abspath(f"build/nemesis-failures/{int(time.time())}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "history.txt"), "w") as f:
        for o in hist.ops:
            f.write(" ".join(str(x) for x in o) + "\n")
    m = re.search(r"NOT linearizable: key (\d+):.*?first not placed: [^\[]*\[(\d+),([^\]]+)\]",
                  why)
    if m:
        key, t0 = int(m.group(1)), int(m.group(2))
        t1 = int(m.group(3)) if m.group(3).isdigit() else t0 + 1_000_000
        with open(os.path.join(d, "window.txt"), "w") as f:
            f.write("# key kind outcome invoke complete arg out nil client id\n")
            for o in sorted(hist.ops, key=lambda o: o[3]):
                end = o[4] if o[4] else 1 << 62
                if o[0] == key and end >= t0 - 1_000_000 and o[3] <= t1:
                    err = hist.why.get(o[9])
                    f.write(" ".join(str(x) for x in o) + (f"  # {err}" if err else "") + "\n")
    for name in os.listdir(c.dir):
        if name.endswith(".log"):
            shutil.copy(os.path.join(c.dir, name), d)
    with open(os.path.join(d, "verdict.txt"), "w") as f:
        f.write(why + "\n")
    return d


def check(c, hist, nem, live_s):
    problems = []
    path = os.path.join(c.dir, "history.txt")
    with open(path, "w") as f:
        for o in hist.ops:
            f.write(" ".join(str(x) for x in o) + "\n")
    p = subprocess.run([LINCHECK, path], capture_output=True, text=True, timeout=600)
    verdict = (p.stdout + p.stderr).strip()
    if p.returncode != 0:  # a violation, an inconclusive search, or the checker failed
        problems.append(verdict if p.returncode in (1, 2) else f"lincheck failed: {verdict}")
    if live_s is None:
        problems.append("the cluster did not serve within 30 s after the faults healed")
    # lost writes: every acknowledged set key, on every voter
    lead = c.leader(10)
    keys = sorted(hist.set_acked)
    for i in (1, 2, 3):
        if not c.wait_caught_up(i, 30):
            problems.append(f"node {i} did not catch up after the faults healed")
            continue
        lost = []
        for k in range(0, len(keys), 500):
            part = keys[k:k + 500]

            def get_all(part=part):  # a GET each: the keys may be in several shards
                p = c.client(i, 10).pipeline(transaction=False)
                for key in part:
                    p.get(key)
                return p.execute()
            got = harness.retry(get_all)
            lost += [key for key, v in zip(part, got) if v != "1"]
        if lost:
            problems.append(f"node {i}: {len(lost)} acknowledged writes lost, e.g. {lost[:3]}")
    for name in sorted(os.listdir(c.dir)):  # a node that crashed is a failure too
        if name.endswith(".log"):
            with open(os.path.join(c.dir, name), errors="replace") as f:
                text = f.read()
            for sig in CRASHES:
                if sig in text:
                    line = next(ln for ln in text.splitlines() if sig in ln)
                    problems.append(f"node {name[:-4]} crashed: {line.strip()[:200]}")
                    break
    if hist.txn_bad:
        problems.append(f"{len(hist.txn_bad)} reads saw a transaction half applied, "
                        f"e.g. {hist.txn_bad[0]}")
    counts = hist.counts
    faults = ", ".join(f"{k} {v}" for k, v in sorted(nem.faults.items()))
    summary = (f"ops ok {counts['ok']}, failed {counts['fail']}, unknown {counts['unknown']}; "
               f"faults: {faults or 'none'}; {verdict}; serving again "
               f"{live_s:.2f} s after healing" if live_s is not None else "")
    if problems:
        d = save_failure(c, hist, "\n".join(problems))
        raise AssertionError("; ".join(problems) + f" [{summary}] (saved in {d})")
    assert lead, "no leader at the end"
    return summary


def main():
    if os.geteuid() != 0:
        print("nemesis: 0 passed, 1 failed (partitions and the full disk need root)")
        return 1
    names = ARGS or ["partition_kill", "pause_membership", "snapshot_disk", "reshard",
                     "isolated_follower"]
    for name in names:
        if name not in SCENARIOS:
            print(f"nemesis: 0 passed, 1 failed (no scenario {name})")
            return 1
    print(f"seed {SEED}, {TIME} s a scenario", flush=True)
    for name in names:
        def fn(name=name):
            return run_scenario(name, TIME)
        fn.__name__ = name
        harness.case(fn)()
    passed = sum(1 for _, ok in harness.results if ok)
    failed = len(harness.results) - passed
    print(f"nemesis: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
