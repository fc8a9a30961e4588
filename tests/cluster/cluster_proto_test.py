#!/usr/bin/env python3
"""tests/cluster/cluster_proto_test.py - the Redis Cluster protocol on real
processes (src/server/cluster.c): a 3-node keel answers the CLUSTER
commands in the shapes redis-py parses, on the leader and on a follower;
KEYSLOT and the errors are those of a redis-server in cluster mode started
beside it; cluster clients work unchanged (redis-py RedisCluster, with a
pipeline; redis-cli -c; redis-benchmark --cluster); a cluster-aware
connection's write on a follower gets -MOVED to the leader and is not
applied, a plain connection's is forwarded; after RAFT TRANSFER the old
leader redirects to the new one and RedisCluster follows.

    /usr/bin/python3 tests/cluster/cluster_proto_test.py BUILD_DIR [case...]

Prints one line per case and `cluster-proto: N passed, M failed`."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import redis
from redis.client import parse_cluster_info, parse_cluster_nodes
from redis.cluster import RedisCluster, parse_cluster_shards, parse_cluster_slots

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BASE, SERVER, Cluster, Raw, case, run_suite, wait_for  # noqa: E402
from harness import ioredis_cluster as ioredis_cluster_run  # noqa: E402

SLOTS = 16384


class RedisCluster1:
    """A redis-server in cluster mode (no slots assigned) on a free port
    beside keel, stopped by its pid: KEYSLOT and errors to compare with."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="keel-cproto-redis.")
        self.proc = None
        self.log = os.path.join(self.dir, "log")
        for port in range(BASE + 60, BASE + 75):
            self.port = port
            self.proc = subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                 "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-port",
                 str(port + 15), "--dir", self.dir, "--logfile", self.log])
            try:
                wait_for("redis-server", lambda: Raw(("127.0.0.1", port)).call("PING"), 5)
                return
            except AssertionError:
                self.proc.kill()
                self.proc.wait()
        raise AssertionError(f"redis-server did not start: {open(self.log).read()[-500:]}")

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def started(c):
    """Starts the cluster; waits until every node names the leader in
    CLUSTER SLOTS with all three members. Returns (leader, followers)."""
    c.start_all()
    lead = c.leader(20)
    assert lead, "no leader"
    want = sorted(c.addr(i) for i in (1, 2, 3))

    def everyone_knows():
        for i in (1, 2, 3):
            slots = parse_cluster_slots(c.client(i).execute_command("CLUSTER", "SLOTS"))
            got = slots.get((0, SLOTS - 1))
            if not got or got["primary"] != c.addr(lead):
                return False
            if sorted([got["primary"]] + got["replicas"]) != want:
                return False
        return True

    wait_for("every node to list the three members", everyone_knows, 30)
    return lead, [i for i in (1, 2, 3) if i != lead]


def node_id(i):
    return f"{i:040x}"


def check_shapes(c, i, lead):
    r = c.client(i)
    fols = [j for j in (1, 2, 3) if j != lead]
    slots = parse_cluster_slots(r.execute_command("CLUSTER", "SLOTS"))
    assert list(slots) == [(0, SLOTS - 1)], slots
    assert slots[0, SLOTS - 1]["primary"] == c.addr(lead), slots
    raw = Raw(c.addr(i)).call("CLUSTER", "SLOTS")
    assert raw[0][2] == [c.addr(lead)[0], f":{c.addr(lead)[1]}", node_id(lead), []], raw
    assert len(raw[0]) == 5, raw
    shards = parse_cluster_shards(r.execute_command("CLUSTER", "SHARDS"))
    assert len(shards) == 1 and shards[0]["slots"] == [(0, SLOTS - 1)], shards
    nodes = shards[0]["nodes"]
    assert [n["id"] for n in nodes][0] == node_id(lead), nodes
    assert sorted(n["id"] for n in nodes) == [node_id(j) for j in (1, 2, 3)], nodes
    for n in nodes:
        j = int(n["id"], 16)
        assert (n["ip"], n["port"]) == c.addr(j) and n["endpoint"] == n["ip"], n
        assert n["role"] == ("master" if j == lead else "replica"), n
        assert n["health"] == "online" and n["replication-offset"] >= 0, n
    table = parse_cluster_nodes(r.execute_command("CLUSTER", "NODES"))
    assert len(table) == 3, table
    for j in (1, 2, 3):
        e = table[f"{c.addr(j)[0]}:{c.addr(j)[1]}"]
        assert e["node_id"] == node_id(j) and e["connected"], e
        role = "master" if j == lead else "slave"
        assert e["flags"] == (f"myself,{role}" if j == i else role), e
        assert e["master_id"] == ("-" if j == lead else node_id(lead)), e
        assert e["slots"] == ([["0", str(SLOTS - 1)]] if j == lead else []), e
    info = parse_cluster_info(r.execute_command("CLUSTER", "INFO"))
    term = str(c.client(i).info("raft")["raft_term"])
    assert info["cluster_state"] == "ok", info
    assert info["cluster_slots_assigned"] == info["cluster_slots_ok"] == str(SLOTS), info
    assert info["cluster_known_nodes"] == "3" and info["cluster_size"] == "1", info
    assert info["cluster_current_epoch"] == info["cluster_my_epoch"] == term, (info, term)
    assert r.execute_command("CLUSTER MYID") == node_id(i)
    assert r.info("cluster") == {"cluster_enabled": 1}
    help_ = r.execute_command("CLUSTER HELP")
    assert help_[0].startswith("CLUSTER <subcommand>") and "SHARDS" in help_, help_
    return fols


@case
def reply_shapes():
    """Every CLUSTER subcommand on the leader and a follower, parsed by
    redis-py's own parsers; RESP3's verbatim CLUSTER INFO; no leader
    known: CLUSTER SLOTS empty, cluster_state:fail."""
    c = Cluster(3)
    try:
        lead, fols = started(c)
        for i in [lead] + fols:
            check_shapes(c, i, lead)
        k = Raw(c.addr(fols[0]))
        k.call("HELLO", "3")
        k.s.sendall(b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n")
        head = k.f.readline()
        assert head.startswith(b"=") and k.f.read(4) == b"txt:", head
        k.f.read(int(head[1:]) - 4 + 2)
        assert k.call("CLUSTER", "SHARDS")[0][:2] == ["slots", [":0", f":{SLOTS - 1}"]]
        k.close()
        # one node alone: no leader, so no slot is served
        c.kill(lead)
        c.kill(fols[1])
        r = c.client(fols[0])
        wait_for("no leader to be named",
                 lambda: r.execute_command("CLUSTER", "SLOTS") == [], 20)
        assert r.execute_command("CLUSTER", "SHARDS") == []
        info = parse_cluster_info(r.execute_command("CLUSTER", "INFO"))
        assert info["cluster_state"] == "fail" and info["cluster_size"] == "0", info
        assert info["cluster_slots_assigned"] == "0", info
        table = parse_cluster_nodes(r.execute_command("CLUSTER", "NODES"))
        me = table[f"{c.addr(fols[0])[0]}:{c.addr(fols[0])[1]}"]
        assert me["flags"] == "myself,master" and me["slots"] == [], table
        assert not table[f"{c.addr(lead)[0]}:{c.addr(lead)[1]}"]["connected"], table
        # a cluster-aware write with no leader known waits, as a plain one
        k = Raw(c.addr(fols[0]))
        k.call("READONLY")
        assert k.call("SET", "x", "1").startswith("-CLUSTERDOWN"), "no leader"
        k.close()
    finally:
        c.cleanup()


KEYS = ["foo", "bar", "", "{user1000}.following", "{user1000}.followers", "a{}b", "{}x",
        "a{b}c{d}", "{", "}{x}", "x{y", "k\xe9y", "123456789", "{{a}}", "key:0", "key:499"]


@case
def keyslot_and_errors_are_redis():
    """KEYSLOT of awkward keys, and the errors of COUNTKEYSINSLOT,
    GETKEYSINSLOT, wrong arity and an unknown subcommand, byte for byte
    as a redis-server in cluster mode gives them."""
    c = Cluster(3)
    rs = RedisCluster1()
    try:
        lead, fols = started(c)
        k, r = Raw(c.addr(fols[0])), Raw(("127.0.0.1", rs.port))
        assert k.call("CLUSTER", "KEYSLOT", "foo") == ":12182"
        assert k.call("CLUSTER", "KEYSLOT", "123456789") == ":12739"
        for key in KEYS:
            mine = k.call("CLUSTER", "KEYSLOT", key.encode("utf-8"))
            assert mine == r.call("CLUSTER", "KEYSLOT", key.encode("utf-8")), key
        bad = [["COUNTKEYSINSLOT", "-1"], ["COUNTKEYSINSLOT", "16384"],
               ["COUNTKEYSINSLOT", "99999999999999999999"], ["COUNTKEYSINSLOT", "x"],
               ["COUNTKEYSINSLOT", "1.5"], ["COUNTKEYSINSLOT"], ["COUNTKEYSINSLOT", "1", "2"],
               ["GETKEYSINSLOT", "0", "-1"], ["GETKEYSINSLOT", "-1", "1"],
               ["GETKEYSINSLOT", "16384", "1"], ["GETKEYSINSLOT", "x", "1"],
               ["GETKEYSINSLOT", "0", "y"], ["GETKEYSINSLOT", "0"], ["KEYSLOT"],
               ["KEYSLOT", "a", "b"], ["MYID", "x"], ["NOSUCH"], ["SLOTS", "x"], ["INFO", "x"]]
        for args in bad:
            mine, theirs = k.call("CLUSTER", *args), r.call("CLUSTER", *args)
            assert mine.startswith("-") and mine == theirs, (args, mine, theirs)
        assert k.call("CLUSTER") == r.call("CLUSTER")
        for cmd in ("READONLY", "READWRITE", "ASKING"):
            assert k.call(cmd) == r.call(cmd) == "+OK", cmd
            assert k.call(cmd, "x") == r.call(cmd, "x"), cmd
        names = ["cluster", "readonly", "readwrite", "asking"] + [
            f"cluster|{s}" for s in ("slots", "shards", "nodes", "info", "myid", "keyslot",
                                     "countkeysinslot", "getkeysinslot", "help")]
        mine, theirs = k.call("COMMAND", "INFO", "cluster")[0], r.call("COMMAND", "INFO",
                                                                         "cluster")[0]
        assert mine[:9] == theirs[:9] and all(s in theirs[9] for s in mine[9]), mine
        assert sorted(s[0] for s in mine[9]) == sorted(names[4:]), mine
        for name in names[1:]:
            assert k.call("COMMAND", "INFO", name) == r.call("COMMAND", "INFO", name), name
            mine, theirs = k.call("COMMAND", "DOCS", name), r.call("COMMAND", "DOCS", name)
            def fields(d):
                return [(a, v) for a, v in zip(d[1][0::2], d[1][1::2])
                        if a not in ("summary", "complexity")]
            assert mine[0] == theirs[0] and fields(mine) == fields(theirs), (mine, theirs)
        # HELP: Redis's lines for the subcommands keel has, in Redis's order
        mine, theirs = k.call("CLUSTER", "HELP"), r.call("CLUSTER", "HELP")
        it = iter(theirs)
        assert all(line in it for line in mine), (mine, theirs)
        assert len(mine) == 1 + 2 * 9 + 2 and "+SHARDS" in mine, mine
        assert k.call("CLUSTER", "COUNTKEYSINSLOT", "0") == ":0"
        assert k.call("CLUSTER", "GETKEYSINSLOT", "0", "0") == []
        k.close()
        r.close()
    finally:
        rs.stop()
        c.cleanup()


def write_read_500(rc, prefix):
    for n in range(500):
        assert rc.set(f"{prefix}:{n}", str(n)) is True
    for n in range(500):
        assert rc.get(f"{prefix}:{n}") == str(n), n
    p = rc.pipeline()
    for n in range(50):
        p.set(f"{prefix}:p{n}", f"v{n}")
        p.get(f"{prefix}:p{n}")
    out = p.execute()
    assert out == [x for n in range(50) for x in (True, f"v{n}")], out
    return [f"{prefix}:{n}" for n in range(500)] + [f"{prefix}:p{n}" for n in range(50)]


@case
def redis_cluster_client_and_keys_in_slots():
    """redis-py RedisCluster from a follower's address writes and reads
    back 500 keys and a pipeline; COUNTKEYSINSLOT and GETKEYSINSLOT on the
    leader (and on a follower once it has applied) agree with them."""
    c = Cluster(3)
    try:
        lead, fols = started(c)
        h, p = c.addr(fols[0])
        rc = RedisCluster(host=h, port=p, decode_responses=True, socket_timeout=10)
        keys = write_read_500(rc, "key")
        by_slot = {}
        for key in keys:
            by_slot.setdefault(int(c.client(lead).execute_command("CLUSTER KEYSLOT", key)),
                               set()).add(key)
        assert sum(len(v) for v in by_slot.values()) == 550
        assert c.wait_caught_up(fols[1])
        for i in (lead, fols[1]):
            r = c.client(i)
            for slot, want in list(by_slot.items())[:150]:
                assert r.execute_command("CLUSTER COUNTKEYSINSLOT", slot) == len(want), slot
                got = r.execute_command("CLUSTER GETKEYSINSLOT", slot, 1000)
                assert set(got) == want, (slot, got, want)
                if len(want) > 1:
                    one = r.execute_command("CLUSTER GETKEYSINSLOT", slot, 1)
                    assert len(one) == 1 and one[0] in want, one
        total = sum(c.client(lead).execute_command("CLUSTER COUNTKEYSINSLOT", s)
                    for s in by_slot)
        assert total == 550, total
        rc.close()
    finally:
        c.cleanup()


def cli(*args, stdin=None):
    p = subprocess.run(["redis-cli"] + list(args), input=stdin, capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout.strip()


@case
def moved_for_cluster_clients_only():
    """On a follower: redis-cli -c's SET succeeds (it follows MOVED); a
    connection that sent READONLY, or CLUSTER SLOTS, gets -MOVED <slot>
    <leader> for a write, nothing applied, and still reads; a plain
    connection's write is forwarded; MULTI/EXEC is served as before."""
    c = Cluster(3)
    try:
        lead, fols = started(c)
        (fh, fp), (lh, lp) = c.addr(fols[0]), c.addr(lead)
        leader = c.client(lead)
        rc, out = cli("-c", "-h", fh, "-p", str(fp), "SET", "k", "v")
        assert rc == 0 and out == "OK", (rc, out)
        assert leader.get("k") == "v"
        slot = leader.execute_command("CLUSTER KEYSLOT", "m1")
        rc, out = cli("-h", fh, "-p", str(fp), stdin="READONLY\nSET m1 x\nGET k\n")
        assert [x for x in out.split("\n") if x] == ["OK", f"MOVED {slot} {lh}:{lp}", "v"], out
        k = Raw((fh, fp))
        k.call("CLUSTER", "SLOTS")
        slot2 = leader.execute_command("CLUSTER KEYSLOT", "{m2}x")
        assert k.call("MSET", "{m2}x", "1", "{m2}y", "2") == f"-MOVED {slot2} {lh}:{lp}"
        assert k.call("INCR", "m1") == f"-MOVED {slot} {lh}:{lp}"
        assert k.call("GET", "k") == "v"
        # a cluster-aware MULTI/EXEC is served as today (forwarded)
        assert [k.call("MULTI"), k.call("SET", "t", "1"), k.call("EXEC")] == \
            ["+OK", "+QUEUED", ["+OK"]]
        assert k.call("RESET") == "+RESET"
        assert k.call("SET", "plain2", "y") == "+OK"
        k.close()
        assert leader.exists("m1", "{m2}x", "{m2}y") == 0
        assert leader.get("t") == "1" and leader.get("plain2") == "y"
        plain = c.client(fols[1])
        assert plain.set("plain", "z") is True and leader.get("plain") == "z"
        # on the leader, a cluster-aware write is simply applied
        k = Raw((lh, lp))
        k.call("READONLY")
        assert k.call("SET", "m1", "here") == "+OK"
        k.close()
    finally:
        c.cleanup()


@case
def leader_moves():
    """RAFT TRANSFER moves the leader: a cluster-aware write to the old
    leader gets -MOVED naming the new one; a RedisCluster made before the
    move keeps writing and reading (forwarded), one made after it sends
    writes to the new leader."""
    c = Cluster(3)
    try:
        lead, fols = started(c)
        h, p = c.addr(lead)
        rc = RedisCluster(host=h, port=p, decode_responses=True, socket_timeout=10)
        write_read_500(rc, "before")
        to = fols[0]
        assert c.client(lead).execute_command("RAFT", "TRANSFER", to) in ("OK", b"OK")
        new = c.leader(20, exclude=(lead,))
        assert new == to, (new, to)
        nh, np_ = c.addr(new)
        k = Raw((h, p))
        k.call("READWRITE")
        slot = c.client(new).execute_command("CLUSTER KEYSLOT", "after")
        wait_for("the old leader to redirect to the new one",
                 lambda: k.call("SET", "after", "1") == f"-MOVED {slot} {nh}:{np_}", 20)
        k.close()
        write_read_500(rc, "after")
        # redis-py asks for the map on a connection of its own, so its command
        # connections are plain: the old leader forwards them (docs/shards.md)
        assert rc.get_node_from_key("after").port == p, rc.get_node_from_key("after")
        assert rc.get("before:499") == "499"
        fresh = RedisCluster(host=h, port=p, decode_responses=True, socket_timeout=10)
        assert fresh.get_node_from_key("after").port == np_
        assert fresh.set("after", "2") is True and c.client(new).get("after") == "2"
        fresh.close()
        assert c.client(new).get("after:0") == "0"
        rc.close()
    finally:
        c.cleanup()


@case
def ioredis_cluster():
    """ioredis's Cluster, given a follower's address, writes 200 keys and
    reads them back, and runs a pipeline of one slot."""
    c = Cluster(3)
    try:
        lead, fols = started(c)
        got = ioredis_cluster_run(c.addr(fols[0]), 200, 20)
        assert got["got"] == [f"v{i}" for i in range(0, 200, 20)], got
        assert got["pipe"] == list(range(1, 11)) and got["slots"] == 1, got
        assert c.client(lead).get("io:199") == "v199"
    finally:
        c.cleanup()


def benchmark(h, p, cluster):
    out = subprocess.run(
        ["redis-benchmark"] + (["--cluster"] if cluster else []) +
        ["-h", h, "-p", str(p), "-t", "set,get", "-n", "2000", "-c", "10", "-q"],
        capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout + out.stderr


@case
def redis_benchmark_cluster():
    """redis-benchmark --cluster reads keel's CLUSTER NODES as it reads a
    one-master Redis Cluster's: one master (it needs two, so both stop with
    the same message until shards give keel several); plain
    redis-benchmark on a follower runs both tests."""
    c = Cluster(3)
    rs = RedisCluster1()
    try:
        lead, fols = started(c)
        r = Raw(("127.0.0.1", rs.port))
        assert r.call("CLUSTER", "ADDSLOTSRANGE", "0", str(SLOTS - 1)) == "+OK"
        r.close()
        theirs = benchmark("127.0.0.1", rs.port, True)
        mine = benchmark(*c.addr(fols[0]), True)
        assert theirs == (1, "Invalid cluster: 1 node(s).\n"), theirs
        assert mine == theirs, (mine, theirs)
        rc, text = benchmark(*c.addr(fols[0]), False)
        assert rc == 0 and "SET:" in text and "GET:" in text, text
        assert "requests per second" in text, text
    finally:
        rs.stop()
        c.cleanup()


if __name__ == "__main__":
    signal.alarm(240)  # the whole suite stops by itself
    for tool in ("redis-server", "redis-cli", "redis-benchmark", "node"):
        if not shutil.which(tool):
            print(f"cluster-proto: 0 passed, 1 failed ({tool} is not installed)")
            sys.exit(1)
    sys.exit(run_suite("cluster-proto", [reply_shapes, keyslot_and_errors_are_redis,
                                         redis_cluster_client_and_keys_in_slots,
                                         moved_for_cluster_clients_only, leader_moves,
                                         ioredis_cluster, redis_benchmark_cluster], [SERVER]))
