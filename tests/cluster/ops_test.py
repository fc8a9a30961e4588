#!/usr/bin/python3
"""tests/cluster/ops_test.py - day-two operations on real processes, each
under a client that keeps writing: grow a cluster from 1 to 5 nodes and
shrink it to 3; a node that joins after compaction catches up by a
snapshot of more than 50 MB whose transfer is cut midway and resumes;
remove the leader; transfer leadership; SIGTERM the leader; keel-cli's
commands and its interactive prompt. Every acknowledged write is read back
at the end, on every member.

Usage: ops_test.py BUILD_DIR. Prints one line per case and
`ops: N passed, M failed`."""
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import redis

from harness import BASE, CLI, PEER_OFFSET, SERVER, Cluster, Writers, case, retry, run_suite, wait_for


def cli(c, i, *args, timeout=30):
    host, port = c.addr(i)
    p = subprocess.run([CLI, "-h", host, "-p", str(port)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def role_of(c, member):
    """The member's role in the leader's configuration, or None."""
    lead = c.leader(5)
    inf = c.info(lead) if lead else None
    m = inf.get(f"raft_member_{member}") if inf else None
    return m.get("role") if isinstance(m, dict) else None


def check_all_acked(c, acked, nodes):
    """Every acknowledged write, read back on every node given (MGET in
    batches, retried while a node catches up)."""
    keys = sorted(acked)
    for i in nodes:
        assert c.wait_caught_up(i, 30), f"node {i} did not catch up"
        for k in range(0, len(keys), 500):
            part = keys[k:k + 500]
            got = retry(lambda: c.client(i, 10).mget(part))
            bad = [key for key, v in zip(part, got) if v != acked[key]]
            assert not bad, f"node {i}: {len(bad)} acknowledged writes missing, e.g. {bad[:3]}"


@case
def grow_from_1_to_5_and_shrink_to_3():
    """One node; four more join one at a time (--join, promoted once caught
    up); then two are removed with keel-cli. A client writes throughout."""
    c = Cluster(n=1)
    try:
        c.start_all()
        assert c.leader(), "the single node did not become leader"
        w = Writers(c, threads=2)
        for i in (2, 3, 4, 5):
            c.start_new(i, ["--join", f"127.0.0.1:{BASE + 1}"])
            wait_for(f"node {i} to be promoted", lambda: role_of(c, i) == "voter")
            time.sleep(0.5)
        rc, out = cli(c, 1, "status")
        assert rc == 0 and all(f"127.0.0.{i}:{BASE + PEER_OFFSET + i}" in out for i in range(1, 6)), out
        for gone in (5, 4):
            lead = c.leader()
            via = next(i for i in (1, 2, 3) if i != lead)
            rc, out = cli(c, via, "remove", gone)
            assert rc == 0 and "OK" in out, out
            wait_for(f"node {gone} to leave", lambda: role_of(c, gone) is None)
            wait_for(f"node {gone} to say it was removed",
                     lambda: (c.info(gone) or {}).get("raft_role") == "removed", 15)
        time.sleep(1)
        acked = w.finish()
        assert "removed from the cluster" in c.log(5), "node 5's log does not say it was removed"
        for gone in (4, 5):
            try:
                c.client(gone).set("x", "1")
                raise AssertionError(f"removed node {gone} took a write")
            except redis.ResponseError as e:
                assert str(e).startswith("REMOVED"), str(e)
        assert len(acked) > 100, f"only {len(acked)} writes acknowledged"
        check_all_acked(c, acked, (1, 2, 3))
        rc, out = cli(c, 2, "status")
        rows = [ln for ln in out.splitlines() if ln[:1].isdigit()]
        assert rc == 0 and len(rows) == 3, out
        return f"{len(acked)} acknowledged writes, all on nodes 1-3; 4 and 5 say removed"
    finally:
        c.cleanup()


@case
def join_retries_until_a_member_answers():
    """A node told to --join a member that is not up yet tries again every
    second (each retry once crashed the node) and is added once it is."""
    c = Cluster(n=1)
    try:
        c.start_new(2, ["--join", f"127.0.0.1:{BASE + 1}"])
        time.sleep(3.5)  # three failed attempts
        assert c.procs[2].poll() is None, "the joining node died:\n" + c.log(2)[-1500:]
        c.start_all()
        wait_for("node 2 to be promoted", lambda: role_of(c, 2) == "voter")
        assert c.log(2).count("trying again") >= 2, c.log(2)
        assert retry(lambda: c.client(2).set("j", "1")) is True
        return f"added after {c.log(2).count('trying again')} failed attempts"
    finally:
        c.cleanup()


class Proxy:
    """A TCP relay on 127.0.0.9 to a node's peer port. The leader reaches
    the new node through it; once cut_after bytes have passed, it closes
    the connections in flight (once), and the leader reconnects through it."""

    def __init__(self, target, cut_after):
        self.target, self.bytes, self.conns, self.lock = target, 0, [], threading.Lock()
        self.cut_after, self.cut_at = cut_after, None
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.9", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        self.stop = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stop:
            try:
                a, _ = self.ls.accept()
                b = socket.create_connection(self.target)
            except OSError:
                continue
            with self.lock:
                self.conns += [a, b]
            threading.Thread(target=self.pump, args=(a, b, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(b, a, False), daemon=True).start()

    def pump(self, src, dst, count):
        try:
            while True:
                d = src.recv(1 << 16)
                if not d:
                    break
                dst.sendall(d)
                if count:
                    self.bytes += len(d)
                    if self.cut_at is None and self.bytes >= self.cut_after:
                        self.cut_at = self.bytes
                        self.cut()
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.cut()
        self.ls.close()


@case
def join_after_compaction_by_a_50mb_snapshot_cut_midway():
    """60 MB of data, a snapshot on every node, the logs compacted; a fourth
    node is added and can only catch up by the snapshot. The leader reaches it through a
    relay that is cut once midway through the transfer: it resumes from
    the offset the new node acknowledged (not from the start), the node
    installs it, is promoted, and has every key."""
    c = Cluster(extra=["--trailing-entries", "50"])
    px = None
    try:
        c.start_all()
        lead = c.leader()
        assert lead
        r = c.client(lead, 30)
        value = "v" * 1000
        for b in range(60):
            p = r.pipeline(transaction=False)
            for k in range(1000):
                p.set(f"s:{b}:{k}", value)
            p.execute()
        w = Writers(c, threads=1)
        for k in range(200):  # more than the trailing entries after the load
            retry(lambda: c.client(lead).set(f"after:{k}", "1"))
        # every node snapshots and compacts: whichever leads when node 4 is
        # added (an election may come in between) can only send a snapshot
        size = 0
        for i in (1, 2, 3):
            rc, out = cli(c, i, "snapshot")  # answers the index it will cover
            assert rc == 0, out
            at = int(out.split()[-1])
            wait_for(f"node {i}'s snapshot", lambda: int(c.client(i).info("persistence")
                                                         ["keel_snapshot_index"]) >= at, 60)
            pers = c.client(i).info("persistence")
            assert int(pers["keel_log_first"]) > at - 100, pers
            size = max(size, int(pers["keel_snapshot_bytes"]))
        assert size > 50_000_000, f"the snapshot has {size} bytes"
        term0 = c.info(c.leader())["raft_term"]
        px = Proxy(("127.0.0.4", BASE + PEER_OFFSET + 4), size // 3)
        c.start_new(4)
        assert retry(lambda: c.client(lead).execute_command(
            "RAFT", "ADD-LEARNER", "4", f"127.0.0.9:{px.port}", "AUTO")) == "OK"
        wait_for("the cut", lambda: px.cut_at is not None, 60)
        wait_for("the snapshot to be installed",
                 lambda: int(c.client(4).info("persistence")["keel_snapshots_installed"]) >= 1,
                 120)
        pers = c.client(4).info("persistence")
        received = int(pers["keel_snapshot_bytes_received"])
        # a leader elected meanwhile sends its own snapshot (a new transfer);
        # a transfer of one snapshot must never begin again after the cut
        assert int(pers["keel_snapshot_restarts"]) == 0, \
            f"a transfer started over after the cut ({received} bytes received): {pers}"
        wait_for("node 4 to be promoted", lambda: role_of(c, 4) == "voter", 60)
        acked = w.finish()
        for b in (0, 59):
            assert retry(lambda: c.client(4).get(f"s:{b}:999")) == value
        check_all_acked(c, acked, (1, 2, 3, 4))
        return (f"snapshot {size >> 20} MiB; cut after {px.cut_at >> 20} MiB; "
                f"{received >> 20} MiB received in all, no transfer begun again; terms "
                f"{term0}-{c.info(c.leader())['raft_term']}; {len(acked)} writes during it, "
                f"none lost")
    finally:
        if px:
            px.close()
        c.cleanup()


def leader_change_under_load(how):
    c = Cluster()
    try:
        c.start_all()
        old = c.leader()
        assert old
        w = Writers(c, threads=3)
        time.sleep(1.5)
        others = [i for i in (1, 2, 3) if i != old]
        if how == "transfer":
            rc, out = cli(c, others[0], "transfer", others[1])
            assert rc == 0 and "OK" in out, out
            wait_for("the transfer", lambda: c.leader(5) == others[1], 15)
        elif how == "remove":
            rc, out = cli(c, others[0], "remove", old)
            assert rc == 0 and "OK" in out, out
            wait_for("a new leader", lambda: c.leader(5, exclude=(old,)) in others, 15)
            wait_for("the old leader to say it was removed",
                     lambda: (c.info(old) or {}).get("raft_role") == "removed", 15)
        else:  # SIGTERM: the leader hands over before it goes
            p = c.procs.pop(old)
            p.send_signal(signal.SIGTERM)
            assert p.wait(20) == 0, "the leader did not exit cleanly"
            new = c.leader(10)
            assert new in others, "no new leader"
            assert "transferring leadership" in c.log(old), c.log(old)[-2000:]
        time.sleep(1.5)
        acked = w.finish()
        new = c.leader()
        assert new and new != old
        assert len(acked) > 50, f"only {len(acked)} writes acknowledged"
        check_all_acked(c, acked, [i for i in c.procs if i != old or how == "transfer"])
        return f"leader {old} -> {new}; {len(acked)} acknowledged writes, none lost"
    finally:
        c.cleanup()


@case
def transfer_leadership_under_load():
    return leader_change_under_load("transfer")


@case
def remove_the_leader_under_load():
    return leader_change_under_load("remove")


@case
def sigterm_the_leader_under_load():
    return leader_change_under_load("sigterm")


@case
def keel_cli_interactive():
    """keel-cli's prompt on a terminal: Tab completes a command, a hint
    shows its arguments, Up recalls the last line, replies are printed as
    redis-cli prints them, and the history is kept in a file."""
    c = Cluster(n=1)
    home = c.dir
    try:
        c.start_all()
        assert c.leader()
        host, port = c.addr(1)
        pid, fd = pty.fork()
        if pid == 0:
            os.environ["HOME"] = home
            os.execv(CLI, [CLI, "-h", host, "-p", str(port)])

        def read():
            out = b""
            while select.select([fd], [], [], 0.5)[0]:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
            return out.decode(errors="replace")

        read()
        os.write(fd, b"inc\t")
        assert "incr" in read(), "Tab did not complete 'inc'"
        os.write(fd, b" ")
        assert "key" in read(), "no hint after 'incr '"
        os.write(fd, b"hits\r")
        assert "(integer) 1" in read()
        os.write(fd, b"\x1b[A\r")  # Up, Enter: the same command again
        assert "(integer) 2" in read()
        os.write(fd, b"get nothing\r")
        assert "(nil)" in read()
        os.write(fd, b"\x04")
        os.waitpid(pid, 0)
        with open(os.path.join(home, ".keelcli_history")) as f:
            hist = f.read().splitlines()
        assert hist == ["incr hits", "get nothing"], hist
        rc, out = cli(c, 1, "get", "hits")
        assert rc == 0 and out.strip() == "2", out
        rc, out = cli(c, 1, "nosuchcommand")
        assert rc == 1 and "unknown command" in out, out
        return "completion, hints, history, replies"
    finally:
        c.cleanup()


def main():
    return run_suite("ops", (grow_from_1_to_5_and_shrink_to_3, join_retries_until_a_member_answers,
                             join_after_compaction_by_a_50mb_snapshot_cut_midway,
                             transfer_leadership_under_load, remove_the_leader_under_load,
                             sigterm_the_leader_under_load, keel_cli_interactive),
                     (SERVER, CLI))


if __name__ == "__main__":
    sys.exit(main())
