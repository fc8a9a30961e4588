"""tests/cluster/edges_test.py - what a client or a peer sends cannot
exhaust a node or mislead it, on real processes: a huge request is
refused at client-query-buffer-limit and one under it costs its own size
once; a pipeline of big replies is held back, not built whole, and other
clients are still served; the peer port reads nothing before a HELLO and
bounds the connections that have not sent one; a forged Raft term or
REMOVED notice is not believed. Memory is the node's peak RSS (VmHWM in
/proc/<pid>/status, reset through clear_refs before each measure).

    python3 tests/cluster/edges_test.py BUILD_DIR [CASE...]
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SERVER, Cluster, case, retry, run_suite, wait_for  # noqa: E402

MIB = 1 << 20


# ---- the node's memory --------------------------------------------------------

def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def reset_peak(pid):
    """VmHWM starts again from the current RSS (proc(5): clear_refs 5)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def peak_mib(pid):
    return status_kb(pid, "VmHWM") / 1024


# ---- raw connections ----------------------------------------------------------

def raw(c, i, timeout=30):
    s = socket.create_connection(c.addr(i), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_peer(s, timeout=10):
    """True once the node has closed s (EOF or reset), within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def send_bulks(s, cmd, sizes):
    """Sends one request: cmd and one argument of each size ('a' bytes),
    each from one buffer; False if the node closed the connection first."""
    blob = b"a" * max(sizes)
    mv = memoryview(blob)
    try:
        s.sendall(b"*%d\r\n$%d\r\n%s\r\n" % (1 + len(sizes), len(cmd), cmd))
        for n in sizes:
            s.sendall(b"$%d\r\n" % n)
            s.sendall(mv[:n])
            s.sendall(b"\r\n")
        return True
    except (ConnectionResetError, BrokenPipeError):
        return False


def read_reply(s, timeout=60):
    s.settimeout(timeout)
    b = b""
    while not b.endswith(b"\r\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise AssertionError(f"closed after {b!r}")
        b += chunk
    return b


# ---- peer frames ----------------------------------------------------------------

def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def frame(kind, payload, length=None):
    """A peer frame (net/frame.h); length: what the header claims."""
    n = len(payload) if length is None else length
    head = b"KF" + bytes([1, kind]) + struct.pack("<I", n)
    return head + struct.pack("<I", crc32c(payload, crc32c(head))) + payload


def hello(node_id, addr="127.0.0.1:1"):
    return frame(1, struct.pack("<Q", node_id) + addr.encode())


def read_index_resp(frm, to, term, index):
    """A Raft READ_INDEX_RESP (raft/codec.c, type 11) in a RAFT frame."""
    m = struct.pack("<BBQQQQQB", 1, 11, frm, to, term, 1, index, 1)
    return frame(2, m)


def peer(c, i):
    s = socket.create_connection(("127.0.0.%d" % i, c.peer_port(i)), timeout=10)
    return s


def raft_info(c, i):
    return c.client(i, 3).info("raft")


# ---- the cases ------------------------------------------------------------------

class Edges(Cluster):
    def peer_port(self, i):
        return int(self.members.split(",")[i - 1].rsplit(":", 1)[1])


def one_node(*extra):
    c = Edges(1, extra=list(extra))
    c.start_all()
    wait_for("a leader", lambda: c.leader(1) == 1, 60)
    return c


@case
def a_request_past_the_query_buffer_limit_is_refused_before_it_is_held():
    # Redis: client-query-buffer-limit 1gb; three 384 MiB arguments are
    # 1.15 GiB: the client is closed once the third one is announced.
    c = one_node()
    try:
        pid = c.procs[1].pid
        reset_peak(pid)
        s = raw(c, 1)
        sent_all = send_bulks(s, b"EXISTS", [384 * MIB] * 3)
        assert closed_by_peer(s), "the client was not closed"
        peak = peak_mib(pid)
        assert "reached max query buffer length" in c.log(1), "nothing logged"
        assert c.client(1).ping()
        # the request was held once, never copied: under 1.5 GiB (the whole
        # request, three times over, was 3.5 GB)
        assert peak < 1536, f"peak RSS {peak:.0f} MiB"
        return f"closed ({'all sent' if sent_all else 'while sending'}), peak {peak:.0f} MiB"
    finally:
        c.cleanup()


@case
def a_big_request_under_the_limit_costs_its_own_size_once():
    c = one_node()
    try:
        pid = c.procs[1].pid
        base = status_kb(pid, "VmRSS") / 1024
        reset_peak(pid)
        s = raw(c, 1)
        assert send_bulks(s, b"EXISTS", [300 * MIB, 8])
        assert read_reply(s) == b":0\r\n"
        growth = peak_mib(pid) - base
        assert growth < 300 * 1.4, f"RSS grew by {growth:.0f} MiB for a 300 MiB request"
        # and the connection goes on
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert read_reply(s) == b"+PONG\r\n"
        return f"grew {growth:.0f} MiB for 300 MiB"
    finally:
        c.cleanup()


@case
def client_query_buffer_limit_is_a_setting_and_counts_multi():
    c = one_node("--client-query-buffer-limit", "2mb")
    try:
        s = raw(c, 1)
        assert send_bulks(s, b"EXISTS", [MIB])
        assert read_reply(s) == b":0\r\n"
        send_bulks(s, b"EXISTS", [3 * MIB])
        assert closed_by_peer(s), "a 3 MiB request passed a 2mb limit"
        # commands queued in MULTI count too, as in Redis
        s = raw(c, 1)
        s.sendall(b"*1\r\n$5\r\nMULTI\r\n")
        assert read_reply(s) == b"+OK\r\n"
        for _ in range(3):
            if not send_bulks(s, b"SET", [1, 900 * 1024]):
                break
            try:
                read_reply(s, 5)
            except (AssertionError, ConnectionResetError):
                break
        assert closed_by_peer(s), "MULTI grew past the limit"
        assert c.client(1).ping()
        bad = Edges(1, extra=["--client-query-buffer-limit", "1000"])
        try:
            bad.start_all()
            assert bad.procs[1].wait(20) != 0, "a limit under 1mb was taken"
        finally:
            bad.cleanup()
        return "2mb enforced; under 1mb refused"
    finally:
        c.cleanup()


@case
def a_pipeline_of_big_replies_is_held_back_and_others_are_served():
    # 1000 GETs of a 1 MiB value are 16 KB sent and 1 GiB of replies: the
    # node builds them as the client reads, not all at once.
    c = one_node()
    try:
        pid = c.procs[1].pid
        retry(lambda: c.client(1).set("big", "x" * MIB))
        base = status_kb(pid, "VmRSS") / 1024
        reset_peak(pid)
        s = raw(c, 1)
        s.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 1000)
        worst = 0.0
        other = c.client(1, 10)
        end = time.time() + 4
        while time.time() < end:
            t = time.time()
            assert other.ping()
            worst = max(worst, time.time() - t)
            time.sleep(0.1)
        unread = peak_mib(pid) - base
        assert worst < 1.0, f"PING waited {worst:.2f} s"
        assert unread < 200, f"RSS grew by {unread:.0f} MiB while nothing was read"
        # now the client reads: every reply arrives, in order and whole
        want = 1000 * (MIB + len(b"$1048576\r\n\r\n"))
        s.settimeout(30)
        got = 0
        first = b""
        while got < want:
            b = s.recv(4 * MIB)
            assert b, f"closed after {got} bytes"
            if len(first) < 12:
                first += b[:12]
            got += len(b)
        assert got == want and first.startswith(b"$1048576\r\nxx")
        return f"worst PING {worst * 1000:.0f} ms, +{unread:.0f} MiB unread, all {got} bytes read"
    finally:
        c.cleanup()


@case
def a_client_that_never_reads_is_closed_at_its_output_limit():
    c = one_node("--client-output-mb", "16")
    try:
        pid = c.procs[1].pid
        retry(lambda: c.client(1).set("big", "x" * MIB))
        base = status_kb(pid, "VmRSS") / 1024
        reset_peak(pid)
        s = raw(c, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # MGET of the same key 40 times: one 40 MiB reply, past 16 MiB
        s.sendall(b"*41\r\n$4\r\nMGET\r\n" + b"$3\r\nbig\r\n" * 40)
        wait_for("the client to be closed", lambda: "replies unread" in c.log(1), 20)
        grew = peak_mib(pid) - base
        assert c.client(1).ping()
        return f"closed; +{grew:.0f} MiB"
    finally:
        c.cleanup()


@case
def the_peer_port_reads_nothing_before_a_hello():
    # four connections announcing a 256 MiB Raft frame (no HELLO): each is
    # dropped on its 12 header bytes; then 40 silent ones: at most 16 wait
    # for their HELLO, for 5 s
    c = one_node()
    try:
        pid = c.procs[1].pid
        base = status_kb(pid, "VmRSS") / 1024
        reset_peak(pid)
        chunk = b"\0" * MIB
        dropped = 0
        for _ in range(4):
            s = peer(c, 1)
            try:
                s.sendall(frame(2, b"", length=256 * MIB - 1))
                for _ in range(256):
                    s.sendall(chunk)
            except (ConnectionResetError, BrokenPipeError):
                dropped += 1
            s.close()
        assert dropped == 4, f"{4 - dropped} of 4 took 256 MiB without a HELLO"
        # a HELLO claiming more than a HELLO can be: dropped on the header
        s = peer(c, 1)
        s.sendall(frame(1, b"", length=64 * MIB))
        assert closed_by_peer(s, 5)
        grew = peak_mib(pid) - base
        assert grew < 32, f"RSS grew by {grew:.0f} MiB"
        silent = [peer(c, 1) for _ in range(40)]
        time.sleep(1)
        shut = []
        for s in silent:
            s.setblocking(False)
            try:
                shut.append(s.recv(1) == b"")
            except BlockingIOError:
                shut.append(False)
            except ConnectionResetError:
                shut.append(True)
        waiting = shut.count(False)
        assert waiting <= 16, f"{waiting} connections wait for a HELLO"
        t0 = time.time()
        for s in silent:
            s.setblocking(True)
            assert closed_by_peer(s, 10), "a connection without HELLO was kept"
        late = time.time() - t0
        assert c.client(1).ping()
        return f"{waiting} of 40 waited, closed within {late:.1f} s more; +{grew:.0f} MiB"
    finally:
        c.cleanup()


@case
def a_forged_term_is_not_adopted():
    # a READ_INDEX_RESP with term 2^64-1 from node 99 (no member), then the
    # same from member 2: neither moves the term; elections go on
    c = Edges(3)
    try:
        c.start_all()
        lead = c.leader(30)
        assert lead, "no leader"
        before = {i: int(raft_info(c, i)["raft_term"]) for i in (1, 2, 3)}
        victim = 1 if lead != 1 else 2
        for frm, term in ((99, 2**64 - 1), (99, 1000), (3 if victim != 3 else 1, 2**64 - 1)):
            s = peer(c, victim)
            s.sendall(hello(frm) + read_index_resp(frm, victim, term, 2**64 - 1))
            time.sleep(0.3)
            s.close()
        for i in (1, 2, 3):
            t = int(raft_info(c, i)["raft_term"])
            assert t < 1000, f"node {i} took term {t}"
        # an election after it: every node survives it and a leader is chosen
        c.kill(lead)
        new = c.leader(30, exclude=(lead,))
        assert new, "no leader after the old one stopped"
        for i in c.procs:
            assert c.procs[i].poll() is None, f"node {i} exited: {c.log(i)[-300:]}"
        c.start(lead)
        wait_for("the old leader back", lambda: raft_info(c, lead)["raft_role"] == "follower", 30)
        after = max(int(raft_info(c, i)["raft_term"]) for i in (1, 2, 3))
        return f"terms {before} -> max {after}"
    finally:
        c.cleanup()


@case
def a_forged_removed_notice_is_not_believed():
    c = Edges(3)
    try:
        c.start_all()
        lead = c.leader(30)
        assert lead, "no leader"
        victim = 1 if lead != 1 else 2
        member = lead
        for frm in (99, member):
            s = peer(c, victim)
            s.sendall(hello(frm) + frame(5, struct.pack("<Q", 2**64 - 1)))
            time.sleep(0.5)
            s.close()
        role = raft_info(c, victim)["raft_role"]
        assert role != "removed", "a forged REMOVED was believed"
        assert "not believed" in c.log(victim)
        # nor does a HELLO from a made-up id take a peer slot (the node
        # would connect back to it)
        assert "learned peer 99" not in c.log(victim), "it connected back to node 99"
        assert retry(lambda: c.client(victim).set("k", "v"))
        return f"node {victim} stays {role}"
    finally:
        c.cleanup()


@case
def a_node_stored_at_the_largest_term_starts_and_serves():
    # a data folder whose hard state holds term 2^64-1 (what a forged frame
    # left before terms were checked): the node starts, answers, and does
    # not campaign (term + 1 would wrap; it used to stop on an assertion)
    c = one_node()
    try:
        retry(lambda: c.client(1).set("k", "v"))
        c.kill(1)
        head = b"KEELHS1\0" + struct.pack("<QQ", 2**64 - 1, 0)
        with open(os.path.join(c.dir, "1", "hardstate"), "wb") as f:
            f.write(head + struct.pack("<I", crc32c(head)))
        c.start(1)
        wait_for("the node to answer", lambda: c.client(1).ping(), 30)
        time.sleep(2)  # several election timeouts
        assert c.procs[1].poll() is None, f"the node exited: {c.log(1)[-300:]}"
        inf = raft_info(c, 1)
        assert int(inf["raft_term"]) == 2**64 - 1 and inf["raft_role"] != "leader", inf
        assert "is the largest a node may hold" in c.log(1)
        return f"{inf['raft_role']} at term {inf['raft_term']}"
    finally:
        c.cleanup()


def main():
    return run_suite("edges", (
        a_request_past_the_query_buffer_limit_is_refused_before_it_is_held,
        a_big_request_under_the_limit_costs_its_own_size_once,
        client_query_buffer_limit_is_a_setting_and_counts_multi,
        a_pipeline_of_big_replies_is_held_back_and_others_are_served,
        a_client_that_never_reads_is_closed_at_its_output_limit,
        the_peer_port_reads_nothing_before_a_hello,
        a_forged_term_is_not_adopted,
        a_forged_removed_notice_is_not_believed,
        a_node_stored_at_the_largest_term_starts_and_serves,
    ), (SERVER,))


if __name__ == "__main__":
    sys.exit(main())
