"""tests/cluster/order_test.py - one connection, one order, on real
processes: commands pipelined on one connection take effect in the order
sent, on the leader and on followers (a read sees the writes sent before
it and none sent after it), and writes in flight through a follower when
the leader is killed are each answered with their own original reply
(the session keeps every reply its connection has not been given); a
write sent twice whose second copy is refused is not answered "not
applied" (settle() in server/requests.c); sessions expire by the
leader's time, the same on every node.

Usage: order_test.py BUILD_DIR [case ...]"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Cluster, case, run_suite, wait_for  # noqa: E402


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_reply(f):
    """One RESP2 reply from a socket file, as Python values (errors as
    ('err', text))."""
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return ("err", rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode()
    if kind == b"*":
        return [read_reply(f) for _ in range(int(rest))]
    raise ValueError(f"unexpected reply line {line!r}")


def pipeline(addr, cmds, timeout=10):
    """Sends every command in one write, then reads every reply."""
    s = socket.create_connection(addr, timeout=timeout)
    try:
        s.sendall(b"".join(resp(*c) for c in cmds))
        f = s.makefile("rb")
        return [read_reply(f) for _ in cmds]
    finally:
        s.close()


class Iptables:
    """A chain of this test's own in OUTPUT; removed by close()."""
    def __init__(self, name):
        self.chain = f"keel-{name}-{os.getpid()}"
        self.run("-N", self.chain)
        self.run("-I", "OUTPUT", "-j", self.chain)

    def run(self, *args):
        subprocess.run(["iptables", "-w", *args], check=True, capture_output=True, timeout=10)

    def drop(self, src, dst, add=True):
        """Drops what node src sends to node dst's peer port (add=False:
        no longer)."""
        self.run("-A" if add else "-D", self.chain, "-s", f"127.0.0.{src}", "-d", f"127.0.0.{dst}",
                 "-p", "tcp", "--dport", str(harness.BASE + harness.PEER_OFFSET + dst), "-j", "DROP")

    def close(self):
        for args in (("-D", "OUTPUT", "-j", self.chain), ("-F", self.chain), ("-X", self.chain)):
            subprocess.run(["iptables", "-w", *args], capture_output=True, timeout=10)


def start(extra=()):
    c = Cluster(3, extra)
    c.start_all()
    lead = c.leader()
    assert lead, "no leader elected"
    wait_for("a write to succeed", lambda: harness.retry(lambda: c.client(lead).set("up", 1)))
    # every node has heard from the leader: the cases cut links from here
    # on, and a node the leader had not reached yet (its peer link still
    # connecting on a loaded machine) would know no leader to forward to
    wait_for("every node to name the leader",
             lambda: all((c.info(i) or {}).get("raft_leader_id") == lead for i in (1, 2, 3)), 20)
    return c


@case
def pipelined_reads_see_the_writes_before_them_on_every_node():
    c = start()
    try:
        checked = 0
        for trial in range(40):
            for i in (1, 2, 3):
                k, n = f"k{trial}:{i}", f"n{trial}:{i}"
                got = pipeline(c.addr(i), [("SET", k, "new"), ("GET", k), ("INCR", n), ("GET", n),
                                           ("INCR", n), ("GET", n)])
                assert got == ["OK", "new", 1, "1", 2, "2"], f"node {i} answered unlike one at a time: {got}"
                # reads before writes see none of them
                got = pipeline(c.addr(i), [("GET", n), ("INCR", n), ("GET", n), ("GET", k),
                                           ("SET", k, "x"), ("GET", k), ("DEL", k), ("GET", k)])
                assert got == ["2", 3, "3", "new", "OK", "x", 1, None], \
                    f"node {i} answered unlike one at a time: {got}"
                # a transaction between reads
                got = pipeline(c.addr(i), [("GET", n), ("MULTI",), ("INCR", n), ("INCR", n),
                                           ("EXEC",), ("GET", n)])
                assert got == ["3", "OK", "QUEUED", "QUEUED", [4, 5], "5"], \
                    f"node {i} answered unlike one at a time: {got}"
                checked += 3
        return f"{checked} pipelines answered as one at a time"
    finally:
        c.cleanup()


@case
def writes_in_flight_through_a_follower_keep_their_replies_when_the_leader_dies():
    """16 INCRs pipelined through a follower F; the leader L applies them
    (with the third node) but its replies to F are dropped (iptables), then
    L is killed: F sends them again to the new leader, which must answer
    each with its own original reply, :1 to :16, and apply none twice."""
    chain = f"keel-order-{os.getpid()}"

    def ipt(*args):
        subprocess.run(["iptables", "-w", *args], check=True, capture_output=True, timeout=10)
    # The writes wait for the apply, the kill and a new election: past the
    # default 5 s request timeout on a loaded machine (they were answered
    # -TIMEOUT, about 1 run in 6). What is checked is which reply each
    # gets, not how soon.
    c = start(["--request-timeout-ms", "30000"])
    try:
        ipt("-N", chain)
        ipt("-I", "OUTPUT", "-j", chain)
        rounds = 3
        for r in range(rounds):
            lead = c.leader()
            assert lead, "no leader"
            f = next(i for i in (1, 2, 3) if i != lead)
            ipt("-A", chain, "-s", f"127.0.0.{lead}", "-d", f"127.0.0.{f}", "-p", "tcp",
                "--dport", str(harness.BASE + harness.PEER_OFFSET + f), "-j", "DROP")
            key = f"ctr{r}"
            s = socket.create_connection(c.addr(f), timeout=20)
            s.sendall(b"".join(resp("INCR", key) for _ in range(16)))
            g = 6 - lead - f
            wait_for("the leader and the third node to apply them",
                     lambda: c.client(g).execute_command("RAFT", "STATUS") and
                     c.info(g)["raft_applied_index"] >= c.info(lead)["raft_commit_index"] > 0, 10)
            time.sleep(0.3)
            c.kill(lead)
            rf = s.makefile("rb")
            got = [read_reply(rf) for _ in range(16)]
            s.close()
            ipt("-F", chain)
            assert got == list(range(1, 17)), f"round {r} via node {f}: {got}"
            c.start(lead)
            wait_for("the killed node to rejoin", lambda: c.info(lead) is not None, 30)
            val = harness.retry(lambda: c.client(f).get(key))
            assert val == "16", f"round {r}: {key} = {val}"
        return f"{rounds} rounds of 16 INCRs, each answered with its own reply"
    finally:
        subprocess.run(["iptables", "-w", "-D", "OUTPUT", "-j", chain], capture_output=True)
        subprocess.run(["iptables", "-w", "-F", chain], capture_output=True)
        subprocess.run(["iptables", "-w", "-X", chain], capture_output=True)
        c.cleanup()


def field(c, i, section, name):
    try:
        return c.client(i, 2).info(section).get(name)
    except (OSError, harness.redis.RedisError):
        return None


# the errors that say a write was not applied (SPEC.md §4)
NOT_APPLIED = ("TRYAGAIN", "CLUSTERDOWN", "REMOVED", "READONLY")


def says_not_applied(r):
    return (isinstance(r, tuple) and "may have been applied" not in r[1] and
            (r[1].startswith(NOT_APPLIED) or "not applied" in r[1]))


@case
def a_write_sent_twice_is_never_answered_not_applied():
    """12 INCRs through follower F reach leader L, which applies them with
    the third node G; L's frames to F are dropped, so F never hears. F's
    frames to G are held back (iptables), leadership goes to G (RAFT
    TRANSFER): F forwards the writes to G again, into the held stream;
    leadership goes back to L and F forgets G. Then F's frames reach G,
    no longer the leader, which answers each copy "-TRYAGAIN ... not
    applied": true of that copy, not of the write, which L applied. F
    must answer that the write may have been applied (settle()); a write
    answered as not applied must not have been (the counter counts)."""
    n, key = 12, "sent-twice"
    c = start(["--request-timeout-ms", "60000"])
    ipt = None
    try:
        ipt = Iptables("settle")
        lead = c.leader()
        f, g = [i for i in (1, 2, 3) if i != lead]
        ipt.drop(lead, f)
        s = socket.create_connection(c.addr(f), timeout=60)
        s.sendall(b"".join(resp("INCR", key) for _ in range(n)))
        wait_for("the leader to apply them",
                 lambda: harness.retry(lambda: c.client(lead).get(key)) == str(n), 20)
        # F, hearing nothing from L, forgets it (and forwards no more)
        wait_for("F to forget L", lambda: (c.info(f) or {}).get("raft_leader_id") != lead, 20)
        sent = field(c, f, "stats", "keel_forwarded") or 0
        ipt.drop(f, g)
        c.client(lead).execute_command("RAFT", "TRANSFER", str(g))
        wait_for("G to lead", lambda: (c.info(g) or {}).get("raft_role") == "leader", 20)
        wait_for("F to forward them to G",
                 lambda: (field(c, f, "stats", "keel_forwarded") or 0) >= sent + n, 20)
        c.client(g).execute_command("RAFT", "TRANSFER", str(lead))
        wait_for("L to lead again", lambda: (c.info(lead) or {}).get("raft_role") == "leader", 20)
        wait_for("F to forget G", lambda: (c.info(f) or {}).get("raft_leader_id") != g, 20)
        ipt.drop(f, g, add=False)
        rf = s.makefile("rb")
        got = [read_reply(rf) for _ in range(n)]
        s.close()
        ipt.close()
        ipt = None
        applied = int(harness.retry(lambda: c.client(lead).get(key)))
        refused = [(i, r) for i, r in enumerate(got) if says_not_applied(r)]
        if refused and applied > n - len(refused):
            i, r = refused[0]
            raise AssertionError(f"a write answered as not applied was applied: INCR {i + 1} "
                                 f"got {r[1]!r}, yet {applied} of {n} INCRs were applied")
        assert applied == n, f"{applied} of {n} applied"
        errors = [r for r in got if isinstance(r, tuple)]
        assert errors, f"every copy was answered with its reply: the case missed settle() ({got})"
        assert all(r[1].startswith("TIMEOUT the write was sent to a leader before it failed") and
                   "may have been applied" in r[1] for r in errors), got
        return f"{n} INCRs applied once, sent twice, answered {errors[0][1][:60]!r}..."
    finally:
        if ipt:
            ipt.close()
        c.cleanup()


class Conn:
    """One client connection, one command at a time."""
    def __init__(self, addr):
        self.s = socket.create_connection(addr, timeout=20)
        self.f = self.s.makefile("rb")

    def __call__(self, *args):
        self.s.sendall(resp(*args))
        return read_reply(self.f)

    def applied(self, *args):
        """The reply, once the write was not refused as not applied (an
        election under load: sent again)."""
        for _ in range(50):
            r = self(*args)
            if not (isinstance(r, tuple) and r[1].startswith(("TRYAGAIN", "CLUSTERDOWN"))):
                return r
            time.sleep(0.2)
        raise AssertionError(f"{args} refused 50 times: {r}")

    def close(self):
        self.s.close()


def resumed(addr, sid, seq, *args):
    """Resumes session sid at seq on a new connection and sends one write
    (again, on another, while it is refused as not applied); the open
    connection and the reply."""
    for _ in range(50):
        x = Conn(addr)
        assert x("CLIENT", "SESSION", sid, seq) == "OK"
        r = x(*args)
        if not (isinstance(r, tuple) and r[1].startswith(("TRYAGAIN", "CLUSTERDOWN"))):
            return x, r
        x.close()
        time.sleep(0.2)
    raise AssertionError(f"{args} refused 50 times: {r}")


@case
def sessions_expire_by_the_leaders_time():
    """--session-timeout-ms 5000: a session idle past it is removed from
    every node at the same entry; a write resumed in it (CLIENT SESSION)
    after that, not the session's first, is refused as expired and not
    applied, where before it was answered with its original reply; a
    connection left open and idle past the timeout goes on writing; a
    write refused before the log does not make the next one look like an
    expired session's."""
    c = start(["--session-timeout-ms", "5000"])
    conns = []
    try:
        lead = c.leader()
        f = next(i for i in (1, 2, 3) if i != lead)
        a, idle = Conn(c.addr(f)), Conn(c.addr(lead))
        conns += [a, idle]
        assert (a.applied("INCR", "ctr"), a.applied("INCR", "ctr")) == (1, 2)
        sid, nxt = a("CLIENT", "SESSION")
        assert idle.applied("INCR", "other") == 1
        b, r = resumed(c.addr(lead), sid, nxt - 1, "INCR", "ctr")
        conns.append(b)
        assert r == 2, f"a resumed write was not answered with its reply: {r}"
        assert harness.retry(lambda: c.client(lead).get("ctr")) == "2"
        a.close()
        b.close()
        t0 = time.time()
        wait_for("every node to expire every session",
                 lambda: all(field(c, i, "memory", "keel_sessions") == 0 for i in (1, 2, 3)), 30)
        took = time.time() - t0
        d, r = resumed(c.addr(f), sid, nxt - 1, "INCR", "ctr")
        conns.append(d)
        for r in (r, d.applied("INCR", "ctr")):
            assert isinstance(r, tuple) and r[1].startswith("ERR session expired") and \
                "not applied" in r[1], r
        assert harness.retry(lambda: c.client(lead).get("ctr")) == "2"
        assert idle.applied("INCR", "other") == 2, "an open connection idle past the timeout"
        # a first write refused before the log (too large) does not make the
        # writes after it look like an expired session's
        for _ in range(20):
            got = pipeline(c.addr(f), [("SET", "big", "x" * (64 << 20)), ("INCR", "after-big")], 60)
            if not (isinstance(got[1], tuple) and got[1][1].startswith(("TRYAGAIN", "CLUSTERDOWN"))):
                break
        assert isinstance(got[0], tuple) and "larger than a log entry" in got[0][1], got[0]
        assert got[1] == 1, got[1]
        p = subprocess.run([harness.SERVER, "--id", "1", "--session-timeout-ms", "3000",
                            "--request-timeout-ms", "3000"], capture_output=True, text=True,
                           timeout=10)
        assert p.returncode != 0 and "longer than --request-timeout-ms" in p.stderr, p.stderr
        return (f"sessions gone on every node {took:.1f}s after the last write; "
                f"a resumed write refused as expired; an idle connection wrote on")
    finally:
        for x in conns:
            x.close()
        c.cleanup()

def main():
    return run_suite("order", [
        pipelined_reads_see_the_writes_before_them_on_every_node,
        writes_in_flight_through_a_follower_keep_their_replies_when_the_leader_dies,
        a_write_sent_twice_is_never_answered_not_applied,
        sessions_expire_by_the_leaders_time,
    ], [harness.SERVER])


if __name__ == "__main__":
    sys.exit(main())
