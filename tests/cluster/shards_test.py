#!/usr/bin/env python3
"""tests/cluster/shards_test.py - a node of several Raft groups (--shards)
on real processes: 3 nodes with 3 shards each split the 16384 slots in
three ranges, each a group with its own leader, and the leaders spread
over the nodes; CLUSTER SLOTS, SHARDS, NODES and INFO say so in the shapes
redis-py parses; redis-py RedisCluster (with a pipeline), ioredis Cluster,
redis-cli -c and redis-benchmark --cluster work unchanged; a cluster-aware write goes to
its slot's leader by -MOVED, a plain client's is served on any node;
multi-key commands and MULTI/EXEC within one group work (across slots of
that group too) and across groups get -CROSSSLOT; one connection's
pipelined requests take effect in the order sent across groups; every
acknowledged write is read back after every node is killed and started
again; keel-cli reshard moves 1000 slots between shards while a client
writes their keys, and back, losing none; idle groups are quiet, served
when asked, and a quiet group whose leader's node is killed elects
another leader.

    /usr/bin/python3 tests/cluster/shards_test.py BUILD_DIR [case...]

Prints one line per case and `shards: N passed, M failed`."""
import os
import re
import signal
import subprocess
import sys
import threading
import time

import redis
from redis.client import parse_cluster_info, parse_cluster_nodes
from redis.cluster import RedisCluster, parse_cluster_shards, parse_cluster_slots

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import CLI, SERVER, Cluster, Raw, case, run_suite, wait_for  # noqa: E402
from harness import ioredis_cluster as ioredis_cluster_run  # noqa: E402

SLOTS = 16384
RANGES = [(0, 5460), (5461, 10922), (10923, 16383)]
CLUSTER = None


def keyslot(key):
    """Redis's slot of a key (CRC16-XMODEM of it or of its hash tag)."""
    k = key.encode()
    s = k.find(b"{")
    if s >= 0:
        e = k.find(b"}", s + 1)
        if e > s + 1:
            k = k[s + 1:e]
    crc = 0
    for b in k:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc % SLOTS


def group_of(key):
    slot = keyslot(key)
    return next(i for i, (a, b) in enumerate(RANGES) if a <= slot <= b)


def keys_in(group, n, prefix="k"):
    out, i = [], 0
    while len(out) < n:
        k = f"{prefix}{i}"
        if group_of(k) == group:
            out.append(k)
        i += 1
    return out


def map_of(i):
    """Node i's CLUSTER SLOTS: {range: (primary, sorted replicas)}."""
    slots = parse_cluster_slots(CLUSTER.client(i).execute_command("CLUSTER", "SLOTS"))
    return {r: (v["primary"], sorted(v["replicas"])) for r, v in slots.items()}


def spread():
    """True once every node shows the three ranges, each led by another
    node and served by all three."""
    addrs = sorted(CLUSTER.addr(i) for i in (1, 2, 3))
    maps = [map_of(i) for i in (1, 2, 3)]
    if any(sorted(m) != RANGES for m in maps) or any(m != maps[0] for m in maps):
        return False
    leaders = {maps[0][r][0] for r in RANGES}
    return len(leaders) == 3 and all(
        sorted([maps[0][r][0]] + maps[0][r][1]) == addrs for r in RANGES)


def leader_of(group):
    primary = map_of(1)[RANGES[group]][0]
    return next(i for i in (1, 2, 3) if CLUSTER.addr(i) == primary)


def up():
    """The cluster of these cases, started by the first that runs: a move
    goes in pieces of 1 KiB of keys (a few dozen keys each)."""
    global CLUSTER
    if CLUSTER is None:
        CLUSTER = Cluster(3, ["--shards", "3", "--reshard-piece-kb", "1"])
        CLUSTER.start_all()
        wait_for("three ranges with spread leaders on every node", spread, 60)


@case
def three_shards_spread():
    """3 nodes, --shards 3: three slot ranges, each a Raft group with a
    leader of its own, the leaders on three different nodes (group i led by
    the i-th voter by id, its preferred leader); every node
    answers the same map; CLUSTER INFO ok with 3 masters; CLUSTER NODES
    three masters, each with its range; CLUSTER SHARDS three shards."""
    up()
    for i in (1, 2, 3):
        info = parse_cluster_info(CLUSTER.client(i).execute_command("CLUSTER", "INFO"))
        assert info["cluster_state"] == "ok", info
        assert int(info["cluster_slots_ok"]) == SLOTS and int(info["cluster_size"]) == 3, info
        nodes = parse_cluster_nodes(CLUSTER.client(i).execute_command("CLUSTER", "NODES"))
        masters = {a: n["slots"] for a, n in nodes.items() if "master" in n["flags"]}
        assert len(masters) == 3, nodes
        assert sorted(tuple(map(int, s[0])) for s in masters.values()) == RANGES, masters
        shards = parse_cluster_shards(CLUSTER.client(i).execute_command("CLUSTER", "SHARDS"))
        assert sorted(s["slots"][0] for s in shards) == RANGES, shards
        assert all(len(s["nodes"]) == 3 for s in shards), shards
    for g in range(3):
        assert os.path.isdir(os.path.join(CLUSTER.dir, "1", f"shard-{g}") if g else
                             os.path.join(CLUSTER.dir, "1")), g
    # group i's preferred leader: the i-th voter by id (docs/shards.md)
    wait_for("each group led by its preferred voter",
             lambda: [leader_of(g) for g in range(3)] == [1, 2, 3], 30)
    return f"leaders: {[leader_of(g) for g in range(3)]}"


@case
def cluster_clients():
    """RedisCluster writes and reads 600 keys (and a pipeline of 200) to
    the three groups' leaders; redis-cli -c sets on one node and gets on
    another; redis-benchmark --cluster runs SET and GET."""
    up()
    rc = RedisCluster(host=CLUSTER.addr(1)[0], port=CLUSTER.addr(1)[1], decode_responses=True)
    try:
        for k in range(600):
            rc.set(f"rc:{k}", k)
        assert all(rc.get(f"rc:{k}") == str(k) for k in range(600))
        p = rc.pipeline()
        for k in range(200):
            p.set(f"rp:{k}", -k)
        assert all(p.execute())
        assert rc.mget([f"rp:{{t}}{k}" for k in range(3)]) == [None] * 3
    finally:
        rc.close()
    counts = [0, 0, 0]
    for k in range(600):
        counts[group_of(f"rc:{k}")] += 1
    assert min(counts) > 100, counts
    cli = ["redis-cli", "-c", "-h", CLUSTER.addr(2)[0], "-p", str(CLUSTER.addr(2)[1])]
    out = subprocess.run(cli + ["SET", "cli:x", "1"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "OK", out
    cli[3], cli[5] = CLUSTER.addr(3)[0], str(CLUSTER.addr(3)[1])
    out = subprocess.run(cli + ["GET", "cli:x"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "1", out
    out = subprocess.run(["redis-benchmark", "--cluster", "-h", CLUSTER.addr(1)[0], "-p",
                          str(CLUSTER.addr(1)[1]), "-t", "set,get", "-n", "3000", "-c", "12",
                          "-q"], capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode == 0 and "SET:" in text and "GET:" in text, text
    # passes that appended to several groups' logs were made durable by
    # the journal, one fdatasync each (docs/architecture.md)
    per = [CLUSTER.client(i).info("persistence") for i in (1, 2, 3)]
    passes = sum(p["keel_storage_passes"] for p in per)
    syncs = sum(p["keel_storage_syncs"] for p in per)
    records = sum(p["keel_journal_records"] for p in per)
    assert records > 0 and syncs < 1.5 * passes, per
    return f"keys per group {counts}; {passes} storage passes, {syncs} syncs, " \
        f"{records} by the journal"


@case
def ioredis_cluster():
    """ioredis's Cluster finds the three shards' leaders as three masters,
    writes 300 keys to them and reads them back, and runs a pipeline of
    one slot; every node then reads the keys."""
    up()
    got = ioredis_cluster_run(CLUSTER.addr(2), 300, 30)
    assert got["got"] == [f"v{i}" for i in range(0, 300, 30)], got
    assert got["pipe"] == list(range(1, 11)) and got["masters"] == 3, got
    assert got["slots"] == 3, got
    for i in (1, 2, 3):
        assert CLUSTER.client(i).get("io:299") == "v299", i


@case
def moved_and_plain():
    """A cluster-aware connection's write on a node that does not lead
    the key's group gets -MOVED <slot> to that group's leader, and nothing
    is applied; the same write on a plain connection is forwarded there
    and applied; a read is served on every node."""
    up()
    key = keys_in(1, 1, "mv")[0]
    lead = leader_of(1)
    other = next(i for i in (1, 2, 3) if i != lead)
    r = Raw(CLUSTER.addr(other))
    assert r.call("READONLY") == "+OK"
    got = r.call("SET", key, "moved")
    host, port = CLUSTER.addr(lead)
    assert got == f"-MOVED {keyslot(key)} {host}:{port}", got
    r.close()
    assert CLUSTER.client(lead).get(key) is None
    assert CLUSTER.client(other).set(key, "plain") is True
    for i in (1, 2, 3):
        assert CLUSTER.client(i).get(key) == "plain", i


@case
def crossslot_and_multi():
    """Keys of one group work together (across its slots too), keys of two
    groups get -CROSSSLOT and change nothing; MULTI/EXEC within a group is
    one transaction, one naming two groups is discarded (EXECABORT); a
    command over the whole keyspace (DBSIZE, FLUSHALL) queued in MULTI
    says it is not taken in a transaction, SWAPDB that it is not supported
    on a sharded node."""
    up()
    a, b = keys_in(0, 2, "cs")
    c = keys_in(2, 1, "cs")[0]
    assert keyslot(a) != keyslot(b)
    cl = CLUSTER.client(2)
    assert cl.mset({a: "1", b: "2"}) is True
    assert cl.mget([a, b]) == ["1", "2"]
    for bad in (lambda: cl.mset({a: "x", c: "y"}), lambda: cl.mget([a, c]),
                lambda: cl.delete(a, c)):
        try:
            bad()
            raise AssertionError("a command over two groups was served")
        except redis.ResponseError as e:
            assert str(e) == "CROSSSLOT Keys in request don't hash to the same slot", e
    assert cl.mget([a, b]) == ["1", "2"] and cl.get(c) is None
    p = cl.pipeline(transaction=True)
    p.incr(a).incr(b).get(a)
    assert p.execute() == [2, 3, "2"]
    r = Raw(CLUSTER.addr(3))
    assert r.call("MULTI") == "+OK"
    assert r.call("SET", a, "t") == "+QUEUED"
    got = r.call("SET", c, "t")
    assert got.startswith("-CROSSSLOT"), got
    assert r.call("EXEC").startswith("-EXECABORT")
    assert r.call("MULTI") == "+OK"
    assert r.call("DBSIZE").startswith("-ERR 'dbsize' reads or writes every shard: not in a "
                                       "transaction")
    assert r.call("FLUSHALL").startswith("-ERR 'flushall' reads or writes every shard")
    assert r.call("EXEC").startswith("-EXECABORT")
    assert r.call("SWAPDB", "0", "1").startswith("-ERR 'swapdb' writes every shard: not "
                                                  "supported")
    r.close()
    assert cl.get(a) == "2" and cl.get(c) is None


@case
def one_connection_order():
    """One plain connection on a follower of some groups pipelines 300
    writes and reads over keys of all three groups; each read answers the
    value of the last write of its key sent before it on the connection,
    as if the requests ran one at a time in the order sent."""
    up()
    keys = [keys_in(g, 4, f"ord{g}_") for g in range(3)]
    flat = [k for ks in keys for k in ks]
    r = Raw(CLUSTER.addr(2))
    reqs, want, last = [], [], {}
    for n in range(300):
        k = flat[(n * 7) % len(flat)]
        if n % 3 == 2:
            reqs.append(Raw.encode("GET", k))
            want.append(last.get(k))
        else:
            reqs.append(Raw.encode("SET", k, f"v{n}"))
            want.append("+OK")
            last[k] = f"v{n}"
    r.s.sendall(b"".join(reqs))
    got = [r.read() for _ in reqs]
    r.close()
    assert got == want, [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w][:5]


@case
def keyspace_commands():
    """DBSIZE, KEYS, SCAN, RANDOMKEY, FLUSHDB and FLUSHALL on a sharded
    node cover every shard, on every node (plain clients, a follower of two
    groups among them): 90 keys of the three groups in database 5 counted,
    listed and scanned (SCAN's cursor from shard to shard, each key once),
    drawn by RANDOMKEY; in a pipeline each takes effect in the order sent
    among writes of all three groups; FLUSHDB empties database 5 only;
    redis-py RedisCluster's dbsize, keys and scan_iter agree with a plain
    client's; then FLUSHALL empties every database of every shard."""
    up()
    keys = [k for g in range(3) for k in keys_in(g, 30, "ks")]
    cl = CLUSTER.client(2, db=5)
    for k in keys:
        cl.set(k, k)
    assert CLUSTER.client(1).set("ks0:kept", "1") is True  # database 0's
    CLUSTER.wait_caught_up(1)
    for i in (1, 2, 3):
        c = CLUSTER.client(i, db=5)
        assert c.dbsize() == len(keys), (i, c.dbsize())
        assert sorted(c.keys("*")) == sorted(keys), i
        assert sorted(c.keys("ks*1")) == sorted(k for k in keys if k.endswith("1")), i
        scanned, cursor, calls = [], 0, 0
        while True:
            cursor, got = c.scan(cursor, count=7)
            scanned += got
            calls += 1
            if cursor == 0:
                break
        assert sorted(scanned) == sorted(keys) and calls >= 3, (i, calls)
        assert all(c.randomkey() in keys for _ in range(10)), i
    r = Raw(CLUSTER.addr(2))
    assert r.call("SCAN", "3").startswith("-ERR invalid cursor")  # no shard 3
    assert r.call("SCAN", "x").startswith("-ERR invalid cursor")
    assert r.call("SCAN", "0", "COUNT", "0").startswith("-ERR syntax error")
    r.close()
    # the writes around each FLUSHDB of one group (the last the flush
    # reaches): only the order sent keeps the one after it
    a, b = keys_in(0, 1, "ko")[0], keys_in(1, 1, "ko")[0]
    c3, c4 = keys_in(2, 2, "ko")
    for _ in range(5):
        p = CLUSTER.client(3, db=6).pipeline(transaction=False)
        p.set(c3, 1).flushdb().set(c4, 2).dbsize().get(c3).get(c4).keys("*").set(a, 4)
        p.set(b, 5).dbsize().flushdb().set(c3, 6).dbsize().randomkey()
        assert p.execute() == [True, True, True, 1, None, "2", [c4], True, True, 3, True, True,
                               1, c3]
    assert cl.flushdb() is True
    for i in (1, 2, 3):
        assert CLUSTER.client(i, db=5).dbsize() == 0, i
    assert CLUSTER.client(2).get("ks0:kept") == "1"
    plain = CLUSTER.client(1)
    rc = RedisCluster(host=CLUSTER.addr(3)[0], port=CLUSTER.addr(3)[1], decode_responses=True)
    try:
        for k in keys:
            rc.set(k, k)
        assert rc.dbsize() == plain.dbsize() >= len(keys) + 1
        assert sorted(rc.keys("ks*")) == sorted(keys + ["ks0:kept"])
        assert set(rc.scan_iter(match="ks*", count=20)) == set(keys + ["ks0:kept"])
        assert rc.flushall() is True
        assert rc.dbsize() == 0 and rc.get(keys[0]) is None
    finally:
        rc.close()
    for i in (1, 2, 3):
        assert CLUSTER.client(i).dbsize() == 0 and CLUSTER.client(i, db=6).dbsize() == 0, i


@case
def restart_reads_back():
    """Every node killed (SIGKILL) and started again: every acknowledged
    write of the cases above is read back from every node, and the three
    groups elect leaders again."""
    up()
    rc = RedisCluster(host=CLUSTER.addr(1)[0], port=CLUSTER.addr(1)[1], decode_responses=True)
    try:
        for k in range(300):
            rc.set(f"rs:{k}", k * 3)
    finally:
        rc.close()
    CLUSTER.stop_all(signal.SIGKILL)
    CLUSTER.start_all()
    wait_for("three ranges with spread leaders again", spread, 60)
    for i in (1, 2, 3):
        cl = CLUSTER.client(i)
        vals = [cl.get(f"rs:{k}") for k in range(300)] + [cl.get(f"rc:{k}") for k in range(600)]
        assert vals == [str(k * 3) for k in range(300)] + [str(k) for k in range(600)], i


@case
def shard_status():
    """keel-cli shard status on each node: a line a shard with its slots,
    its leader (the one CLUSTER SLOTS names), this node's role in it and
    the keys it holds (INFO shards: every key of the cases above counted
    once, in its own shard), then the members."""
    up()
    leaders = [leader_of(g) for g in range(3)]
    for i in (1, 2, 3):
        out = subprocess.run([CLI, "-h", CLUSTER.addr(i)[0], "-p", str(CLUSTER.addr(i)[1]),
                              "shard", "status"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out
        rows = [ln.split() for ln in out.stdout.splitlines() if re.match(r"\d+ +\d+-\d+ ", ln)]
        assert [r[0] for r in rows] == ["0", "1", "2"], out.stdout
        for g, r in enumerate(rows):
            assert r[1] == f"{RANGES[g][0]}-{RANGES[g][1]}", out.stdout
            assert r[2] == str(leaders[g]), out.stdout
            assert r[3] == ("leader" if leaders[g] == i else "follower"), out.stdout
        assert "members of every shard: 1 2 3" in out.stdout, out.stdout
    CLUSTER.wait_caught_up(1)
    info = CLUSTER.client(1).info("shards")
    keys = [int(info[f"shard{g}"]["keys"]) for g in range(3)]
    dbsize = sum(int(v["keys"]) for k, v in CLUSTER.client(1).info("keyspace").items())
    assert sum(keys) == dbsize and min(keys) > 0, (keys, dbsize)
    return f"keys per shard on node 1: {keys}"


@case
def cluster_lists_in_any_order():
    """Each node given the --cluster members in another order (the voters
    are ranked by id, not by how they were listed): the three shards'
    leaders spread and stay, no group handed over again and again."""
    c = Cluster(3, ["--shards", "3"])
    try:
        parts = c.members.split(",")
        for i, order in ((1, (0, 1, 2)), (2, (2, 1, 0)), (3, (1, 2, 0))):
            c.members = ",".join(parts[k] for k in order)
            c.start(i)

        def leaders():
            info = c.client(1).info("shards")
            return [int(info[f"shard{g}"]["leader"]) for g in range(3)]

        wait_for("the leaders spread", lambda: sorted(leaders()) == [1, 2, 3], 60)
        handed = sum(c.log(i).count("its preferred leader") for i in (1, 2, 3))
        time.sleep(4)  # four more checks of every leader
        again = sum(c.log(i).count("its preferred leader") for i in (1, 2, 3))
        assert again == handed and sorted(leaders()) == [1, 2, 3], (handed, again, leaders())
        return f"{handed} hand-overs to spread them, none after"
    finally:
        c.cleanup()


def shards_of(i):
    """Node i's INFO shards: [(role, term, quiet)] a group."""
    info = CLUSTER.client(i).info("shards")
    return [(info[f"shard{g}"]["role"], int(info[f"shard{g}"]["term"]),
             int(info[f"shard{g}"]["quiet"])) for g in range(3)]


def all_quiet(nodes=(1, 2, 3)):
    return all(q == 1 for i in nodes for _, _, q in shards_of(i))


@case
def idle_shards_quiet():
    """Idle, every group of every node is quiet (INFO shards quiet=1: not
    ticked, docs/shards.md "Idle groups"); a write through a follower
    and reads on all three nodes are served with no election (no term
    moves), and every group is quiet again once idle. The node leading
    group 1 killed, the other two elect a new leader for it within 8 s (it
    is noticed after an election timeout of silence) and take a write;
    restarted, the node reads it back."""
    up()
    wait_for("every group of every node quiet", all_quiet, 20)
    terms = {i: [t for _, t, _ in shards_of(i)] for i in (1, 2, 3)}
    lead = leader_of(0)
    other = next(i for i in (1, 2, 3) if i != lead)
    k0 = keys_in(0, 1, "quiet")[0]
    assert CLUSTER.client(other).set(k0, "v1") is True
    assert [CLUSTER.client(i).get(k0) for i in (1, 2, 3)] == ["v1"] * 3
    assert {i: [t for _, t, _ in shards_of(i)] for i in (1, 2, 3)} == terms
    wait_for("every group quiet again", all_quiet, 20)
    lost = leader_of(1)
    rest = [i for i in (1, 2, 3) if i != lost]
    CLUSTER.kill(lost)
    t0 = time.time()
    wait_for("a new leader of group 1",
             lambda: any(shards_of(i)[1][0] == "leader" for i in rest), 8)
    took = time.time() - t0
    k1 = keys_in(1, 1, "quiet")[0]
    assert CLUSTER.client(rest[0]).set(k1, "v2") is True
    CLUSTER.start(lost)
    wait_for("the restarted node reads the write",
             lambda: CLUSTER.client(lost).get(k1) == "v2", 30)
    wait_for("every group quiet once idle again", all_quiet, 30)
    return f"group 1 led again {took:.1f} s after its leader's node was killed"


def refused(c, extra, want):
    """Node 1 of c started with extra exits 1, saying want in its log."""
    c.extra = extra
    c.start(1)
    rc = c.procs.pop(1).wait(60)
    assert rc == 1 and want in c.log(1), (rc, c.log(1)[-400:])


@case
def shard_count_kept():
    """A node's --shards is kept in its folder: started again with another
    count it refuses to start and says why (its slots would be served by
    groups that do not hold their keys), as does a one-shard node's folder
    given --shards 3; started as it was made, it serves its keys."""
    for made, other in ((["--shards", "2"], ["--shards", "3"]), ([], ["--shards", "3"])):
        c = Cluster(1, made)
        try:
            c.start(1)
            wait_for("a leader", lambda: c.leader(1) == 1, 30)
            keys = [f"kept{k}" for k in range(20)]
            for k in keys:
                assert c.client(1).set(k, k) is True
            c.kill(1, signal.SIGTERM)
            kept = made[1] if made else "1"
            refused(c, other, f"was made by a node of {kept} shard")
            if made:
                refused(c, [], f"was made by a node of {kept} shards")
            c.extra = made
            c.start(1)
            wait_for("a leader again", lambda: c.leader(1) == 1, 30)
            assert [c.client(1).get(k) for k in keys] == keys
        finally:
            c.cleanup()


def reshard(node, first, last, to, timeout=120):
    """keel-cli reshard on node: exit status 0 and "done" once moved."""
    out = subprocess.run([CLI, "-h", CLUSTER.addr(node)[0], "-p", str(CLUSTER.addr(node)[1]),
                          "reshard", "--slots", f"{first}-{last}", "--to", str(to)],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0 and "done in" in out.stdout, out
    return out.stdout


def owner_everywhere(first, last, group):
    """Every node's CLUSTER SLOTS gives first..last to group's leader, and
    its INFO shards says no migration is under way."""
    lead = CLUSTER.addr(leader_of_shard(group))
    for i in (1, 2, 3):
        if CLUSTER.client(i).info("shards")["migration"] != "none":
            return False
        slots = parse_cluster_slots(CLUSTER.client(i).execute_command("CLUSTER", "SLOTS"))
        if not any(a <= first and last <= b and v["primary"] == lead
                   for (a, b), v in slots.items()):
            return False
    return True


def leader_of_shard(group):
    info = CLUSTER.client(1).info("shards")
    return int(info[f"shard{group}"]["leader"])


class Writer:
    """Writes keys of slots 0-999 over and over on one plain connection
    (node 1): each key's acknowledged value kept; a TRYAGAIN (a slot being
    moved, not applied) is counted, and the write tried again."""

    def __init__(self, keys):
        import threading
        self.keys, self.acked, self.tryagain, self.writes = keys, {}, 0, 0
        self.stop = threading.Event()
        self.err = None
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        r = CLUSTER.client(1)
        n = 0
        try:
            while not self.stop.is_set():
                for k in self.keys:
                    n += 1
                    try:
                        assert r.set(k, n) is True
                        self.acked[k] = n
                        self.writes += 1
                    except redis.ResponseError as e:
                        if not str(e).startswith("TRYAGAIN"):
                            raise
                        self.tryagain += 1
        except Exception as e:  # noqa: reported by the case
            self.err = e

    def end(self):
        self.stop.set()
        self.t.join(30)
        assert self.err is None, self.err


class Prober(Writer):
    """Counts, lists and scans the keyspace over and over on one plain
    connection (node 2) while slots move: DBSIZE a count, KEYS and a whole
    SCAN lists of keys, each of the move's keys there once or twice (a key
    whose slot moves between two shards' parts may be seen in both), and
    FLUSHDB of database 9, holding a key of each shard, +OK (the three
    gone) or refused while a move is under way: by shard 0 (-TRYAGAIN,
    none gone) or by a later one, after the shards before it flushed (the
    error says how many: exactly those keys gone)."""

    def __init__(self, keys):
        self.flushes = self.refused = 0
        super().__init__(keys)

    def run(self):
        r = CLUSTER.client(2)
        db9 = CLUSTER.client(2, db=9)
        # a key of each shard, of slots that do not move
        marks = [next(k for k in (f"pf{g}_{i}" for i in range(10000))
                      if group_of(k) == g and keyslot(k) > 999) for g in range(3)]
        try:
            while not self.stop.is_set():
                n = r.dbsize()
                assert isinstance(n, int) and n >= 0, n
                listed = r.keys("mv*")
                cursor, scanned = 0, []
                while True:
                    cursor, got = r.scan(cursor, match="mv*", count=500)
                    scanned += got
                    if cursor == 0:
                        break
                for seen in (listed, scanned):
                    mine = [k for k in seen if k in self.keys]
                    assert all(mine.count(k) <= 2 for k in mine), seen
                self.writes += 1
                for k in marks:
                    assert db9.set(k, "1") is True
                try:
                    assert db9.flushdb() is True
                    self.flushes += 1
                    flushed = 3
                except redis.ResponseError as e:  # by the first shard, or a later one
                    why = "TRYAGAIN a move of this shard's slots is under way"
                    m = re.match(r"the first ([12]) of 3 shards were flushed, then shard "
                                 r"\1 answered: " + why, str(e))
                    if not (str(e).startswith(why) or m):
                        raise
                    flushed = int(m.group(1)) if m else 0
                    self.refused += 1
                left = [db9.get(k) for k in marks]
                assert left == [None] * flushed + ["1"] * (3 - flushed), (left, flushed)
                time.sleep(0.01)  # a client among others, not a flood
        except Exception as e:  # noqa: reported by the case
            self.err = e


class PipeWriter(Writer):
    """Pipelines (redis-py, transaction=False) on one plain connection
    (node 3): SET each of 6 keys of slots 0-999 (of different pieces of a
    move: a write of the pipeline refused for a frozen slot must not be
    overtaken by the next, which is refused with it), INCR a counter of them,
    GET the 6 keys; the replies must come in the order sent: +OK each, the
    counter one more than at the last pipeline (exactly once: an INCR
    refused and sent again is not applied twice), the values just set."""

    def run(self):
        r = CLUSTER.client(3)
        n, self.pipelines = 0, 0
        try:
            while not self.stop.is_set():
                for at in range(0, len(self.keys) - 6, 6):
                    ks = self.keys[at:at + 6]
                    n += 1
                    p = r.pipeline(transaction=False)
                    for k in ks:
                        p.set(k, f"{n}")
                    p.incr(self.counter)
                    for k in ks:
                        p.get(k)
                    try:
                        got = p.execute()
                    except redis.ResponseError as e:
                        if not str(e).startswith("TRYAGAIN"):
                            raise
                        self.tryagain += 1
                        return
                    want = [True] * 6 + [self.incrs + 1] + [str(n)] * 6
                    assert got == want, (got, want)
                    self.incrs += 1
                    self.pipelines += 1
                    for k in ks:
                        self.acked[k] = n
        except Exception as e:  # noqa: reported by the case
            self.err = e

    def __init__(self, keys, counter):
        self.counter, self.incrs = counter, 0
        super().__init__(keys)


def held_counts():
    """INFO stats' requests held and sent again for a slot being moved,
    and those given their -TRYAGAIN after all, over the nodes."""
    sent = gave_up = 0
    for i in (1, 2, 3):
        st = CLUSTER.client(i).info("stats")
        sent += int(st["keel_moving_slot_retries"])
        gave_up += int(st["keel_moving_slot_tryagain"])
    return sent, gave_up


@case
def reshard_online():
    """keel-cli reshard moves slots 0-999 (shard 0's) to shard 1 while a
    plain client writes 300 of their keys without a pause, another plain
    client sends pipelines of writes, an INCR and reads of others, and
    RedisCluster reads and writes others: the plain clients see no
    -TRYAGAIN (their requests refused for a slot being moved are held and
    sent again by the node: INFO stats counts them), the pipelines' replies
    in order with the counter counted once per INCR; the move ends, in
    pieces (the map's version one more a piece, several pieces), every
    node's map gives the slots to shard 1's leader,
    every acknowledged write is read back on every node, the keys are in
    shard 1 (none left in shard 0), RedisCluster followed the move (-MOVED)
    without an error; then the slots move back the same way. A plain
    connection counts, lists and scans the keyspace throughout (Prober);
    after the moves a whole SCAN finds every key written once."""
    up()
    mine = [k for k in (f"mv{i}" for i in range(20000)) if keyslot(k) <= 999][:300]
    theirs = [k for k in (f"rc{i}" for i in range(20000)) if keyslot(k) <= 999][:200]
    piped = [k for k in (f"pp{i}" for i in range(20000)) if keyslot(k) <= 999][:120]
    counter = next(k for k in (f"ctr{i}" for i in range(20000)) if keyslot(k) <= 999)
    rc = RedisCluster(host=CLUSTER.addr(2)[0], port=CLUSTER.addr(2)[1], decode_responses=True)
    held_before = held_counts()
    w = Writer(mine)
    pw = PipeWriter(piped, counter)
    pr = Prober(set(mine))
    try:
        version = int(CLUSTER.client(1).info("shards")["meta"]["map_version"])
        time.sleep(0.5)
        out = reshard(2, 0, 999, 1)
        for k in theirs:
            assert rc.set(k, k) is True
        assert all(rc.get(k) == k for k in theirs)
        time.sleep(0.3)
        wait_for("every node's map moved", lambda: owner_everywhere(0, 999, 1), 30)
        for i in (1, 2, 3):
            info = CLUSTER.client(i).info("shards")
            assert int(info["meta"]["map_version"]) > version + 1, info
            assert str(info["shard0"]["slots"]).startswith("1000-"), info
        back = reshard(3, 0, 999, 0)
        time.sleep(0.3)
        w.end()
        pw.end()
        pr.end()
        wait_for("every node's map back", lambda: owner_everywhere(0, 999, 0), 30)
        assert w.tryagain == 0 and pw.tryagain == 0, (w.tryagain, pw.tryagain)
        CLUSTER.wait_caught_up(1)
        for i in (1, 2, 3):
            cl = CLUSTER.client(i)
            got = [cl.get(k) for k in mine]
            assert got == [str(w.acked[k]) for k in mine], i
            got = [cl.get(k) for k in piped if k in pw.acked]
            assert got == [str(pw.acked[k]) for k in piped if k in pw.acked], i
            assert int(cl.get(counter)) == pw.incrs, i
        counted = {keyslot(k) for k in mine}  # counted in the shard the map names: 0
        assert sum(CLUSTER.client(1).execute_command("CLUSTER", "COUNTKEYSINSLOT", s)
                   for s in counted) >= len(mine)
        assert all(rc.get(k) == k for k in theirs)
        sent, gave_up = (a - b for a, b in zip(held_counts(), held_before))
        assert sent > 0 and gave_up == 0, (sent, gave_up)
        scanned = list(CLUSTER.client(3).scan_iter(match="mv*", count=1000))
        assert sorted(k for k in scanned if k in mine) == sorted(mine)
        assert pr.writes > 0, pr.writes
    finally:
        w.stop.set()
        pw.stop.set()
        pr.stop.set()
        rc.close()
    took = [ln for ln in (out + back).splitlines() if ln.startswith("done in")]
    pieces = int(CLUSTER.client(1).info("shards")["meta"]["map_version"]) - version
    return (f"{len(mine)} keys written {w.writes} times and {pw.pipelines} pipelines of 13, "
            f"0 TRYAGAIN, {sent} requests held and sent again; keel-cli: {', '.join(took)}; "
            f"{pieces} pieces there and back; {pr.writes} counts and scans, FLUSHDB "
            f"{pr.flushes} done, {pr.refused} refused in a move")


@case
def reshard_refused():
    """KEEL.RESHARD's errors, each changing nothing: a range out of 0-16383
    or backwards, a shard past the last, a range of two shards, the shard
    the slots are on already, a slot holding a key of more than 32 MiB;
    KEEL.SLOTS from a client is an unknown command; keel-cli reshard exits
    1 with the error."""
    up()
    c = CLUSTER.client(1)
    version = c.info("shards")["meta"]["map_version"]
    for args, want in (((0, 16384, 1), "Invalid or out of range slot"),
                       ((-1, 5, 1), "Invalid or out of range slot"),
                       ((10, 5, 1), "Invalid or out of range slot"),
                       ((0, 5, 3), "no such shard"),
                       ((5000, 6000, 2), "served by several shards"),
                       ((0, 5, 0), "that shard's already")):
        try:
            c.execute_command("KEEL.RESHARD", *args)
            raise AssertionError(f"KEEL.RESHARD {args} accepted")
        except redis.ResponseError as e:
            assert want in str(e), (args, e)
    try:
        c.execute_command("KEEL.SLOTS", "FLIP", "1")
        raise AssertionError("KEEL.SLOTS accepted from a client")
    except redis.ResponseError as e:
        assert "unknown command" in str(e), e
    out = subprocess.run([CLI, "-h", CLUSTER.addr(1)[0], "-p", str(CLUSTER.addr(1)[1]),
                          "reshard", "--slots", "0-5", "--to", "9"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "no such shard" in out.stdout, out
    big = keys_in(0, 1, "big")[0]  # a key past half a log entry: not copied in a batch
    assert c.set(big, "x" * ((32 << 20) + 1)) is True
    CLUSTER.wait_caught_up(1)
    slot = keyslot(big)
    try:
        c.execute_command("KEEL.RESHARD", slot, slot, 1)
        raise AssertionError("a slot holding a 32 MiB key accepted")
    except redis.ResponseError as e:
        assert "cannot be moved" in str(e), e
    assert c.delete(big) == 1
    assert c.info("shards")["meta"]["map_version"] == version
    assert c.info("shards")["migration"] == "none"


@case
def shard_add_and_restart():
    """keel-cli shard add --nodes naming other than voters, each once, refused;
    keel-cli shard add --nodes 3,1,2: a fourth shard, led by a node, serving no slot;
    slots 16000-16383 moved to it, with 100 keys; every node killed and
    started again with --shards 3 as before: the node opens the added
    shard from its folder (as the map counts it), the map and the keys are
    as they were. Then the slots go back to shard 2."""
    up()
    keys = [k for k in (f"ad{i}" for i in range(60000)) if keyslot(k) >= 16000][:100]
    for k in keys:
        assert CLUSTER.client(1).set(k, k) is True
    cli = [CLI, "-h", CLUSTER.addr(3)[0], "-p", str(CLUSTER.addr(3)[1]), "shard", "add"]
    for nodes in ("1,2,9", "1,1,2", "0,1,2,3"):  # voters only, once each
        out = subprocess.run(cli + ["--nodes", nodes], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 1 and "members are voters" in out.stdout, (nodes, out)
    assert CLUSTER.client(1).info("shards")["keel_shards"] == 3
    out = subprocess.run(cli + ["--nodes", "3,1,2"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "shard 3 added" in out.stdout, out
    reshard(1, 16000, 16383, 3)
    info = CLUSTER.client(1).info("shards")
    assert info["keel_shards"] == 4 and str(info["shard3"]["slots"]) == "16000-16383", info
    CLUSTER.stop_all(signal.SIGKILL)
    CLUSTER.start_all()
    wait_for("four shards with leaders again", lambda: all(
        int(CLUSTER.client(i).info("shards").get("shard3", {}).get("leader", 0)) > 0
        for i in (1, 2, 3)), 60)
    wait_for("the keys back", lambda: all(CLUSTER.client(2).get(k) == k for k in keys), 60)
    for i in (1, 2, 3):
        assert "shard 3 added" in CLUSTER.log(i), i
    reshard(2, 16000, 16383, 2)
    wait_for("every node's map back", lambda: owner_everywhere(16000, 16383, 2), 30)
    assert all(CLUSTER.client(3).get(k) == k for k in keys)
    return f"{len(keys)} keys in the added shard across a restart of every node"


@case
def shard_placed_on_two():
    """keel-cli shard add --nodes 1,2: a shard on nodes 1 and 2 only (node 3
    holds it empty: INFO shards role=outside); slots 15000-15999 moved to
    it; then node 3 serves them through its members: redis-py's plain
    client writes and reads there (a pipeline too), redis-cli -c and
    RedisCluster are sent to the members; node 3 never holds a key of it.
    Then half the slots move out of it again, asked of node 3."""
    up()
    keys = [k for k in (f"pl{i}" for i in range(60000)) if 15000 <= keyslot(k) <= 15999][:50]
    for k in keys:
        assert CLUSTER.client(1).set(k, "before") is True
    cli = [CLI, "-h", CLUSTER.addr(3)[0], "-p", str(CLUSTER.addr(3)[1]), "shard", "add",
           "--nodes", "1,2"]
    out = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "placed on nodes 1 2; this node is not one" in out.stdout, out
    shard = int(out.stdout.split()[1])
    reshard(3, 15000, 15999, shard)
    # node 3 names the member it sends the shard's requests to, not
    # always its leader: each node's own map is looked at
    wait_for("every node's map", lambda: all(
        CLUSTER.client(i).info("shards")["migration"] == "none" and
        str(CLUSTER.client(i).info("shards")[f"shard{shard}"]["slots"]) == "15000-15999"
        for i in (1, 2, 3)), 30)
    line = CLUSTER.client(3).info("shards")[f"shard{shard}"]
    assert line["role"] == "outside" and line["keys"] == 0, line
    # the keys of those slots, the earlier cases' too
    held = [CLUSTER.client(i).info("shards")[f"shard{shard}"]["keys"] for i in (1, 2)]
    assert held[0] == held[1] >= len(keys), held
    plain = CLUSTER.client(3)
    assert all(plain.get(k) == "before" for k in keys)
    p = plain.pipeline(transaction=False)
    for k in keys:
        p.set(k, "after")
        p.get(k)
    assert p.execute() == [True, "after"] * len(keys)
    assert plain.incr("pl-counter{%s}" % keys[0]) == 1
    cmd = ["redis-cli", "-c", "-h", CLUSTER.addr(3)[0], "-p", str(CLUSTER.addr(3)[1])]
    out = subprocess.run(cmd + ["GET", keys[0]], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "after", out
    rc = RedisCluster(host=CLUSTER.addr(3)[0], port=CLUSTER.addr(3)[1], decode_responses=True)
    try:
        for k in keys:
            rc.set(k, "cluster")
        assert all(rc.get(k) == "cluster" for k in keys)
    finally:
        rc.close()
    assert CLUSTER.client(3).info("shards")[f"shard{shard}"]["keys"] == 0
    # out again, asked of node 3: a node that holds the shard drives it
    reshard(3, 15000, 15499, 2)
    wait_for("every node's map again", lambda: all(
        CLUSTER.client(i).info("shards")["migration"] == "none" and
        str(CLUSTER.client(i).info("shards")[f"shard{shard}"]["slots"]) == "15500-15999"
        for i in (1, 2, 3)), 30)
    assert all(plain.get(k) == "cluster" for k in keys)
    moved = [k for k in keys if keyslot(k) <= 15499]
    assert moved and CLUSTER.client(3).info("shards")["shard2"]["keys"] >= len(moved)
    status = subprocess.run([CLI, "-h", CLUSTER.addr(3)[0], "-p", str(CLUSTER.addr(3)[1]),
                             "shard", "status"], capture_output=True, text=True, timeout=30)
    assert status.returncode == 0 and f"shard {shard} is placed on nodes 1 2" in status.stdout, \
        status
    # idle, the shard is quiet on its members and on node 3 (which holds
    # it empty: nothing to tick for)
    wait_for("the placed shard quiet on every node", lambda: all(
        int(CLUSTER.client(i).info("shards")[f"shard{shard}"]["quiet"]) == 1 for i in (1, 2, 3)),
        20)
    return f"{len(keys)} keys of shard {shard} (on nodes 1 and 2) served through node 3"


class PipelinedKeys:
    """Keys written in a redis-py pipeline through one node, round after
    round: each key's acknowledged value kept; a write answered an error
    (TRYAGAIN or TIMEOUT only) may still be applied, never acknowledged."""

    def __init__(self, client, keys, prefix):
        self.client, self.keys, self.prefix = client, keys, prefix
        self.acked, self.maybe = {}, {k: set() for k in keys}

    def write_round(self, n):
        value = f"{self.prefix}{n}"
        p = self.client.pipeline(transaction=False)
        for k in self.keys:
            p.set(k, value)
        for k, r in zip(self.keys, p.execute(raise_on_error=False)):
            if r is True:
                self.acked[k] = value
                self.maybe[k] = set()
            else:
                self.maybe[k].add(value)
                if "TRYAGAIN" not in str(r) and "TIMEOUT" not in str(r):
                    raise AssertionError(f"SET {k}: {r}")

    def read_back(self, client):
        for k in self.keys:
            got = client.get(k)
            assert got == self.acked.get(k) or got in self.maybe[k], \
                (k, got, self.acked.get(k), self.maybe[k])

    def during(self, fn):
        """fn() while rounds 1, 2, ... are written every 50 ms; its result."""
        stop, errors = threading.Event(), []

        def writer():
            n = 1
            while not stop.is_set():
                try:
                    self.write_round(n)
                except Exception as e:
                    errors.append(e)
                    return
                n += 1
                time.sleep(0.05)

        t = threading.Thread(target=writer)
        t.start()
        try:
            out = fn()
        finally:
            stop.set()
            t.join(60)
        assert not errors, errors
        return out


def shard_place(asked, shard, nodes):
    """keel-cli shard place asked of node `asked`: the finished process."""
    host, port = CLUSTER.addr(asked)
    return subprocess.run([CLI, "-h", host, "-p", str(port), "shard", "place", str(shard),
                           "--nodes", nodes], capture_output=True, text=True, timeout=180)


@case
def shard_place_moves():
    """keel-cli shard place: the shard placed on nodes 1 and 2 moved to
    nodes 2 and 3 while a client writes through node 1 (node 3 takes a
    copy of its keys and becomes a voter; node 1, taken off, then serves
    them through the others), then back onto nodes 1 and 2 (node 1's copy,
    freed when it was taken off, rebuilt and caught up): every
    acknowledged write read back."""
    up()
    info = CLUSTER.client(1).info("shards")
    shard = next(int(k[5:]) for k, v in info.items()
                 if k.startswith("shard") and isinstance(v, dict) and
                 str(v.get("placed")) == "1 2")
    keys = [k for k in (f"pm{i}" for i in range(60000)) if 15500 <= keyslot(k) <= 15999][:40]
    plain = CLUSTER.client(1)
    w = PipelinedKeys(plain, keys, "v")
    w.write_round(0)
    assert len(w.acked) == len(keys), w.acked
    out = w.during(lambda: shard_place(3, shard, "2,3"))
    assert out.returncode == 0 and f"shard {shard}'s voters are nodes" in out.stdout, out
    wait_for("node 1 taken off the shard", lambda: CLUSTER.client(1).info("shards")[
        f"shard{shard}"]["role"] == "outside", 30)
    line = CLUSTER.client(3).info("shards")[f"shard{shard}"]
    assert str(line["voters"]) in ("2 3", "3 2") and line["keys"] >= len(keys), line
    w.read_back(plain)
    w.write_round(100)
    assert all(w.acked[k] == "v100" for k in keys)
    out = subprocess.run(["redis-cli", "-c", "-h", CLUSTER.addr(1)[0], "-p",
                          str(CLUSTER.addr(1)[1]), "GET", keys[0]],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "v100", out
    # back onto nodes 1 and 2, asked of node 3 (taken off it)
    out = shard_place(3, shard, "1,2")
    assert out.returncode == 0 and "this node is not one of them" in out.stdout, out
    wait_for("nodes 1 and 2 its voters again", lambda: all(
        str(CLUSTER.client(i).info("shards")[f"shard{shard}"]["voters"]) in ("1 2", "2 1")
        for i in (1, 2)), 60)
    three = CLUSTER.client(3)
    assert all(three.get(k) == "v100" for k in keys)
    assert all(CLUSTER.client(1).get(k) == "v100" for k in keys)
    return f"shard {shard} moved to nodes 2 3 and back under writes; {len(keys)} keys read back"


@case
def every_shard_placed():
    """A shard of --shards 3, on every node since the start, placed on nodes
    2 and 3 with keel-cli shard place (asked of node 1, which leaves it)
    while a redis-py pipeline writes its keys through node 1: node 1 is
    then outside it (INFO shards role outside, its copy freed: keys=0) and
    nodes 2 and 3 are its only voters; every acknowledged write is read
    back through node 1 (served by the others), with redis-cli -c and
    RedisCluster; KEEL.RESHARD asked of node 1 refuses a slot of the shard
    holding a key over 32 MiB (a member reads the sizes) and moves one of
    its slots to shard 0; node 1, restarted, is still outside it and reads
    them back. Shard 0 refused."""
    up()
    keys = keys_in(1, 40, "ev")
    plain = CLUSTER.client(1)
    host, port = CLUSTER.addr(1)
    out = shard_place(1, 0, "2,3")
    assert out.returncode != 0 and "shard 0 stays on every node" in out.stdout, out
    w = PipelinedKeys(plain, keys, "w")
    w.write_round(0)
    assert len(w.acked) == len(keys), w.acked
    out = w.during(lambda: shard_place(1, 1, "2,3"))
    assert out.returncode == 0 and "this node is not one of them" in out.stdout, out
    for i in (2, 3):
        wait_for(f"node {i}: shard 1's voters nodes 2 and 3", lambda: str(
            CLUSTER.client(i).info("shards")["shard1"]["voters"]) in ("2 3", "3 2"), 60)
    assert CLUSTER.client(1).info("shards")["shard1"]["role"] == "outside"
    # the copy node 1 kept is freed from memory (its log and snapshot stay)
    wait_for("node 1's copy of shard 1 freed", lambda: int(
        CLUSTER.client(1).info("shards")["shard1"]["keys"]) == 0, 30)
    w.read_back(plain)
    w.write_round(100)
    assert all(w.acked[k] == "w100" for k in keys)
    w.read_back(CLUSTER.client(3))
    rc = RedisCluster(host=host, port=port, decode_responses=True)
    try:
        assert all(rc.get(k) == "w100" for k in keys)
    finally:
        rc.close()
    out = subprocess.run(["redis-cli", "-c", "-h", host, "-p", str(port), "GET", keys[0]],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "w100", out
    # KEEL.RESHARD asked of node 1, outside the shard, is registered by one
    # of its members, which reads the keys' sizes from its copy
    big = keys_in(1, 1, "evbig")[0]
    assert plain.set(big, "x" * ((32 << 20) + 1)) is True
    try:
        plain.execute_command("KEEL.RESHARD", keyslot(big), keyslot(big), 0)
        raise AssertionError("a slot holding a 32 MiB key accepted through a node outside it")
    except redis.ResponseError as e:
        assert "cannot be moved" in str(e), e
    assert plain.delete(big) == 1
    slot = keyslot(keys[0])
    reshard(1, slot, slot, 0)
    wait_for("the slot moved on every node", lambda: owner_everywhere(slot, slot, 0), 30)
    w.read_back(plain)
    CLUSTER.kill(1)
    CLUSTER.start(1)
    wait_for("node 1 back, outside shard 1 and serving its keys", lambda: (
        CLUSTER.client(1).info("shards")["shard1"]["role"] == "outside" and
        CLUSTER.client(1).get(keys[-1]) == "w100"), 60)
    w.read_back(CLUSTER.client(1))
    return f"shard 1 placed on nodes 2 3 under writes; {len(keys)} keys read back through node 1"


def main():
    try:
        # shard_count_kept first: its one-node clusters take the ports the
        # others' cluster keeps until the end
        return run_suite("shards", [shard_count_kept, cluster_lists_in_any_order,
                                    three_shards_spread, cluster_clients,
                                    ioredis_cluster, moved_and_plain, crossslot_and_multi,
                                    one_connection_order, shard_status, restart_reads_back,
                                    keyspace_commands, reshard_refused, reshard_online, shard_add_and_restart,
                                    shard_placed_on_two, shard_place_moves,
                                    idle_shards_quiet, every_shard_placed],
                         [SERVER, CLI])
    finally:
        if CLUSTER:
            CLUSTER.cleanup()


if __name__ == "__main__":
    sys.exit(main())
