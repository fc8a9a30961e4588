#!/usr/bin/env python3
"""tests/cluster/sentinel_test.py - Sentinel-compatible discovery on real
processes (src/server/sentinel.c): every member answers the Sentinel
commands client libraries send, in the shapes those libraries parse
(redis-py's parsers here; ioredis and node-redis read the same fields),
and redis-py's redis.sentinel.Sentinel, given the three members as its
Sentinels, keeps writing through a kill -9 of the leader, twice, with
every acknowledged increment in the final counter and none applied twice.

    /usr/bin/python3 tests/cluster/sentinel_test.py BUILD_DIR [case...]

Prints one line per case and `sentinel: N passed, M failed`."""
import os
import signal
import socket
import sys
import threading
import time

import redis
from redis.sentinel import MasterNotFoundError, Sentinel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BASE, SERVER, Cluster, case, retry, run_suite, wait_for  # noqa: E402


def sentinel_port(i):
    return BASE + 20000 + i


def leader_addr(c, exclude=()):
    lead = c.leader(20, exclude)
    assert lead, "no leader"
    return lead, c.addr(lead)


def raw(host, port, *cmds):
    """Sends commands on one connection; returns the bytes read after the
    last reply began (enough to check its first bytes)."""
    s = socket.create_connection((host, port), timeout=5)
    try:
        out = b""
        for cmd in cmds:
            req = f"*{len(cmd)}\r\n".encode()
            for a in cmd:
                req += f"${len(a)}\r\n{a}\r\n".encode()
            s.sendall(req)
            time.sleep(0.2)
            out = s.recv(65536)
        return out
    finally:
        s.close()


def check_master_state(st, name, addr, others):
    assert st["name"] == name, st
    assert (st["ip"], st["port"]) == addr, st
    assert st["is_master"] and not st["is_sdown"] and not st["is_odown"], st["flags"]
    assert st["num-other-sentinels"] == others and st["quorum"] == 2, st
    assert st["num-slaves"] == 2, st


@case
def reply_shapes():
    """The master name from a config file; SENTINEL MASTERS / MASTER /
    GET-MASTER-ADDR-BY-NAME / REPLICAS / SLAVES / SENTINELS / ROLE on every
    member, on the client and the Sentinel port, parsed by redis-py; the
    errors of Redis Sentinel; RESP3 shapes; node-redis's PSUBSCRIBE."""
    c = Cluster(3)
    try:
        conf = os.path.join(c.dir, "sentinel.conf")
        with open(conf, "w") as f:
            f.write("# Sentinel settings\nsentinel-master-name orders\n")
        for i in (1, 2, 3):
            c._spawn(i, ["--cluster", c.members, "--config", conf,
                         "--sentinel-port", str(sentinel_port(i))])

        def views_agree():
            """Every member, on both ports, names the leader an up master
            with the others its replicas; ROLE and INFO agree."""
            lead, laddr = leader_addr(c)
            fols = [i for i in (1, 2, 3) if i != lead]
            # a follower learns the others' client addresses from their HELLO
            wait_for("every member to know every client address", lambda: all(
                len(c.client(i, 2).sentinel_sentinels("orders")) == 2 for i in (1, 2, 3)), 20)
            for i in (1, 2, 3):
                for host, port in (c.addr(i), (c.addr(i)[0], sentinel_port(i))):
                    r = redis.Redis(host=host, port=port, socket_timeout=5, decode_responses=True)
                    masters = r.sentinel_masters()
                    assert list(masters) == ["orders"], masters
                    check_master_state(masters["orders"], "orders", laddr, 2)
                    check_master_state(r.sentinel_master("orders"), "orders", laddr, 2)
                    assert r.sentinel_get_master_addr_by_name("orders") == (laddr[0], laddr[1])
                    reps = r.sentinel_slaves("orders")
                    assert sorted((x["ip"], x["port"]) for x in reps) == \
                        sorted(c.addr(j) for j in fols), reps
                    for x in reps:
                        assert x["is_slave"] and not x["is_sdown"], x
                        assert (x["master-host"], x["master-port"]) == laddr, x
                    assert len(r.execute_command("SENTINEL", "REPLICAS", "orders")) == 2
                    sents = r.sentinel_sentinels("orders")
                    assert sorted((x["ip"], x["port"]) for x in sents) == sorted(
                        (c.addr(j)[0], sentinel_port(j)) for j in (1, 2, 3) if j != i), sents
                    for x in sents:
                        assert x["is_sentinel"] and not x["is_sdown"], x
                        assert "disconnected" not in x["flags"], x
            # what a client checks on the master it was given (ioredis: INFO's
            # role) and ROLE, as Redis answers it
            r = c.client(lead)
            assert r.info("replication")["role"] == "master"
            role = r.execute_command("ROLE")
            assert role[0] == "master" and isinstance(role[1], int), role
            assert sorted((h, int(p)) for h, p, _ in role[2]) == sorted(c.addr(j) for j in fols)
            for j in fols:
                f = c.client(j)
                assert f.info("replication")["role"] == "slave"
                role = f.execute_command("ROLE")
                assert role[:4] == ["slave", laddr[0], laddr[1], "connected"], role
            return lead, laddr, fols
        # a leader that heard from no majority for an election timeout (a
        # stall of a loaded machine) steps down, and another may be
        # elected between two reads: the views are read again, with the
        # leader found again, until they agree
        for attempt in range(5):
            try:
                lead, laddr, fols = views_agree()
                break
            except AssertionError:
                if attempt == 4:
                    raise
                time.sleep(1)
        # Redis Sentinel's answers to what it does not know
        r = c.client(fols[0])
        assert r.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster") is None
        for cmd, err in ((("MASTER", "mymaster"), "No such master with that name"),
                         (("SENTINELS", "keel"), "No such master with that name"),
                         (("MASTERS", "x"), "wrong number of arguments for 'sentinel|masters'"),
                         (("MASTER",), "wrong number of arguments for 'sentinel|master'"),
                         (("FAILOVER", "orders"), "unknown subcommand 'FAILOVER'")):
            try:
                r.execute_command("SENTINEL", *cmd)
                raise AssertionError(f"SENTINEL {cmd} was accepted")
            except redis.ResponseError as e:
                assert err in str(e), (cmd, e)
        # RESP3: a map; node-redis's subscription before it uses a Sentinel
        host, port = c.addr(fols[0])
        assert raw(host, port, ["HELLO", "3"], ["SENTINEL", "MASTER", "orders"]) \
            .startswith(b"%"), "not a RESP3 map"
        pats = ["switch-master", "[-+]sdown", "+slave", "+sentinel", "[-+]odown",
                "+slave-reconf-done"]
        p = c.client(fols[0]).pubsub()
        p.psubscribe(*pats)
        got = [p.get_message(timeout=2) for _ in pats]
        assert [(m["type"], m["channel"], m["data"]) for m in got] == \
            [("psubscribe", pat, k + 1) for k, pat in enumerate(pats)], got
        assert p.get_message(timeout=0.5) is None  # nothing published
        p.subscribe("+switch-master", "+replica-reconf-done")  # as go-redis does
        got = [p.get_message(timeout=2) for _ in range(2)]
        assert [(m["type"], m["data"]) for m in got] == [("subscribe", 7), ("subscribe", 8)], got
        p.close()
        try:
            c.client(fols[0]).execute_command("SUBSCRIBE", "news")
            raise AssertionError("SUBSCRIBE news was accepted")
        except redis.ResponseError as e:
            assert "no pub/sub" in str(e), e
        return f"leader {lead} (the views read {attempt + 1} times)"
    finally:
        c.cleanup()


class Counter:
    """A thread writing INCR ctr through redis-py's Sentinel master client,
    counting what was acknowledged and what may or may not have applied."""

    def __init__(self, master):
        self.master, self.stop = master, False
        self.acked, self.unknown, self.values, self.errors = 0, 0, [], {}
        self.times = []  # of each acknowledgement
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                v = self.master.incr("ctr")
                self.acked += 1
                self.values.append(v)
                self.times.append(time.time())
            except (redis.ConnectionError, redis.TimeoutError) as e:
                if not isinstance(e, MasterNotFoundError) and \
                        "Connection refused" not in str(e):
                    self.unknown += 1  # sent, maybe applied
                self.errors[type(e).__name__] = self.errors.get(type(e).__name__, 0) + 1
                time.sleep(0.05)
            except redis.ResponseError as e:
                # CLUSTERDOWN and TRYAGAIN say not applied; TIMEOUT may have
                if not str(e).startswith(("CLUSTERDOWN", "TRYAGAIN")):
                    self.unknown += 1
                self.errors[str(e)[:20]] = self.errors.get(str(e)[:20], 0) + 1
                time.sleep(0.05)

    def finish(self):
        self.stop = True
        self.t.join(30)
        assert not self.t.is_alive(), "the writer is stuck"


def resumes(w, since, n=20, timeout=20):
    """Waits for n acknowledged writes after `since`; the delay to the first."""
    base = w.acked
    end = time.time() + timeout
    while time.time() < end and w.acked < base + n:
        time.sleep(0.05)
    assert w.acked >= base + n, f"the client did not resume within {timeout} s: {w.errors}"
    return min(t for t in w.times[base:] if t >= since) - since


@case
def kill_leader():
    """redis-py's Sentinel with the three members as Sentinels (default
    master name `keel`): INCRs through master_for() while the leader is
    killed with kill -9, then the new leader too (with the first node
    back): the client resumes each time on its own, every acknowledged
    increment is in the final counter, none is applied twice."""
    c = Cluster(3)
    try:
        c.start_all()
        lead, _ = leader_addr(c)
        sent = Sentinel([c.addr(i) for i in (1, 2, 3)], socket_timeout=2,
                        socket_connect_timeout=1)
        wait_for("a master", lambda: sent.discover_master("keel") == c.addr(lead), 20)
        master = sent.master_for("keel", socket_timeout=2, socket_connect_timeout=1)
        w = Counter(master)
        delays = []
        try:
            resumes(w, time.time())
            for _ in range(2):
                lead, _ = leader_addr(c)
                t0 = time.time()
                c.kill(lead)  # SIGKILL, by pid
                delays.append(resumes(w, t0))
                new, naddr = leader_addr(c, exclude=(lead,))
                assert new != lead
                assert master.connection_pool.get_master_address() == naddr
                c.start(lead)  # back as a follower, for the next round
                assert c.wait_caught_up(lead), f"node {lead} did not catch up"
        finally:
            w.finish()
        final = int(retry(lambda: c.client(c.leader(20)).get("ctr")))
        assert len(set(w.values)) == len(w.values), "two increments got the same value"
        assert max(w.values) <= final, (max(w.values), final)
        assert w.acked <= final <= w.acked + w.unknown, \
            f"acked {w.acked}, maybe applied {w.unknown}, final {final}"
        return (f"{w.acked} acked, {w.unknown} indeterminate, final {final}; resumed "
                f"{delays[0]:.1f} s and {delays[1]:.1f} s after each kill; {w.errors}")
    finally:
        c.cleanup()


@case
def no_leader_known():
    """A lone member of a 3-node cluster knows no leader: SENTINEL MASTER
    names it (at its --client-announce address) flagged s_down,o_down,
    GET-MASTER-ADDR-BY-NAME is nil (both mean "ask another Sentinel"), and
    redis-py finds no master."""
    c = Cluster(3)
    try:
        c._spawn(1, ["--cluster", c.members, "--client-announce", "keel-1.example:6390"])
        r = c.client(1)
        wait_for("node 1 up", lambda: r.ping())
        st = r.sentinel_master("keel")
        assert st["is_sdown"] and st["is_odown"] and st["is_master"], st["flags"]
        assert (st["ip"], st["port"]) == ("keel-1.example", 6390), st
        assert r.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "keel") is None
        assert r.execute_command("ROLE")[:4] == ["slave", "?", 0, "connect"]
        try:
            Sentinel([c.addr(1)], socket_timeout=2).discover_master("keel")
            raise AssertionError("a master was named with no leader")
        except MasterNotFoundError:
            pass
        return st["flags"]
    finally:
        c.cleanup()


@case
def read_replica():
    """A read replica is not a member: ROLE says it is a slave of its
    source; SENTINEL is refused with an error that says what to list."""
    c = Cluster(3)
    try:
        c.start_all()
        leader_addr(c)
        src = c.addr(1)
        c._spawn(4, ["--replica-of", f"{src[0]}:{src[1]}"])
        r = c.client(4)
        wait_for("the replica to stream", lambda: r.execute_command("ROLE")[3] == "connected")
        role = r.execute_command("ROLE")
        assert role[:4] == ["slave", src[0], src[1], "connected"], role
        assert isinstance(role[4], int) and role[4] > 0, role
        try:
            r.execute_command("SENTINEL", "MASTERS")
            raise AssertionError("a read replica answered SENTINEL MASTERS")
        except redis.ResponseError as e:
            assert "read replica" in str(e), e
    finally:
        c.cleanup()


if __name__ == "__main__":
    signal.alarm(300)  # the whole suite stops by itself
    sys.exit(run_suite("sentinel", [reply_shapes, kill_leader, no_leader_known, read_replica],
                       [SERVER]))
