#!/usr/bin/env python3
"""tests/cluster/shard_members_test.py - membership changes of a sharded
cluster on real processes: 3 nodes of --shards 3 take a 4th (--join, made
a learner then a voter of every shard and of the metadata group), the keys
written before and after are read back from it, a node started with
another --shards is refused, another is added by hand as a learner of
every group and promoted, a member is removed from every group (it
says so and refuses writes), writes are acknowledged after, redis-py
RedisCluster works throughout, and CLUSTER NODES / SHARDS and INFO shards
name the members; the leader of a shard placed on two nodes, removed from
the cluster, hands the shard over and leaves it before it says to stop it;
a node of a shard placed on two nodes, removed while down, opens it from
its folder when it starts again and leaves it before it says to stop it;
a node down since a shard was placed on it and one other node is not
removed until the shard has had a leader.

    /usr/bin/python3 tests/cluster/shard_members_test.py BUILD_DIR [case...]

Prints one line per case and `shard-members: N passed, M failed`."""
import os
import subprocess
import sys

import redis
from redis.client import parse_cluster_nodes
from redis.crc import key_slot
from redis.cluster import RedisCluster, parse_cluster_shards

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BASE, CLI, PEER_OFFSET, SERVER, Cluster, case, retry, run_suite, wait_for  # noqa: E402


def groups_of(c, i):
    """Node i's INFO shards: {group name: {field: text}} (shard0.., meta)."""
    info = c.client(i, 3).info("shards")
    return {name: {k: str(v) for k, v in fields.items()} for name, fields in info.items()
            if isinstance(fields, dict) and (name == "meta" or name[5:].isdigit())}


def members_are(c, i, voters, learners=()):
    """Whether node i has every group's voters and learners as given."""
    gs = groups_of(c, i)

    def ids(text):
        return sorted(int(x) for x in text.split())
    return len(gs) == 4 and all(
        ids(g["voters"]) == sorted(voters) and ids(g["learners"]) == sorted(learners)
        for g in gs.values())


def cli(c, i, *args):
    host, port = c.addr(i)
    p = subprocess.run([CLI, "-h", host, "-p", str(port)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "OK" in p.stdout, f"keel-cli {args}: {p.stdout}{p.stderr}"


def led_everywhere(c, nodes):
    """Whether every node given knows a leader of every group, the same
    one as the others, among the nodes given."""
    seen = None
    for i in nodes:
        leaders = {name: int(g["leader"]) for name, g in groups_of(c, i).items()}
        if len(leaders) != 4 or any(v not in nodes for v in leaders.values()):
            return False
        if seen is not None and leaders != seen:
            return False
        seen = leaders
    return True


def cluster_client(c, i):
    host, port = c.addr(i)
    return RedisCluster(host=host, port=port, decode_responses=True, socket_timeout=10)


def groups_seen(c):
    """Each running node's view of its groups' roles, leaders and voters."""
    out = {}
    for i in sorted(c.procs):
        try:
            out[i] = {n: (g["role"], g["leader"], g["voters"]) for n, g in groups_of(c, i).items()}
        except (redis.RedisError, OSError) as e:
            out[i] = str(e)
    return out


def write_keys(c, i, prefix, n):
    rc = cluster_client(c, i)
    for k in range(n):
        try:
            assert retry(lambda: rc.set(f"{prefix}{k}", f"v{k}")), k
        except redis.RedisError as e:
            raise AssertionError(f"{prefix}{k} (slot {rc.keyslot(prefix + str(k))}): {e}; "
                                 f"groups: {groups_seen(c)}") from e
    rc.close()
    return {f"{prefix}{k}": f"v{k}" for k in range(n)}


def read_back(c, i, kv):
    """Every key of kv read on node i by a plain client (served on any
    member, whichever shard holds the key)."""
    cl = c.client(i, 10)
    bad = [k for k, v in kv.items() if retry(lambda: cl.get(k)) != v]
    assert not bad, f"node {i}: {len(bad)} keys missing or wrong, e.g. {bad[:3]}"


def refused_as_removed(c, i, key):
    """Whether node i refuses a write of key with -REMOVED. Until its group
    of that key is told, it forwards the write to the group's leader, which
    applies it (as on a cluster of one group): not refused yet."""
    try:
        c.client(i).set(key, "1")
    except redis.ResponseError as e:
        return str(e).startswith("REMOVED")
    return False


def nodes_listed(c, i):
    """Node i's CLUSTER NODES ids (as ints) and CLUSTER SHARDS' node count
    of each shard."""
    nodes = parse_cluster_nodes(c.client(i, 3).execute_command("CLUSTER", "NODES"))
    ids = sorted(int(n["node_id"], 16) for n in nodes.values())
    shards = parse_cluster_shards(c.client(i, 3).execute_command("CLUSTER", "SHARDS"))
    return ids, sorted(len(s["nodes"]) for s in shards)


@case
def join_promote_remove():
    """3 nodes of --shards 3; node 4 joins (through a member that does not
    lead the metadata group) and becomes a voter of every group; the keys
    written before and after are read from it; a node of another --shards
    is refused; node 6 is added by hand (a learner of every group), then
    promoted (a voter of every group); node 3 is removed from every group,
    says so and refuses writes; writes are acknowledged after, and every
    member lists 1, 2, 4, 6."""
    c = Cluster(3, ["--shards", "3"])
    try:
        c.start_all()
        wait_for("every group led, on every node", lambda: led_everywhere(c, (1, 2, 3)), 60)
        before = write_keys(c, 1, "before:", 300)
        # through a member that does not lead the metadata group: it forwards
        via = next(i for i in (1, 2, 3) if i != int(groups_of(c, 1)["meta"]["leader"]))
        host, port = c.addr(via)
        c.start_new(4, ["--shards", "3", "--join", f"{host}:{port}"])
        wait_for("node 4 a voter of every group, on every node",
                 lambda: all(members_are(c, i, (1, 2, 3, 4)) for i in (1, 2, 3, 4)), 90)
        read_back(c, 4, before)
        after = write_keys(c, 4, "after:", 300)
        read_back(c, 4, after)
        read_back(c, 1, after)
        for i in (1, 4):
            wait_for(f"node {i} to list 4 nodes in CLUSTER NODES and SHARDS",
                     lambda: nodes_listed(c, i) == ([1, 2, 3, 4], [4, 4, 4]), 20)
        c.start_new(5, ["--shards", "2", "--join", f"127.0.0.1:{BASE + 1}"])
        wait_for("node 5 (--shards 2) refused",
                 lambda: "start it with --shards 3" in c.log(5), 20)
        assert all(members_are(c, i, (1, 2, 3, 4)) for i in (1, 2, 4)), groups_of(c, 1)
        c.kill(5)
        # by hand: node 6 added as a learner (no AUTO), then promoted
        c.start_new(6, ["--shards", "3"])
        cli(c, 1, "add", 6, f"127.0.0.6:{BASE + PEER_OFFSET + 6}")
        wait_for("node 6 a learner of every group, on every node",
                 lambda: all(members_are(c, i, (1, 2, 3, 4), (6,)) for i in (1, 2, 3, 4, 6)), 60)
        cli(c, 3, "promote", 6)
        wait_for("node 6 a voter of every group, on every node",
                 lambda: all(members_are(c, i, (1, 2, 3, 4, 6)) for i in (1, 2, 3, 4, 6)), 60)
        cli(c, 2, "remove", 3)
        wait_for("node 3 out of every group, on nodes 1, 2, 4 and 6",
                 lambda: all(members_are(c, i, (1, 2, 4, 6)) for i in (1, 2, 4, 6)), 60)
        wait_for("node 3 to say it was removed", lambda: "removed from the cluster" in c.log(3), 20)
        # it says so (and INFO raft says raft_role:removed, the operator's
        # signal to stop it) only once no group has it any more
        assert (c.info(3) or {}).get("raft_role") == "removed", c.info(3)
        assert "stop it" in c.log(3) and "a member of other groups still" in c.log(3), c.log(3)
        # each of its groups learns it (told by that group's members): a
        # write to a key of each shard is refused, none taken
        for key in ("x:2", "x:3", "x:0"):  # slots in shards 0, 1 and 2
            wait_for(f"node 3 to refuse a write of {key} (slot {key_slot(key.encode())})",
                     lambda: refused_as_removed(c, 3, key), 20)
        # a group node 3 led elects another leader (an election timeout)
        wait_for("every group led on nodes 1, 2, 4 and 6",
                 lambda: led_everywhere(c, (1, 2, 4, 6)), 30)
        late = write_keys(c, 1, "late:", 100)
        for i in (1, 2, 4, 6):
            read_back(c, i, {**before, **after, **late})
            wait_for(f"node {i} to list nodes 1, 2, 4, 6",
                     lambda: nodes_listed(c, i) == ([1, 2, 4, 6], [4, 4, 4]), 20)
        return ("node 4 joined every group, node 6 added and promoted in every group, node 3 "
                "left every group; 700 keys read back on every member")
    finally:
        c.cleanup()


def shard1_line(c, i):
    """Node i's INFO shards line of shard 1, as text."""
    return {k: str(v) for k, v in c.client(i, 3).info("shards")["shard1"].items()}


@case
def placed_leader_removed():
    """3 nodes of --shards 2; shard 1 placed on nodes 2 and 3 (keel-cli
    shard place), led by node 3, its preferred voter; node 3 removed
    (keel-cli remove) while a client writes shard 1's keys through node 1:
    node 3 hands the shard to node 2, which removes it, and only then does
    node 3 say it is out of the cluster (raft_role:removed, "stop it" in
    its log). It is killed then; shard 1, on node 2 alone, takes writes,
    and every acknowledged write is read back through nodes 1 and 2.
    Stopped at the first notice (the metadata group's), node 3 would have
    left shard 1 two voters, one stopped: no leader for good. Removing
    node 2 then, shard 1's last node, is refused and changes nothing."""
    c = Cluster(3, ["--shards", "2"])
    try:
        c.start_all()
        wait_for("every group led, as node 1 sees them", lambda: len(groups_of(c, 1)) == 3 and all(
            g["leader"] != "0" for g in groups_of(c, 1).values()), 60)
        keys = [k for k in (f"pl{i}" for i in range(2000)) if key_slot(k.encode()) >= 8192][:60]
        host, port = c.addr(1)
        p = subprocess.run([CLI, "-h", host, "-p", str(port), "shard", "place", "1", "--nodes",
                            "2,3"], capture_output=True, text=True, timeout=180)
        assert p.returncode == 0, p
        wait_for("shard 1 led by node 3, its voters nodes 2 and 3", lambda: (
            shard1_line(c, 3)["role"] == "leader" and
            sorted(shard1_line(c, 3)["voters"].split()) == ["2", "3"]), 60)
        plain = c.client(1, 10)
        acked = {}
        for k in keys[:20]:
            assert retry(lambda: plain.set(k, "a")), k
            acked[k] = "a"
        cli(c, 1, "remove", 3)
        # writes go on while node 3 leaves; one refused or timed out may
        # still be applied: only the acknowledged ones are checked
        for k in keys[20:40]:
            try:
                if plain.set(k, "b"):
                    acked[k] = "b"
            except redis.RedisError:
                acked.pop(k, None)
        wait_for("node 3 to say it is out of the cluster",
                 lambda: (c.info(3) or {}).get("raft_role") == "removed", 30)
        assert "stop it" in c.log(3), c.log(3)
        line = shard1_line(c, 2)
        assert line["role"] == "leader" and line["voters"].split() == ["2"], line
        c.kill(3)
        # node 2 is now the only node of shard 1: removing it is refused,
        # and it stays a voter of the cluster and of the shard
        host, port = c.addr(1)
        p = subprocess.run([CLI, "-h", host, "-p", str(port), "remove", "2"],
                           capture_output=True, text=True, timeout=30)
        assert "shard 1 is placed on node 2 alone" in p.stdout + p.stderr, p
        assert shard1_line(c, 2)["voters"].split() == ["2"], shard1_line(c, 2)
        member = (c.info(1) or {}).get("raft_member_2")
        assert isinstance(member, dict) and member.get("role") == "voter", c.info(1)
        for k in keys[40:]:
            assert retry(lambda: plain.set(k, "c")), k
            acked[k] = "c"
        for i in (1, 2):
            cl = c.client(i, 10)
            bad = [k for k, v in acked.items() if retry(lambda: cl.get(k)) != v]
            assert not bad, f"node {i}: {bad[:3]}"
        return (f"node 3 left shard 1 (handed to node 2) before it said stop it; "
                f"{len(acked)} acknowledged writes read back")
    finally:
        c.cleanup()


@case
def placed_removed_while_down():
    """4 nodes of --shards 2; shard 2 added on nodes 3 and 4 (keel-cli
    shard add --nodes 3,4); node 3 killed, removed (keel-cli remove 3)
    while down, and started again: removed, it applies no entry of the
    metadata group again, so its map does not count shard 2; it opens the
    shard from its folder, takes part until shard 2 drops it, and only
    then says it is out of the cluster; shard 2 is then led by node 4
    alone. Before, node 3 said "stop it" at once, and shard 2 (two voters,
    one stopped) had no leader for good."""
    c = Cluster(4, ["--shards", "2"])
    try:
        c.start_all()
        wait_for("every group led, on every node", lambda: all(
            len(groups_of(c, i)) == 3 and all(g["leader"] != "0" for g in groups_of(c, i).values())
            for i in (1, 2, 3, 4)), 60)
        host, port = c.addr(1)
        p = subprocess.run([CLI, "-h", host, "-p", str(port), "shard", "add", "--nodes", "3,4"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p

        def shard2(i):
            return {k: str(v) for k, v in c.client(i, 3).info("shards")["shard2"].items()}
        wait_for("shard 2 led, its voters nodes 3 and 4", lambda: (
            sorted(shard2(4)["voters"].split()) == ["3", "4"] and shard2(4)["leader"] in ("3", "4")),
            60)
        c.kill(3)
        cli(c, 1, "remove", 3)
        c.start(3)
        wait_for("node 3 to say it is out of the cluster",
                 lambda: (c.info(3) or {}).get("raft_role") == "removed", 60)
        assert "its folder is here" in c.log(3), c.log(3)
        line = shard2(4)
        assert line["role"] == "leader" and line["voters"].split() == ["4"], line
        c.kill(3)
        return "node 3 opened shard 2 from its folder and left it before it said stop it"
    finally:
        c.cleanup()


@case
def pair_never_led():
    """3 nodes of --shards 2; node 3 killed, then shard 2 added on nodes 3
    and 2 (keel-cli shard add --nodes 3,2): two voters, so no leader
    without node 3. Removing node 3 is refused (-TRYAGAIN, RAFT REMOVE
    through redis-py) and changes nothing: before, it was made, and node
    3, which never opened shard 2, said "stop it" once its other groups
    dropped it, leaving shard 2 with no leader for good. Started again,
    node 3 opens shard 2 and votes; removed then, it leaves shard 2 before
    it says it is out of the cluster, and node 2 leads shard 2 alone."""
    c = Cluster(3, ["--shards", "2"])
    try:
        c.start_all()
        wait_for("every group led, on every node", lambda: all(
            len(groups_of(c, i)) == 3 and all(g["leader"] != "0" for g in groups_of(c, i).values())
            for i in (1, 2, 3)), 60)
        c.kill(3)
        host, port = c.addr(1)
        p = subprocess.run([CLI, "-h", host, "-p", str(port), "shard", "add", "--nodes", "3,2"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p

        def shard2(i):
            return {k: str(v) for k, v in c.client(i, 3).info("shards")["shard2"].items()}
        wait_for("node 2 to hold shard 2", lambda: "shard2" in c.client(2, 3).info("shards"), 30)
        try:
            c.client(1, 10).execute_command("RAFT", "REMOVE", 3)
            raise AssertionError("RAFT REMOVE 3 was made; shard 2 has no leader without node 3")
        except redis.ResponseError as e:
            assert str(e).startswith("TRYAGAIN remove: shard 2 is placed on node 3"), e
        assert members_of(c, 1, "meta") == ["1", "2", "3"], groups_of(c, 1)
        assert shard2(2)["leader"] == "0", shard2(2)
        c.start(3)
        wait_for("shard 2 led", lambda: shard2(2)["leader"] in ("2", "3"), 60)
        cli(c, 1, "remove", 3)
        wait_for("node 3 to say it is out of the cluster",
                 lambda: (c.info(3) or {}).get("raft_role") == "removed", 60)
        wait_for("node 2 to lead shard 2 alone", lambda: (
            shard2(2)["role"] == "leader" and shard2(2)["voters"].split() == ["2"]), 30)
        c.kill(3)
        return "node 3's removal refused while shard 2 needed its vote; made once it took part"
    finally:
        c.cleanup()


def members_of(c, i, group):
    """Node i's voters of group (as in INFO shards), sorted."""
    return sorted(groups_of(c, i)[group]["voters"].split())


def main():
    return run_suite("shard-members", [join_promote_remove, placed_leader_removed,
                                       placed_removed_while_down, pair_never_led],
                     [SERVER, CLI])


if __name__ == "__main__":
    sys.exit(main())
