#!/usr/bin/python3
"""tests/cluster/poison_test.py - input that used to stop a whole cluster,
on real 3-node clusters (keel-server processes on loopback, each stopped by
its pid): SETRANGE at an offset near INT64_MAX and other edge values get
Redis's error on every node, change nothing, and every node keeps serving,
before and after a restart of all of them; EXEC of more commands than a
log entry holds is refused at queueing, on the leader and on a follower,
with an error no retry changes; and the last line of defence (server/
poison.h) end to end: a test build's deliberate poison pill
(KEEL_TEST_POISON_KEY, read only by sanitizer builds) stops every node
with the entry's index recorded, a restart without a way out stops again,
--skip-entry naming another entry is refused, and --skip-entry naming it
brings the cluster back with the entry answered by an error everywhere.

Usage: poison_test.py BUILD_DIR (a sanitizer build for the last case).
Prints one line per case and `poison: N passed, M failed`; bounded in time
(each wait has a deadline)."""
import os
import re
import signal
import socket
import sys
import time

import redis

from harness import SERVER, Cluster, case, retry, run_suite, wait_for

INT64_MAX = 9223372036854775807
TOO_BIG = "string exceeds maximum allowed size (proto-max-bulk-len)"


def error_of(f):
    """The error text f's command gets ("" if it succeeds)."""
    try:
        f()
    except redis.ResponseError as e:
        return str(e)
    return ""


def all_serve(c, key, want):
    """Every node answers PING and a linearizable GET of key with want."""
    for i in range(1, c.n + 1):
        cl = c.client(i)
        assert retry(cl.ping), f"node {i} does not answer PING"
        got = retry(lambda: cl.get(key))
        assert got == want, f"node {i}: {key} = {got!r}, want {want!r}"


@case
def edge_values_get_redis_errors_and_every_node_keeps_serving():
    c = Cluster()
    try:
        c.start_all()
        lead = c.leader()
        assert lead, "no leader"
        retry(lambda: c.client(lead).set("foo", "bar"))
        for i in range(1, 4):  # the leader and both followers (forwarded)
            cl = c.client(i)
            e = error_of(lambda: retry(lambda: cl.setrange("foo", INT64_MAX, "x")))
            assert e == TOO_BIG, f"node {i}: SETRANGE foo {INT64_MAX} x: {e!r}"
            e = error_of(lambda: retry(lambda: cl.setrange("foo", 536870911, "xy")))
            assert e == TOO_BIG, f"node {i}: SETRANGE at 512 MiB: {e!r}"
            e = error_of(lambda: retry(lambda: cl.expire("foo", INT64_MAX)))
            assert e == "invalid expire time in 'expire' command", f"node {i}: {e!r}"
            e = error_of(lambda: retry(lambda: cl.incrbyfloat("f", "inf")))
            assert e == "increment would produce NaN or Infinity", f"node {i}: {e!r}"
            cur, keys = retry(lambda: cl.scan(0, count=INT64_MAX))
            assert keys == ["foo"] and cur == 0, f"node {i}: SCAN COUNT max: {cur} {keys}"
            assert retry(lambda: cl.keys("*a" * 100000 + "b")) == []
        all_serve(c, "foo", "bar")
        assert retry(lambda: c.client(lead).ttl("foo")) == -1, "foo got an expiry"
        assert retry(lambda: c.client(lead).exists("f")) == 0, "INCRBYFLOAT inf made f"
        c.stop_all(signal.SIGTERM)
        c.start_all()  # recovery applies the same entries again
        assert c.leader(), "no leader after the restart"
        all_serve(c, "foo", "bar")
        retry(lambda: c.client(1).set("after", "1"))
        all_serve(c, "after", "1")
        return "Redis's errors on all 3 nodes; foo unchanged, before and after a restart"
    finally:
        c.cleanup()


def send_exec(addr, n):
    """MULTI, n INCR x, EXEC on a raw connection: the replies of the last
    queued command and of EXEC, and the seconds it took."""
    t0 = time.time()
    s = socket.create_connection(addr, timeout=60)
    f = s.makefile("rb")
    cmd = b"*2\r\n$4\r\nINCR\r\n$1\r\nx\r\n"
    s.sendall(b"*1\r\n$5\r\nMULTI\r\n")
    assert f.readline() == b"+OK\r\n"
    chunk = 1000
    replies = []
    for k in range(0, n, chunk):  # sent and read in steps: no deadlock of buffers
        m = min(chunk, n - k)
        s.sendall(cmd * m)
        replies += [f.readline() for _ in range(m)]
    s.sendall(b"*1\r\n$4\r\nEXEC\r\n")
    exec_reply = f.readline()
    s.close()
    assert all(r == b"+QUEUED\r\n" for r in replies[:-1]), "an early command was refused"
    return replies[-1].decode().strip(), exec_reply.decode().strip(), time.time() - t0


@case
def exec_past_what_an_entry_holds_is_refused_when_queued():
    c = Cluster()
    try:
        c.start_all()
        lead = c.leader()
        assert lead, "no leader"
        follower = next(i for i in range(1, 4) if i != lead)
        retry(lambda: c.client(lead).set("x", "0"))
        seen = []
        for i in (lead, follower):
            last, ex, secs = send_exec(c.addr(i), 100001)
            assert last.startswith("-ERR a transaction may hold at most 100000 commands"), last
            assert ex == "-EXECABORT Transaction discarded because of previous errors.", ex
            seen.append(f"node {i} {secs:.1f}s")
            # a transaction within the limit still goes through
            last, ex, _ = send_exec(c.addr(i), 1000)
            assert last == "+QUEUED" and ex == "*1000", (last, ex)
        all_serve(c, "x", "2000")  # only the two transactions of 1000
        return "refused at command 100,001 with EXECABORT: " + ", ".join(seen)
    finally:
        c.cleanup()


def wait_exit(c, i, timeout=60, must=True):
    """Node i's process ends: its exit status (None if it is still running
    after timeout seconds and not must; AssertionError if must)."""
    p = c.procs[i]
    try:
        p.wait(timeout=timeout)
    except Exception:
        if must:
            raise AssertionError(f"node {i} did not stop")
        return None
    c.procs.pop(i)
    return p.returncode


def reap(c, i):
    """Whether node i is not running (its ended process is forgotten)."""
    p = c.procs.get(i)
    if p is not None and p.poll() is None:
        return False
    c.procs.pop(i, None)
    return True


def start_with(c, i, env, extra=()):
    c._spawn(i, ["--cluster", c.members] + list(extra), env=env)


@case
def poison_pill_stops_every_node_and_skip_entry_brings_them_back():
    env = dict(os.environ, KEEL_TEST_POISON_KEY="pill")
    c = Cluster()
    try:
        for i in range(1, 4):
            start_with(c, i, env)
        lead = c.leader()
        assert lead, "no leader"
        retry(lambda: c.client(lead).set("a", "1"))
        try:
            c.client(lead, timeout=10).set("pill", "x")
        except (redis.RedisError, OSError):
            pass  # the node stops while the client waits
        # the nodes that learn the entry is committed stop: at least a
        # majority (a follower may not hear of the commit before they do)
        stopped = [i for i in range(1, 4) if wait_exit(c, i, 20, must=False) is not None]
        assert len(stopped) >= 2, f"only {stopped} stopped"
        c.stop_all(signal.SIGKILL)
        found = set()
        for i in stopped:
            m = re.search(r"applying committed entry (\d+) failed: the node stops", c.log(i))
            assert m, f"node {i}: no failure line in its log:\n{c.log(i)[-2000:]}"
            found.add(int(m.group(1)))
            with open(os.path.join(c.dir, str(i), "apply-failed")) as f:
                assert f.read() == m.group(1) + "\n"
        assert len(found) == 1, f"the nodes name different entries: {found}"
        n = found.pop()
        # only the entry that failed may be skipped
        first = stopped[0]
        start_with(c, first, env, ["--skip-entry", str(n + 1)])
        assert wait_exit(c, first) != 0
        assert f"the entry that failed to apply on this node is {n}" in c.log(first)
        # without a way out the same entry fails again: nothing is skipped
        # silently (the leader that commits it again stops at least)
        for i in stopped:
            start_with(c, i, env)
        wait_for("a restarted node to fail on the entry again",
                 lambda: any(reap(c, i) and c.log(i).count(f"committed entry {n} failed") == 2
                             for i in stopped), 60)
        assert all(f"entry {n} skipped" not in c.log(i) for i in range(1, 4))
        # the operator's way out: each node that stopped on the entry is
        # started with --skip-entry; one that had not reached it stops on
        # it when it does (it is committed), and is started so in turn
        deadline = time.time() + 120
        while time.time() < deadline and not all(f"entry {n} skipped" in c.log(i)
                                                 for i in range(1, 4)):
            for i in range(1, 4):
                if reap(c, i):
                    failed = os.path.exists(os.path.join(c.dir, str(i), "apply-failed"))
                    start_with(c, i, env, ["--skip-entry", str(n)] if failed else [])
            time.sleep(0.5)
        assert c.leader(), "no leader after --skip-entry"
        all_serve(c, "a", "1")
        all_serve(c, "pill", None)
        retry(lambda: c.client(2).set("b", "2"))
        all_serve(c, "b", "2")
        for i in range(1, 4):
            assert f"entry {n} skipped (--skip-entry)" in c.log(i), f"node {i} did not skip"
            assert not os.path.exists(os.path.join(c.dir, str(i), "apply-failed"))
        # the choice is kept: a restart without the flag skips it again
        c.stop_all(signal.SIGTERM)
        for i in range(1, 4):
            start_with(c, i, env)
        assert c.leader(), "no leader after the second restart"
        all_serve(c, "pill", None)
        all_serve(c, "b", "2")
        return (f"entry {n} stopped nodes {stopped} first, then every node; "
                "skipped on all 3; serving, also after a restart")
    finally:
        c.cleanup()


def main():
    return run_suite("poison", (edge_values_get_redis_errors_and_every_node_keeps_serving,
                                exec_past_what_an_entry_holds_is_refused_when_queued,
                                poison_pill_stops_every_node_and_skip_entry_brings_them_back),
                     (SERVER,))


if __name__ == "__main__":
    sys.exit(main())
