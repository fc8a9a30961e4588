"""tests/cluster/order_test.py - one connection, one order, on real
processes: commands pipelined on one connection take effect in the order
sent, on the leader and on followers (a read sees the writes sent before
it and none sent after it), and writes in flight through a follower when
the leader is killed are each answered with their own original reply
(the session keeps every reply its connection has not been given).

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


def start():
    c = Cluster(3)
    c.start_all()
    lead = c.leader()
    assert lead, "no leader elected"
    wait_for("a write to succeed", lambda: harness.retry(lambda: c.client(lead).set("up", 1)))
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
                assert got == ["OK", "new", 1, "1", 2, "2"], f"node {i}: {got}"
                # reads before writes see none of them
                got = pipeline(c.addr(i), [("GET", n), ("INCR", n), ("GET", n), ("GET", k),
                                           ("SET", k, "x"), ("GET", k), ("DEL", k), ("GET", k)])
                assert got == ["2", 3, "3", "new", "OK", "x", 1, None], f"node {i}: {got}"
                # a transaction between reads
                got = pipeline(c.addr(i), [("GET", n), ("MULTI",), ("INCR", n), ("INCR", n),
                                           ("EXEC",), ("GET", n)])
                assert got == ["3", "OK", "QUEUED", "QUEUED", [4, 5], "5"], f"node {i}: {got}"
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
    c = start()
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


def main():
    return run_suite("order", [
        pipelined_reads_see_the_writes_before_them_on_every_node,
        writes_in_flight_through_a_follower_keep_their_replies_when_the_leader_dies,
    ], [harness.SERVER])


if __name__ == "__main__":
    sys.exit(main())
