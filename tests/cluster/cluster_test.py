#!/usr/bin/python3
"""tests/cluster/cluster_test.py - keel-server as real processes on loopback,
driven over RESP with Debian's python3-redis, redis-cli and redis-benchmark:
election, writes through every node, kill -9 of the leader under load,
a whole-cluster restart, a follower catching up from the log and from a
snapshot, INCR through followers while the leader is killed again and again,
databases (SELECT, MOVE, SWAPDB) through followers, restarts and snapshots.

Every process it starts binds to 127.0.0.x, is stopped by its pid, and the
whole run is bounded in time. Usage: cluster_test.py BUILD_DIR. Prints one
line per case and `cluster: N passed, M failed`."""
import random
import signal
import subprocess
import sys
import threading
import time

import redis

from harness import BASE, SERVER, Cluster, Writers, case, retry, run_suite, wait_for


@case
def elect_and_write_through_every_node():
    c = Cluster()
    try:
        c.start_all()
        assert c.leader(), "no leader elected"
        for i in (1, 2, 3):
            assert retry(lambda: c.client(i).set(f"k{i}", f"v{i}")) is True
        for i in (1, 2, 3):
            for k in (1, 2, 3):
                got = retry(lambda: c.client(i).get(f"k{k}"))
                assert got == f"v{k}", f"node {i} reads k{k} = {got!r}"
        for i in (1, 2, 3):  # larger than a log entry may be: a clear error, on any node
            try:
                c.client(i, 30).set("huge", "x" * (65 << 20))
                raise AssertionError("a 65 MiB write was accepted")
            except redis.ResponseError as e:
                assert "larger than a log entry" in str(e), str(e)
        assert retry(lambda: c.client(2).get("huge")) is None
        out = subprocess.run(["redis-cli", "-h", "127.0.0.3", "-p", str(BASE + 3), "get", "k1"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        assert out == "v1", f"redis-cli got {out!r}"
        bench = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(BASE + 1),
                                "-t", "set,get", "-n", "2000", "-c", "10", "-q"],
                               capture_output=True, text=True, timeout=60).stdout
        assert "requests per second" in bench, bench
        return "redis-cli and redis-benchmark as they come"
    finally:
        c.cleanup()


@case
def kill_leader_under_load():
    c = Cluster()
    try:
        c.start_all()
        old = c.leader()
        assert old
        w = Writers(c)
        time.sleep(1.5)
        c.kill(old)
        new = c.leader(exclude=(old,))
        assert new and new != old, "no new leader"
        time.sleep(1.5)
        acked = w.finish()
        assert retry(lambda: c.client(new).set("after", "1")) is True
        c.start(old)
        assert c.wait_caught_up(old), "the old leader did not catch up"
        lost = [k for k, v in acked.items()
                if retry(lambda: c.client(random.choice((1, 2, 3))).get(k)) != v]
        assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:3]}"
        return f"{len(acked)} acknowledged writes, none lost; leader {old} -> {new}"
    finally:
        c.cleanup()


@case
def restart_whole_cluster():
    c = Cluster()
    try:
        c.start_all()
        assert c.leader()
        for k in range(300):
            retry(lambda: c.client(1 + k % 3).set(f"r{k}", str(k)))
        c.stop_all(signal.SIGTERM)
        c.start_all()
        assert c.leader(), "no leader after the restart"
        for k in range(300):
            got = retry(lambda: c.client(1 + k % 3).get(f"r{k}"))
            assert got == str(k), f"r{k} = {got!r} after the restart"
        return "300 keys read back through every node"
    finally:
        c.cleanup()


def follower_catches_up(extra, writes, want_snapshot):
    c = Cluster(extra=extra)
    try:
        c.start_all()
        lead = c.leader()
        f = next(i for i in (1, 2, 3) if i != lead)
        stopped_at = c.info(f)["raft_applied_index"]
        c.kill(f, signal.SIGTERM)
        for k in range(writes):
            retry(lambda: c.client(lead).set(f"c{k}", str(k)))
        first = int(c.client(lead).info("persistence").get("keel_log_first", 0))
        if want_snapshot:  # the leader no longer has what the follower lacks
            assert first > stopped_at + 1, f"the leader's log still starts at {first}"
        c.start(f)
        assert c.wait_caught_up(f), "the follower did not catch up"
        for k in range(0, writes, max(1, writes // 50)):
            got = retry(lambda: c.client(f).get(f"c{k}"))
            assert got == str(k), f"c{k} = {got!r} on the restarted follower"
        snap = int(c.client(f).info("persistence").get("keel_snapshot_index", 0))
        if want_snapshot:
            assert snap > 0, "the follower caught up without a snapshot"
        return f"{writes} writes while it was down (the leader's log starts at {first}); " \
               f"its snapshot index {snap}"
    finally:
        c.cleanup()


@case
def follower_catches_up_from_the_log():
    return follower_catches_up([], 200, False)


@case
def follower_catches_up_from_a_snapshot():
    return follower_catches_up(["--snapshot-entries", "100", "--trailing-entries", "10"], 1500,
                               True)


@case
def incr_through_followers_while_leaders_die():
    """Clients INCR through followers while the leader is killed again and
    again; each retries a failed INCR with its session (CLIENT SESSION id
    seq) until it is answered. Exactly-once: the counter ends equal to the
    number of increments, each answered once."""
    c = Cluster()
    try:
        c.start_all()
        assert c.leader()
        assert retry(lambda: c.client(1).set("counter", "0")) is True
        stop = [False]
        done, retried, lock = [0], [0], threading.Lock()

        def run():
            r = None
            sid, seq = None, None
            while not stop[0]:
                for attempt in range(200):
                    try:
                        lead = c.leader(2)
                        i = random.choice([k for k in list(c.procs) if k != lead] or [1])
                        r = c.client(i, 4)
                        if sid is None:
                            sid, seq = r.execute_command("CLIENT", "SESSION")
                        r.execute_command("CLIENT", "SESSION", sid, seq)
                        r.incr("counter")
                        break
                    except (redis.RedisError, OSError):
                        with lock:
                            retried[0] += 1
                        time.sleep(0.05)
                else:
                    raise AssertionError("an INCR was never answered")
                seq += 1
                with lock:
                    done[0] += 1
        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for _ in range(3):
            time.sleep(1.5)
            lead = c.leader()
            c.kill(lead)
            c.leader(exclude=(lead,))
            c.start(lead)
        time.sleep(1.5)
        stop[0] = True
        for t in threads:
            t.join(60)
        final = int(retry(lambda: c.client(1).get("counter")))
        assert final == done[0], f"counter {final}, but {done[0]} increments were answered"
        return f"counter {final} = increments answered, {retried[0]} retries with sessions"
    finally:
        c.cleanup()


@case
def add_learner_promote_remove():
    """A fourth node started with an empty folder and --join pointing at a
    follower asks to be added (RAFT ADD-LEARNER ... AUTO, forwarded to the
    leader): it catches up, the leader promotes it, it serves reads and
    writes; RAFT REMOVE, sent to a follower, takes it out again."""
    c = Cluster()
    try:
        c.start_all()
        lead = c.leader()
        for k in range(100):
            retry(lambda: c.client(lead).set(f"m{k}", str(k)))
        fol = next(i for i in (1, 2, 3) if i != lead)
        c.start_new(4, ["--join", f"127.0.0.{fol}:{BASE + fol}"])
        four = c.client(4)
        def role4():  # redis-py parses "role=voter,addr=..." into a dict
            m = c.client(c.leader()).info("raft").get("raft_member_4")
            return m.get("role") if isinstance(m, dict) else None
        end = time.time() + 20
        while time.time() < end and role4() != "voter":
            time.sleep(0.2)
        assert role4() == "voter", f"node 4 was not promoted (role {role4()})"
        assert retry(lambda: four.get("m99")) == "99"
        assert retry(lambda: four.set("from4", "yes")) is True
        assert retry(lambda: c.client(lead).get("from4")) == "yes"
        lead = c.leader()
        fol = next(i for i in (1, 2, 3) if i != lead)
        assert retry(lambda: c.client(fol).execute_command("RAFT", "REMOVE", "4")) == "OK"
        end = time.time() + 10
        while time.time() < end and "raft_member_4" in c.client(c.leader()).info("raft"):
            time.sleep(0.2)
        assert "raft_member_4" not in c.client(c.leader()).info("raft"), "node 4 not removed"
        assert retry(lambda: c.client(c.leader()).set("after4", "1")) is True
        return "joined with --join through a follower, promoted, served, removed"
    finally:
        c.cleanup()


@case
def slow_client_is_closed():
    """A client that sends requests and never reads the replies is closed
    once its unread replies pass --client-output-mb; the node serves on."""
    import socket
    c = Cluster(n=1, extra=["--client-output-mb", "1"])
    try:
        c.start_all()
        assert c.leader()
        assert retry(lambda: c.client(1).set("big", "x" * (256 << 10))) is True
        s = socket.create_connection(c.addr(1))
        s.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 400)  # 100 MiB of replies
        time.sleep(2)
        got, closed = 0, False
        s.settimeout(5)
        while True:
            try:
                d = s.recv(1 << 20)
            except ConnectionResetError:
                closed = True
                break
            except socket.timeout:  # still open, nothing more coming
                break
            if not d:
                closed = True
                break
            got += len(d)
        s.close()
        assert closed and got < 400 * (256 << 10), f"read {got} bytes, closed {closed}"
        assert retry(lambda: c.client(1).get("big")) == "x" * (256 << 10)
        return f"closed after {got >> 20} MiB of the 100 MiB it asked for"
    finally:
        c.cleanup()


def check_databases(c, nodes, what):
    """What databases_through_followers wrote, read through each node."""
    for i in nodes:
        d0, d1, d2, d3 = (c.client(i, db=n) for n in range(4))
        assert retry(lambda: d1.get("dbk")) == "one", f"node {i}, db 1, {what}"
        assert retry(lambda: d0.get("dbk")) == "zero", f"node {i}, db 0, {what}"
        assert retry(lambda: d2.get("dbk")) is None, f"node {i}, db 2, {what}"
        assert retry(lambda: d2.get("moved")) == "m", f"node {i}: the moved key, {what}"
        assert retry(lambda: d1.exists("moved")) == 0, f"node {i}: moved from db 1, {what}"
        assert 0 < retry(lambda: d2.ttl("moved")) <= 1000, f"node {i}: its expiry, {what}"
        assert retry(lambda: d3.get("swapped")) == "s", f"node {i}: SWAPDB, {what}"
        assert retry(lambda: d3.dbsize()) == 1, f"node {i}: db 3's size, {what}"
        wait_for(f"INFO keyspace on node {i} ({what})", lambda: all(
            f"db{n}" in c.client(i).info("keyspace") for n in (0, 1, 2, 3)), 10)


@case
def databases_through_followers():
    """A key SET in database 1 through a follower (a client made with db=1,
    which SELECTs on connecting) is read in database 1 on another node and
    not in database 0; MOVE and SWAPDB through followers likewise; all of
    it survives a restart of every node, and snapshots on every node and
    another restart."""
    c = Cluster()
    try:
        c.start_all()
        lead = c.leader()
        assert lead, "no leader elected"
        f, other = [i for i in (1, 2, 3) if i != lead]
        assert retry(lambda: c.client(f, db=1).set("dbk", "one")) is True
        assert retry(lambda: c.client(other, db=0).set("dbk", "zero")) is True
        assert retry(lambda: c.client(f, db=1).set("moved", "m", ex=1000)) is True
        assert retry(lambda: c.client(other, db=1).move("moved", 2)) is True
        assert retry(lambda: c.client(f, db=5).set("swapped", "s")) is True
        assert retry(lambda: c.client(other).swapdb(5, 3)) is True
        check_databases(c, (1, 2, 3), "as written")
        c.stop_all(signal.SIGTERM)
        c.start_all()
        assert c.leader(), "no leader after the restart"
        check_databases(c, (1, 2, 3), "after a restart")
        for i in (1, 2, 3):  # every node snapshots what it has applied
            at = retry(lambda: c.client(i).execute_command("RAFT", "SNAPSHOT"))
            wait_for(f"node {i}'s snapshot", lambda: int(c.client(i).info("persistence")
                                                        ["keel_snapshot_index"]) >= at, 30)
        c.stop_all(signal.SIGKILL)
        c.start_all()
        assert c.leader(), "no leader after the restart from snapshots"
        check_databases(c, (1, 2, 3), "after snapshots and a restart")
        return f"written through node {f} and {other}; read through all three"
    finally:
        c.cleanup()


@case
def stalls_below_the_election_timeout_keep_the_leader():
    """The default timing (heartbeat 100 ms, election timeout 1000 ms):
    the leader's process is stopped (SIGSTOP) for 300 ms three times, then
    both followers at once twice, under a writing client. A stall below
    the election timeout costs no leadership: neither the leader nor the
    term changes, and the leader reports its stalls in INFO."""
    c = Cluster()
    try:
        c.start_all()
        lead = c.leader()
        assert lead
        inf = c.info(lead)
        assert (inf["raft_election_timeout_ms"], inf["raft_heartbeat_ms"]) == (1000, 100), inf
        term = inf["raft_term"]
        w = Writers(c, threads=2)
        time.sleep(0.5)
        fols = [i for i in (1, 2, 3) if i != lead]
        for group in ([lead], [lead], [lead], fols, fols):
            for i in group:
                c.procs[i].send_signal(signal.SIGSTOP)
            time.sleep(0.3)
            for i in group:
                c.procs[i].send_signal(signal.SIGCONT)
            time.sleep(0.5)
        acked = w.finish()
        after = {i: c.info(i) for i in (1, 2, 3)}
        for i, a in after.items():
            assert a and a["raft_term"] == term and a["raft_leader_id"] == lead, \
                f"node {i} after the stalls: term {a and a['raft_term']} (was {term}), " \
                f"leader {a and a['raft_leader_id']} (was {lead})"
        stall = after[lead]["raft_loop_stall_max_ms"]
        assert stall >= 290, f"the leader's longest stall shows as {stall} ms"
        assert len(acked) > 0, "no write was acknowledged"
        return f"leader {lead} kept term {term}; its longest stall {stall} ms; " \
               f"{len(acked)} writes acknowledged"
    finally:
        c.cleanup()


@case
def election_timing_checked_at_start():
    """--heartbeat-ms must be at most a fifth of --election-timeout-ms:
    a node given more refuses to start and says why."""
    c = Cluster(n=1)
    try:
        host, port = c.addr(1)
        p = subprocess.run([SERVER, "--id", "1", "--bind", host, "--port", str(port),
                            "--dir", f"{c.dir}/1", "--election-timeout-ms", "1000",
                            "--heartbeat-ms", "300"], capture_output=True, text=True, timeout=30)
        assert p.returncode != 0, "started with a 300 ms heartbeat and a 1000 ms timeout"
        want = "--heartbeat-ms (300) must be at most a fifth of --election-timeout-ms (1000)"
        assert want in p.stderr, p.stderr
        return next(line for line in p.stderr.splitlines() if want in line)
    finally:
        c.cleanup()


def main():
    return run_suite("cluster", (elect_and_write_through_every_node, kill_leader_under_load,
                                 restart_whole_cluster, follower_catches_up_from_the_log,
                                 follower_catches_up_from_a_snapshot,
                                 incr_through_followers_while_leaders_die,
                                 add_learner_promote_remove, slow_client_is_closed,
                                 databases_through_followers,
                                 stalls_below_the_election_timeout_keep_the_leader,
                                 election_timing_checked_at_start),
                     (SERVER,))


if __name__ == "__main__":
    sys.exit(main())
