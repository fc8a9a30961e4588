#!/usr/bin/env python3
"""tests/cluster/shard_replica_test.py - a read replica of a sharded
cluster on real processes: 3 nodes of --shards 3 and a replica started
with --replica-of (every member) and --shards 3. Keys written to every
shard through one member are each read back from the replica once it has
applied what each group's leader applied, by a plain redis-py client
(the replica routes each key by its slot to its own copy of the key's
group), by redis-py's RedisCluster and by ioredis's Cluster given only the
replica (they learn the masters from its CLUSTER SLOTS, write there, and
read from the replica); the replica answers CLUSTER SLOTS, SHARDS, NODES,
INFO and MYID as a Redis Cluster replica of every shard; it refuses
writes with -READONLY and keys of two shards with -CROSSSLOT; killed and
started again it resumes every shard from where it was (from the
sources' logs, no snapshot); a handshake naming a group the source does
not hold, or none on a sharded source, is refused with a clear error, and
a replica of another shard count never serves the source's groups.

    /usr/bin/python3 tests/cluster/shard_replica_test.py BUILD_DIR [case...]

Prints one line per case and `shard-replica: N passed, M failed`."""
import json
import os
import socket
import subprocess
import sys

import redis
from redis.client import parse_cluster_info, parse_cluster_nodes
from redis.cluster import ClusterNode, RedisCluster, parse_cluster_shards, parse_cluster_slots

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BASE, CLI, SERVER, Cluster, Raw, case, run_suite, wait_for  # noqa: E402
from shards_test import RANGES, keys_in, keyslot  # noqa: E402

REPLICA = 9
CLUSTER = None


def sources():
    return ",".join(f"127.0.0.{i}:{BASE + i}" for i in (1, 2, 3))


def start_replica(c, i=REPLICA, extra=("--shards", "3")):
    """Replica i of the members, started with extra (not the members'
    own settings)."""
    members = c.extra
    c.extra = []
    try:
        c._spawn(i, ["--replica-of", sources()] + list(extra))
    finally:
        c.extra = members


def rinfo(i=REPLICA):
    return CLUSTER.client(i, 3).info("replication")


def leaders():
    """Each group's leader, as node 1 sees them (0: none known)."""
    info = CLUSTER.client(1).info("shards")
    return [int(info[f"shard{g}"]["leader"]) for g in range(3)]


def up():
    """The cluster and its replica, started by the first case that runs."""
    global CLUSTER
    if CLUSTER is None:
        CLUSTER = Cluster(3, ["--shards", "3"])
        CLUSTER.start_all()
        wait_for("the groups' leaders spread", lambda: sorted(leaders()) == [1, 2, 3], 60)
        start_replica(CLUSTER)
        wait_for("the replica to stream every group",
                 lambda: rinfo().get("master_link_status") == "up", 60)


def caught_up(i=REPLICA, timeout=60):
    """Waits until replica i has applied, in every group, what the group's
    leader had applied when this was called."""
    want = []
    for g, lead in enumerate(leaders()):
        assert lead, f"no leader of group {g}"
        want.append(int(CLUSTER.client(lead).info("shards")[f"shard{g}"]["applied_index"]))

    def done():
        info = rinfo(i)
        return all(int(info[f"keel_replica_group{g}"]["applied_index"]) >= want[g]
                   for g in range(3))
    wait_for(f"replica {i} to apply {want}", done, timeout)
    return want


def write_every_shard(prefix, n):
    """n keys of each group through node 1 (a plain client: forwarded to
    each group's leader); {key: value}."""
    keys = {k: f"{k}={v}" for g in range(3) for v, k in enumerate(keys_in(g, n, prefix))}
    p = CLUSTER.client(1, 30).pipeline(transaction=False)
    for k, v in keys.items():
        p.set(k, v)
    assert all(p.execute())
    return keys


def read_back(keys, i=REPLICA):
    r = CLUSTER.client(i, 10)
    got = {k: r.get(k) for k in keys}
    bad = [k for k in keys if got[k] != keys[k]]
    assert not bad, [(k, got[k], keys[k]) for k in bad[:5]]


@case
def replica_follows_every_shard():
    """300 keys of each of the three shards written through node 1 are
    read back from the replica once it caught up, key by key on a plain
    connection, and counted, listed and scanned there as on a member (a
    FLUSHALL refused: -READONLY); its INFO replication shows its four
    groups streaming (the
    three shards and the metadata group, whose map routes its reads), and
    the source it follows shows four streams, one a group."""
    up()
    keys = write_every_shard("a", 300)
    want = caught_up()
    read_back(keys)
    # the keyspace commands over every shard's copy here, as on a member
    r, m = CLUSTER.client(REPLICA, 10), CLUSTER.client(2, 10)
    assert r.dbsize() == m.dbsize() >= len(keys)
    assert sorted(r.keys("a*")) == sorted(m.keys("a*")) == sorted(keys)
    assert sorted(r.scan_iter(match="a*", count=100)) == sorted(keys)
    try:
        r.flushall()
        raise AssertionError("a replica flushed")
    except redis.exceptions.ReadOnlyError as e:
        assert str(e) == "You can't write against a read only replica.", e
    assert r.dbsize() == m.dbsize()
    info = rinfo()
    assert info["keel_replica_groups"] == 4, info
    for g in range(3):
        line = info[f"keel_replica_group{g}"]
        assert line["state"] == "streaming", line
        assert line["slots"] == f"{RANGES[g][0]}-{RANGES[g][1]}", line
    meta = info["keel_replica_group1024"]
    assert meta["state"] == "streaming" and meta["slots"] == "map", meta
    src = info["keel_replica_source"]
    node = int(src.split(":")[0].rsplit(".", 1)[1])
    streams = [v for k, v in CLUSTER.client(node).info("replication").items()
               if k.startswith("keel_replica") and isinstance(v, dict)]
    assert sorted(s["group"] for s in streams) == [0, 1, 2, 1024], streams
    assert all(s["name"] == f"{REPLICA}@127.0.0.{REPLICA}:{BASE + REPLICA}" for s in streams)
    return f"900 keys read back; applied per group {want}; following node {node}"


@case
def replica_answers_cluster_commands():
    """On the replica: CLUSTER SLOTS gives the three ranges, each led by
    the leader the members name, then the members, then the replica
    (node entries of 4 elements); CLUSTER SHARDS lists it as a replica of
    each shard with its applied index; CLUSTER NODES shows three masters
    with their ranges and the replica as myself,slave; CLUSTER INFO ok,
    4 known nodes, 3 masters; writes get -READONLY, keys of two shards
    -CROSSSLOT, keys of one shard are read together."""
    up()
    me = f"127.0.0.{REPLICA}", BASE + REPLICA
    r = CLUSTER.client(REPLICA)
    member = parse_cluster_slots(CLUSTER.client(1).execute_command("CLUSTER", "SLOTS"))
    wait_for("the replica's map to name the members' leaders", lambda: {
        k: v["primary"] for k, v in parse_cluster_slots(
            r.execute_command("CLUSTER", "SLOTS")).items()} == {
        k: v["primary"] for k, v in member.items()}, 30)
    slots = parse_cluster_slots(r.execute_command("CLUSTER", "SLOTS"))
    assert sorted(slots) == RANGES, slots
    for rng, v in slots.items():
        assert v["replicas"][-1] == me and len(v["replicas"]) == 3, (rng, v)
    raw = Raw(me)
    for entry in raw.call("CLUSTER", "SLOTS"):
        assert all(len(n) == 4 for n in entry[2:]), entry
    myid = raw.call("CLUSTER", "MYID")
    assert myid == f"{REPLICA:040x}", myid
    for shard in parse_cluster_shards(r.execute_command("CLUSTER", "SHARDS")):
        mine = [n for n in shard["nodes"] if n["id"] == myid]
        assert len(mine) == 1 and mine[0]["role"] == "replica", shard
        assert mine[0]["replication-offset"] > 0 and mine[0]["health"] == "online", shard
        assert [n["role"] for n in shard["nodes"]].count("master") == 1, shard
    nodes = parse_cluster_nodes(r.execute_command("CLUSTER", "NODES"))
    masters = sorted(tuple(map(int, n["slots"][0])) for n in nodes.values()
                     if "master" in n["flags"])
    assert masters == RANGES, nodes
    self_line = nodes[f"{me[0]}:{me[1]}"]
    assert self_line["flags"] == "myself,slave" and self_line["node_id"] == myid, self_line
    assert self_line["master_id"] == f"{leaders()[0]:040x}", self_line
    info = parse_cluster_info(r.execute_command("CLUSTER", "INFO"))
    assert info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == 4, info
    assert int(info["cluster_size"]) == 3 and int(info["cluster_slots_ok"]) == 16384, info
    a, b = keys_in(0, 2, "cr")
    c = keys_in(2, 1, "cr")[0]
    assert raw.call("SET", a, "x") == "-READONLY You can't write against a read only replica."
    assert raw.call("MGET", a, c) == "-CROSSSLOT Keys in request don't hash to the same slot"
    assert CLUSTER.client(1).mset({a: "1", b: "2"}) is True
    caught_up()
    assert raw.call("MGET", a, b) == ["1", "2"]
    assert raw.call("MULTI") == "+OK" and raw.call("GET", a) == "+QUEUED"
    assert raw.call("GET", c).startswith("-CROSSSLOT")
    assert raw.call("EXEC").startswith("-EXECABORT")
    raw.close()


@case
def cluster_clients_read_from_the_replica():
    """redis-py's RedisCluster given only the replica, reading from
    replicas: it writes 200 keys (to the masters the replica names) and
    reads them back, the replica serving some reads; ioredis's Cluster
    given only the replica reads 200 keys written through a member, each
    from the replica (its scaleReads picks it; the replica counts the
    reads), and its write goes to a master."""
    up()
    before = CLUSTER.client(REPLICA).info("stats")["keel_reads"]
    rc = RedisCluster(startup_nodes=[ClusterNode(f"127.0.0.{REPLICA}", BASE + REPLICA)],
                      read_from_replicas=True, decode_responses=True)
    try:
        for k in range(200):
            rc.set(f"rc:{k}", k)
        caught_up()
        got = [rc.get(f"rc:{k}") for k in range(200)]
    finally:
        rc.close()
    assert got == [str(k) for k in range(200)], got[:10]
    served = CLUSTER.client(REPLICA).info("stats")["keel_reads"] - before
    assert served >= 20, served
    p = CLUSTER.client(1, 30).pipeline(transaction=False)
    for i in range(200):
        p.set(f"ior:{i}", f"v{i}")
    assert all(p.execute())
    caught_up()
    before = CLUSTER.client(REPLICA).info("stats")["keel_reads"]
    io = ioredis_reads(200)
    there = CLUSTER.client(REPLICA).info("stats")["keel_reads"] - before
    assert io["got"] == [f"v{i}" for i in range(200)], io
    assert io["fromReplica"] == 200 and there >= 200 and io["masters"] == 3, (io, there)
    assert io["set"] == "OK" and CLUSTER.client(1).get("ior:w") == "w", io
    return f"RedisCluster: {served} of 200 reads served by the replica; ioredis: 200 of 200"


IOREDIS = """
const Redis = require("ioredis");
const [host, port, n] = process.argv.slice(1).map((v, i) => i ? Number(v) : v);
(async () => {
  let fromReplica = 0;
  const c = new Redis.Cluster([{ host, port }], {
    slotsRefreshInterval: 0,
    redisOptions: { connectTimeout: 5000 },
    scaleReads: (nodes) => {
      const r = nodes.find(x => x.options.host === host && x.options.port === port);
      if (r) fromReplica++;
      return r || nodes[0];
    },
  });
  const out = { got: [] };
  out.set = await c.set("ior:w", "w");
  for (let i = 0; i < n; i++) out.got.push(await c.get(`ior:${i}`));
  out.fromReplica = fromReplica;
  out.masters = c.nodes("master").length;
  await c.quit();
  console.log(JSON.stringify(out));
})().catch(e => { console.error(String(e)); process.exit(1); });
"""


def ioredis_reads(n):
    mods = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "clients", "node_modules")
    assert os.path.isdir(os.path.join(mods, "ioredis")), f"no ioredis in {mods}"
    out = subprocess.run(["node", "-e", IOREDIS, f"127.0.0.{REPLICA}", str(BASE + REPLICA),
                          str(n)], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, NODE_PATH=mods))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@case
def replica_restart_resumes_every_shard():
    """The replica killed (SIGKILL); 200 keys of each shard written while
    it is down; started again it recovers each group from its own folder,
    each source stream resumes from the source's log (no snapshot), and
    every key written before and while it was down is read back."""
    up()
    old = write_every_shard("b", 100)
    caught_up()
    CLUSTER.kill(REPLICA)
    new = write_every_shard("c", 200)
    logs = {i: len(CLUSTER.log(i)) for i in (1, 2, 3)}
    start_replica(CLUSTER)
    wait_for("the restarted replica to stream every group",
             lambda: rinfo().get("master_link_status") == "up", 60)
    caught_up()
    read_back({**old, **new})
    log = CLUSTER.log(REPLICA)
    recovered = [ln for ln in log.splitlines() if "recovered to index" in ln][-3:]
    assert len(recovered) == 3 and all(not ln.endswith(" 0") for ln in recovered), recovered
    attached = [ln for i in (1, 2, 3) for ln in CLUSTER.log(i)[logs[i]:].splitlines()
                if f"127.0.0.{REPLICA}:{BASE + REPLICA} (" in ln and "attached" in ln]
    assert len(attached) >= 3, attached
    assert all("from the log" in ln for ln in attached), attached
    snaps = sum(int(rinfo()[f"keel_replica_group{g}"]["snapshots_received"]) for g in range(3))
    assert snaps == 0, rinfo()
    return (f"{len(old) + len(new)} keys; groups recovered to "
            f"{[int(ln.rsplit(' ', 1)[1]) for ln in recovered]}, resumed from the logs")


def handshake(addr, *args):
    """KEEL.REPLICATE args on a raw connection: every byte the source sends
    until it closes."""
    s = socket.create_connection(addr, timeout=10)
    cmd = [b"KEEL.REPLICATE"] + [str(a).encode() for a in args]
    s.sendall(b"*%d\r\n" % len(cmd) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in cmd))
    got = b""
    while True:
        part = s.recv(4096)
        if not part:
            break
        got += part
    s.close()
    return got


@case
def handshake_names_the_group():
    """A handshake naming group 7 of a node of 3 is refused with an ERROR
    frame saying so, as is one naming no group (a replica that knows no
    shards would serve every slot from the first group); a replica started
    without --shards is refused and serves no key; one of --shards 2 finds
    the source's group 0 serving other slots than its own, says so, and
    serves no key either."""
    up()
    got = handshake(CLUSTER.addr(1), 1, 0, 1, "none", "t7", 7)
    assert got[:2] == b"KF" and got[3] == 33, got[:40]  # an ERROR frame
    assert b"this node holds no group 7 (it holds 3 shards, 0 to 2, and the metadata group " \
        b"1024)" in got, got
    got = handshake(CLUSTER.addr(2), 1, 0, 1, "none", "t0")
    assert got[:2] == b"KF" and got[3] == 33, got[:40]
    assert b"a replica of it names the group it follows (start it with --shards 3)" in got, got
    wait_for("the sources to log the refusals", lambda: "refused a replica t7" in CLUSTER.log(1)
             and "refused a replica t0" in CLUSTER.log(2), 10)
    key = keys_in(0, 1, "hs")[0]
    assert CLUSTER.client(1).set(key, "1") is True
    start_replica(CLUSTER, 10, ())
    start_replica(CLUSTER, 11, ("--shards", "2"))
    try:
        wait_for("the refusals on the replicas", lambda: (
            "the source refused: this node holds 3 shards (--shards 3)" in CLUSTER.log(10) and
            "group 0 serves slots 0-5460, this replica's 0-8191" in CLUSTER.log(11)), 30)
        for i in (10, 11):
            assert CLUSTER.client(i).get(key) is None, i
            assert rinfo(i)["master_link_status"] == "down", i
    finally:
        CLUSTER.kill(10)
        CLUSTER.kill(11)


@case
def replica_follows_a_move():
    """keel-cli reshard moves slots 0-999 (shard 0's) to shard 1, and
    keel-cli shard add adds a shard (3), given slots 16000-16383: the
    replica follows the metadata group, so it reads the moved keys from its
    copy of their new shard, answers CLUSTER SLOTS with the new map, and
    follows the added shard over a stream of its own."""
    up()
    moved = {k: f"{k}=m" for k in (f"mv{i}" for i in range(20000)) if keyslot(k) <= 999}
    moved = dict(list(moved.items())[:100])
    tail = {k: f"{k}=t" for k in (f"tl{i}" for i in range(40000)) if keyslot(k) >= 16000}
    tail = dict(list(tail.items())[:50])
    p = CLUSTER.client(1, 30).pipeline(transaction=False)
    for k, v in {**moved, **tail}.items():
        p.set(k, v)
    assert all(p.execute())
    cli = [CLI, "-h", CLUSTER.addr(2)[0], "-p", str(CLUSTER.addr(2)[1])]
    for args in (["reshard", "--slots", "0-999", "--to", "1"], ["shard", "add"],
                 ["reshard", "--slots", "16000-16383", "--to", "3"]):
        out = subprocess.run(cli + args, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, (args, out)
    wait_for("the replica to stream the added shard",
             lambda: rinfo().get("keel_replica_group3", {}).get("state") == "streaming", 60)

    def moved_here():
        slots = parse_cluster_slots(CLUSTER.client(REPLICA).execute_command("CLUSTER", "SLOTS"))
        return (0, 999) in slots and (16000, 16383) in slots
    wait_for("the replica's map to show both moves", moved_here, 60)
    wait_for("the replica to read the moved keys", lambda: all(
        CLUSTER.client(REPLICA).get(k) == v for k, v in {**moved, **tail}.items()), 60)
    info = rinfo()
    assert str(info["keel_replica_group1"]["slots"]).startswith("0-999 "), info
    assert str(info["keel_replica_group3"]["slots"]) == "16000-16383", info
    return f"{len(moved)} keys moved to shard 1, {len(tail)} to the added shard 3"


def main():
    try:
        return run_suite("shard-replica", [
            replica_follows_every_shard, replica_answers_cluster_commands,
            cluster_clients_read_from_the_replica, replica_restart_resumes_every_shard,
            handshake_names_the_group, replica_follows_a_move], [SERVER, CLI])
    finally:
        if CLUSTER:
            CLUSTER.cleanup()


if __name__ == "__main__":
    sys.exit(main())
