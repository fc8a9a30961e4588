#!/usr/bin/python3
"""tests/cluster/replica_test.py - read replicas (SPEC.md §5) on real
processes: a replica started empty against 100,000 keys catches up by a
snapshot and follows live writes; its source is killed mid-catch-up and
mid-stream; it is cut off by iptables; the leader fails over while it
lags; paused while the log is compacted, it resumes from the log when
within --replica-max-lag and by a snapshot beyond; it restarts and
resumes from its own log; its disk fails (it stops) and it is restarted;
a chain cluster -> A -> B; zstd and raw streams give the same data; the
handshake's errors.

In every case, at the end the replica's keyspace equals the leader's, key
for key, and a reader that polled a counter on the replica throughout saw
it only go up (a replica never shows a write that is later rolled back,
and never applies an entry twice: a counter applied twice would end above
the leader's).

Usage: replica_test.py BUILD_DIR [CASE...]. Prints one line per case and
`replica: N passed, M failed`."""
import os
import socket
import subprocess
import threading
import time

import redis

from harness import BASE, SERVER, Cluster, case, retry, run_suite, wait_for

COMPACT = ["--snapshot-entries", "500", "--trailing-entries", "50"]


def addr(i):
    return f"127.0.0.{i}:{BASE + i}"


def start_replica(c, i, sources, extra=(), env=None):
    c._spawn(i, ["--replica-of", ",".join(addr(j) for j in sources)] + list(extra), env)


def streaming_replica(c, i, sources, extra=(), what="the replica to stream"):
    """Starts replica i and waits until it streams."""
    start_replica(c, i, sources, extra)
    wait_for(what, lambda: rinfo(c, i).get("keel_replica_state") == "streaming", 60)


def rinfo(c, i):
    try:
        return c.client(i, 2).info("replication")
    except (redis.RedisError, OSError):
        return {}


def load(c, n, prefix="k", size=16, step=None):
    """n keys through the leader, pipelined step at a time (a batch that
    met an election, whether told its writes were not applied or may have
    been, is sent again: SET is idempotent)."""
    pad = "v" * size
    step = step or (5000 if size < 100 else 1000)
    for start in range(0, n, step):
        for attempt in range(20):
            try:
                p = c.client(c.leader(20), 30).pipeline(transaction=False)
                for k in range(start, min(n, start + step)):
                    p.set(f"{prefix}{k}", f"{k}{pad}")
                p.execute()
                break
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as e:
                # a write after one that was not applied may be refused as
                # of an expired session ("this write was not applied"): the
                # session began with a write that never took effect
                if isinstance(e, redis.ResponseError) and \
                        not str(e).startswith(("TRYAGAIN", "CLUSTERDOWN", "TIMEOUT")) and \
                        not any(x in str(e) for x in (": TRYAGAIN", ": CLUSTERDOWN", ": TIMEOUT",
                                                      "this write was not applied")):
                    raise
                time.sleep(0.2)
        else:
            raise AssertionError(f"could not load keys {start}..")


def pad_log(c, n=120):
    """n writes one at a time: n more entries, however few entries the
    load before them took (a pass's writes share one), so that a snapshot
    now compacts the log past --trailing-entries."""
    lead = c.leader(20)
    assert lead, "no leader"
    for k in range(n):
        retry(lambda: c.client(lead, 5).set(f"pad:{k}", k))


def snapshot_now(c, i):
    """RAFT SNAPSHOT on node i, waiting for one in progress; returns once
    the snapshot is saved."""
    def ask():
        try:
            return c.client(i, 30).execute_command("RAFT", "SNAPSHOT")
        except redis.ResponseError as e:
            if "already" in str(e):
                raise redis.ConnectionError(str(e))  # retried
            raise
    at = retry(ask, tries=600)  # up to a minute: one in progress may be slow
    wait_for(f"node {i}'s snapshot", lambda: c.client(i, 5).info("persistence")
             ["keel_snapshot_index"] >= at and
             c.client(i, 5).info("persistence")["keel_snapshot_in_progress"] == 0, 60)


def dump(c, i):
    """Every key and value on node i."""
    r = c.client(i, 30)
    keys = list(r.scan_iter(count=2000))
    out = {}
    for k in range(0, len(keys), 2000):
        part = keys[k:k + 2000]
        out.update(zip(part, r.mget(part)))
    return out


def converge(c, replicas, timeout=90):
    """Waits until each replica has applied what the leader has, then
    compares keyspaces; returns the number of keys."""
    lead = c.leader(30)
    assert lead, "no leader"

    def caught_up(i):
        if c.procs[i].poll() is not None:
            last = [ln for ln in c.log(i).splitlines() if ln.strip()][-3:]
            raise AssertionError(f"replica {i} stopped: {' | '.join(last)}")
        li = c.info(lead)
        ri = rinfo(c, i)
        return li and ri and ri.get("keel_replica_applied_index", 0) >= li["raft_applied_index"]
    for i in replicas:
        wait_for(f"replica {i} to catch up", lambda: caught_up(i), timeout)
    want = dump(c, lead)
    for i in replicas:
        got = dump(c, i)
        if got != want:
            missing = [k for k in want if k not in got]
            extra = [k for k in got if k not in want]
            diff = [k for k in want if k in got and got[k] != want[k]]
            raise AssertionError(f"replica {i} differs from the leader: {len(missing)} "
                                 f"missing, {len(extra)} extra, {len(diff)} different, "
                                 f"e.g. {(missing + extra + diff)[:3]}")
    return len(want)


class Load:
    """Writers through the cluster (SETs of new keys and INCRs of a
    counter), and readers that poll the counter on replicas and fail if it
    ever goes down."""

    def __init__(self, c, replicas=()):
        self.c, self.stop, self.sets = c, False, 0
        self.errors = []
        self.threads = [threading.Thread(target=self.write, args=(t,)) for t in range(2)]
        self.threads += [threading.Thread(target=self.read, args=(i,)) for i in replicas]
        for t in self.threads:
            t.start()

    def write(self, t):
        n = 0
        while not self.stop:
            n += 1
            procs = list(self.c.procs)
            if not procs:
                break  # the case is over
            i = procs[n % len(procs)]
            if i > 5:
                continue  # a replica
            try:
                r = self.c.client(i, 3)
                r.set(f"live:{t}:{n}", n)
                r.incr("ctr")
                self.sets += 1
            except (redis.RedisError, OSError):
                time.sleep(0.05)

    def read(self, i):
        last = 0
        while not self.stop:
            try:
                v = int(self.c.client(i, 2).get("ctr") or 0)
                if v < last:
                    self.errors.append(f"replica {i}: the counter went from {last} to {v}")
                last = max(last, v)
            except (redis.RedisError, OSError):
                pass
            time.sleep(0.01)

    def finish(self):
        self.stop = True
        for t in self.threads:
            t.join(30)
        assert not self.errors, self.errors[:3]
        assert self.sets > 50, f"only {self.sets} writes went through"
        return self.sets


@case
def empty_replica_catches_up_100k_keys_then_follows():
    """An empty replica of a cluster holding 100,000 keys (its log
    compacted) catches up by the snapshot, then follows live writes."""
    c = Cluster(extra=COMPACT)
    try:
        c.start_all()
        assert c.leader(20), "no leader"
        load(c, 100000)
        pad_log(c)
        for i in (1, 2, 3):
            snapshot_now(c, i)
        wait_for("the leader's log to be compacted",
                 lambda: c.client(c.leader(), 2).info("persistence")["keel_log_first"] > 2)
        t0 = time.time()
        source = c.leader()
        streaming_replica(c, 9, [source])
        took = time.time() - t0
        inf = rinfo(c, 9)
        assert inf["keel_replica_snapshots_received"] == 1, inf
        ld = Load(c, replicas=(9,))
        time.sleep(4)
        sets = ld.finish()
        n = converge(c, (9,))
        assert n >= 100000, n
        try:
            c.client(9).set("x", "1")
            raise AssertionError("the replica took a write")
        except redis.ResponseError as e:
            assert str(e).startswith("You can't write against a read only replica"), str(e)
        # the node it follows (leadership may have moved meanwhile)
        src = c.client(source).info("replication")
        assert src.get("keel_read_replicas") == 1, src
        return f"caught up in {took:.1f}s by a snapshot; {sets} live writes; {n} keys equal"
    finally:
        c.cleanup()


@case
def source_killed_mid_catchup_and_mid_stream():
    """The replica's source is killed -9 while it sends the snapshot, and
    again (another source) while it streams; the replica moves on to the
    next address it was given each time."""
    c = Cluster(extra=COMPACT)
    try:
        c.start_all()
        assert c.leader(20), "no leader"
        load(c, 80000, size=1000)  # ~80 MB: a catch-up that takes a moment
        pad_log(c)
        for i in (1, 2, 3):
            snapshot_now(c, i)
        start_replica(c, 9, [1, 2, 3])
        end = time.time() + 30  # the replica's log says when the catch-up begins
        while "catching up by its snapshot" not in c.log(9):
            assert time.time() < end, "the catch-up did not begin"
            time.sleep(0.005)
        c.kill(1)
        c.start(1)
        wait_for("the replica to stream",
                 lambda: rinfo(c, 9).get("keel_replica_state") == "streaming")
        ld = Load(c, replicas=(9,))
        time.sleep(2)
        src = rinfo(c, 9)["keel_replica_source"]
        victim = int(src.split(":")[0].split(".")[-1])
        c.kill(victim)
        time.sleep(4)
        c.start(victim)
        time.sleep(2)
        sets = ld.finish()
        n = converge(c, (9,))
        inf = rinfo(c, 9)
        assert inf["keel_replica_connects"] >= 3, inf
        # the first catch-up was cut: the next source sent its snapshot again
        assert inf["keel_replica_snapshots_received"] >= 2, inf
        return (f"killed node 1 mid-catch-up and node {victim} mid-stream; "
                f"{inf['keel_replica_connects']} connections; {sets} writes; {n} keys equal")
    finally:
        c.cleanup()


@case
def replica_cut_off_by_a_partition():
    """iptables drops everything between the replica and the cluster for
    6 s while writes go on; it notices the silence, reconnects once the
    network heals, and catches up."""
    chain = f"keel-replica-{os.getpid()}"

    def ipt(*args):
        subprocess.run(["iptables", "-w", *args], check=True, capture_output=True, timeout=10)
    c = Cluster(extra=COMPACT)
    try:
        c.start_all()
        assert c.leader(20), "no leader"
        load(c, 5000)
        streaming_replica(c, 9, [1, 2, 3])
        ld = Load(c, replicas=(9,))
        ipt("-N", chain)
        ipt("-I", "OUTPUT", "-j", chain)
        for port in (BASE + 1, BASE + 2, BASE + 3):
            ipt("-A", chain, "-s", "127.0.0.9", "-p", "tcp", "--dport", str(port), "-j", "DROP")
            ipt("-A", chain, "-d", "127.0.0.9", "-p", "tcp", "--sport", str(port), "-j", "DROP")
        time.sleep(6)
        lag = rinfo(c, 9)
        ipt("-F", chain)
        sets = ld.finish()
        n = converge(c, (9,))
        assert lag.get("master_link_status") == "down", lag
        assert lag.get("keel_replica_lag_ms", 0) > 1000, lag
        return (f"cut off: link {lag['master_link_status']}, lag {lag['keel_replica_lag_ms']} ms "
                f"shown; then {sets} writes, {n} keys equal")
    finally:
        subprocess.run(["iptables", "-w", "-D", "OUTPUT", "-j", chain], capture_output=True)
        subprocess.run(["iptables", "-w", "-F", chain], capture_output=True)
        subprocess.run(["iptables", "-w", "-X", chain], capture_output=True)
        c.cleanup()


@case
def leader_fails_over_while_the_replica_lags():
    """The replica follows the leader; the leader is paused (the replica
    falls behind) and then killed; a new leader is elected; the replica
    moves to another member and catches up."""
    c = Cluster(extra=COMPACT)
    try:
        c.start_all()
        lead = c.leader(20)
        assert lead, "no leader"
        streaming_replica(c, 9, [lead] + [i for i in (1, 2, 3) if i != lead])
        ld = Load(c, replicas=(9,))
        time.sleep(2)
        c.procs[lead].send_signal(19)  # SIGSTOP: the stream stops, writes elsewhere wait
        time.sleep(1.5)
        c.kill(lead)
        new = c.leader(20)
        assert new and new != lead, "no new leader"
        time.sleep(3)
        c.start(lead)
        sets = ld.finish()
        n = converge(c, (9,))
        return f"leader {lead} paused and killed, {new} took over; {sets} writes; {n} keys equal"
    finally:
        c.cleanup()


def pause_replica_while_log_compacts(max_lag):
    """The replica is paused (SIGSTOP) while 60 MB of writes go through a
    cluster that snapshots and compacts every 500 entries; then it goes on.
    Returns its INFO and the number of entries it fell behind."""
    c = Cluster(extra=COMPACT + ["--replica-max-lag", str(max_lag)])
    try:
        c.start_all()
        lead = c.leader(20)
        assert lead, "no leader"
        # uncompressed, so that the source cannot queue all of it at once
        streaming_replica(c, 9, [lead], ["--replica-compress", "no"])
        c.procs[9].send_signal(19)  # SIGSTOP
        before = c.info(lead)["raft_applied_index"]
        load(c, 3000, prefix="big", size=20000, step=5)  # hundreds of entries
        for i in (1, 2, 3):
            snapshot_now(c, i)
        behind = c.info(lead)["raft_applied_index"] - before
        first = c.client(lead).info("persistence")["keel_log_first"]
        c.procs[9].send_signal(18)  # SIGCONT
        n = converge(c, (9,))
        return rinfo(c, 9), behind, first, before, n, c.log(9)
    finally:
        c.cleanup()


@case
def log_kept_for_a_replica_within_the_lag():
    """Within --replica-max-lag, the members keep their log for a paused
    replica through their snapshots: it resumes from the log."""
    inf, behind, first, before, n, _ = pause_replica_while_log_compacts(100000)
    assert first <= before + 1, f"the log was purged to {first} past the replica's {before}"
    assert inf["keel_replica_snapshots_received"] == 0, inf
    return f"{behind} entries behind, the log kept from {first}; resumed from it; {n} keys equal"


@case
def replica_beyond_the_lag_gets_a_snapshot():
    """Beyond --replica-max-lag (100 entries here), the log is not kept for
    it: once it resumes, the source no longer holds its next entry, and it
    catches up by a snapshot."""
    inf, behind, first, before, n, log = pause_replica_while_log_compacts(100)
    assert first > before + 1, f"the log was kept from {first} for the replica at {before}"
    assert inf["keel_replica_snapshots_received"] == 1, inf
    return f"{behind} entries behind, the log purged to {first}; a snapshot; {n} keys equal"


@case
def restarted_replica_resumes_from_its_own_log():
    """A replica killed -9 and restarted recovers to its last durable
    index and resumes from the source's log: no second snapshot."""
    c = Cluster(extra=["--snapshot-entries", "100000"])
    try:
        c.start_all()
        assert c.leader(20), "no leader"
        load(c, 5000)
        streaming_replica(c, 9, [1, 2, 3])
        ld = Load(c, replicas=(9,))
        time.sleep(2)
        c.kill(9)
        time.sleep(1)
        streaming_replica(c, 9, [1, 2, 3], what="the replica to stream again")
        time.sleep(1)
        sets = ld.finish()
        n = converge(c, (9,))
        inf = rinfo(c, 9)
        log = c.log(9)
        recovered = [ln for ln in log.splitlines() if "recovered to index" in ln]
        assert len(recovered) == 2 and not recovered[1].endswith("index 0"), recovered
        assert inf["keel_replica_snapshots_received"] == 0, inf
        return f"{recovered[1].split('] ')[1]}; {sets} writes; {n} keys equal"
    finally:
        c.cleanup()


@case
def replica_disk_fails_then_restarts():
    """A replica whose fdatasync fails (EIO, through the fault shim) stops
    as a member does, saying why; restarted on a good disk it resumes and
    converges, and the counter read on it never went back across the
    failure (what it showed was durable)."""
    c = Cluster()
    try:
        c.start_all()
        assert c.leader(20), "no leader"
        load(c, 5000)
        shim = os.path.join(os.path.dirname(SERVER), "..", "faults", "shim.so")
        env = dict(os.environ, LD_PRELOAD=os.path.abspath(shim), KEEL_FAULT_OP="fdatasync",
                   KEEL_FAULT_ERRNO="EIO", KEEL_FAULT_AFTER="40",
                   ASAN_OPTIONS="verify_asan_link_order=0")
        start_replica(c, 9, [1, 2, 3], env=env)
        ld = Load(c, replicas=(9,))
        wait_for("the replica to stop", lambda: c.procs[9].poll() is not None, 60)
        rc = c.procs[9].returncode
        failed = [ln for ln in c.log(9).splitlines() if "storage failed" in ln]
        assert rc != 0 and failed, (rc, c.log(9)[-600:])
        streaming_replica(c, 9, [1, 2, 3], what="the replica to stream again")
        time.sleep(1)
        sets = ld.finish()
        n = converge(c, (9,))
        return f"exit {rc}: {failed[0].split('] ')[1][:90]}; restarted; {sets} writes; {n} keys equal"
    finally:
        c.cleanup()


@case
def chain_cluster_to_a_to_b():
    """Replica B follows replica A, which follows the cluster; B starts
    after A has compacted its own log, so A sends B its own snapshot."""
    c = Cluster(extra=COMPACT)
    try:
        c.start_all()
        assert c.leader(20), "no leader"
        load(c, 20000)
        streaming_replica(c, 8, [1, 2, 3], what="A to stream")
        ld = Load(c, replicas=(8,))
        wait_for("A to take a snapshot of its own",
                 lambda: c.client(8, 2).info("persistence")["keel_snapshots_taken"] >= 1)
        wait_for("A to compact its log",
                 lambda: c.client(8, 2).info("persistence")["keel_log_first"] > 1)
        streaming_replica(c, 7, [8], what="B to stream")
        time.sleep(2)
        sets = ld.finish()
        n = converge(c, (8, 7))
        b = rinfo(c, 7)
        a = rinfo(c, 8)
        assert a.get("keel_read_replicas") == 1, a
        return (f"B caught up from A by {b['keel_replica_snapshots_received']} snapshot(s); "
                f"{sets} writes; {n} keys equal on A and B")
    finally:
        c.cleanup()


@case
def compression_on_and_off_give_the_same_data():
    """Two replicas, one offering zstd and one not: the same keyspace, and
    the compressed stream carries fewer bytes."""
    c = Cluster(extra=COMPACT)
    try:
        c.start_all()
        assert c.leader(20), "no leader"
        load(c, 20000, size=200)
        start_replica(c, 8, [1])
        start_replica(c, 9, [1], ["--replica-compress", "no"])
        for i in (8, 9):
            wait_for(f"replica {i} to stream",
                     lambda: rinfo(c, i).get("keel_replica_state") == "streaming")
        ld = Load(c, replicas=(8, 9))
        time.sleep(3)
        sets = ld.finish()
        n = converge(c, (8, 9))
        z, raw = rinfo(c, 8), rinfo(c, 9)
        assert z["keel_replica_compression"] == "zstd", z
        assert raw["keel_replica_compression"] == "none", raw
        zb, rb = z["keel_replica_bytes_received"], raw["keel_replica_bytes_received"]
        assert zb < rb, (zb, rb)
        return f"{n} keys equal; bytes received zstd {zb}, raw {rb} ({rb / zb:.1f}x); {sets} writes"
    finally:
        c.cleanup()


@case
def handshake_and_command_errors():
    """A replica of another protocol version gets a clear error, and the
    source logs it; a replica refuses RAFT and takes no --cluster."""
    c = Cluster()
    try:
        c.start_all()
        assert c.leader(20), "no leader"
        s = socket.create_connection(("127.0.0.1", BASE + 1), timeout=5)
        cmd = [b"KEEL.REPLICATE", b"99", b"0", b"1", b"none", b"test"]
        s.sendall(b"*6\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in cmd))
        got = b""
        while True:
            part = s.recv(4096)
            if not part:
                break
            got += part
        s.close()
        assert got[:2] == b"KF" and got[3] == 33, got[:40]  # an ERROR frame
        assert b"version 99 is not supported" in got, got
        wait_for("the source to log the refusal",
                 lambda: "refused a replica test" in c.log(1), 10)
        r = c.client(1)
        try:
            r.execute_command("KEEL.REPLICATE", "1", "x", "1", "none", "t")
            raise AssertionError("a bad handshake was accepted")
        except redis.ResponseError as e:
            assert "unsigned integers" in str(e), str(e)
        streaming_replica(c, 9, [1])
        try:
            c.client(9).execute_command("RAFT", "STATUS")
            raise AssertionError("a replica answered RAFT STATUS")
        except redis.ResponseError as e:
            assert "read replica" in str(e), str(e)
        p = subprocess.run([SERVER, "--id", "9", "--replica-of", addr(1), "--cluster",
                            f"9@127.0.0.9:{BASE + 10009}"], capture_output=True, text=True,
                           timeout=10)
        assert p.returncode != 0 and "not a Raft member" in p.stderr, p.stderr
        p = subprocess.run([SERVER, "--id", "9", "--replica-of", "nohost"],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode != 0 and "IPv4 host:port" in p.stderr and not os.path.exists("data/9"), p.stderr
        return "version mismatch refused on both sides; RAFT and --cluster refused"
    finally:
        c.cleanup()


@case
def replica_started_as_the_spec_shows_needs_no_id():
    """`keel-server --bind 127.0.0.9 --port P --dir D --replica-of L` (SPEC.md
    §4, no --id) starts a replica that catches up and streams; its source
    knows it by its client address; restarted, it resumes under the same
    name; without --dir its data goes to data/replica-<port>. A member
    still needs --id."""
    c = Cluster()
    try:
        c.start_all()
        lead = c.leader(20)
        assert lead, "no leader"
        n = 500
        load(c, n)
        port = BASE + 9

        def spawn(i, args, cwd=None):
            log = open(os.path.join(c.dir, f"{i}.log"), "a")
            c.procs[i] = subprocess.Popen(
                [os.path.abspath(SERVER), "--bind", f"127.0.0.{i}", "--port", str(BASE + i)] + args,
                stdout=log, stderr=log, cwd=cwd)
        spec = ["--dir", os.path.join(c.dir, "r1"), "--replica-of", addr(lead)]
        spawn(9, spec)
        wait_for("the replica to stream", lambda: rinfo(c, 9).get("keel_replica_state") == "streaming", 60)
        converge(c, [9])
        name = f"127.0.0.9:{port}"
        streams = [v for k, v in c.client(lead).info("replication").items()
                   if k.startswith("keel_replica") and isinstance(v, dict)]
        assert [st.get("name") for st in streams] == [name], streams
        c.client(lead).set("after", "1")
        c.kill(9)
        c.client(lead).set("while-down", "2")
        spawn(9, spec)
        wait_for("the restarted replica to stream",
                 lambda: rinfo(c, 9).get("keel_replica_state") == "streaming", 60)
        wait_for("the write made while it was down",
                 lambda: retry(lambda: c.client(9).get("while-down")) == "2", 30)
        log = c.log(lead)
        assert f"replica {name} (" in log and "attached: from the log" in log, log[-2000:]
        # no --dir: data/replica-<port> under the folder it runs in
        spawn(10, ["--replica-of", addr(lead)], cwd=c.dir)
        wait_for("the second replica to stream",
                 lambda: rinfo(c, 10).get("keel_replica_state") == "streaming", 60)
        assert os.path.isdir(os.path.join(c.dir, "data", f"replica-{BASE + 10}")), os.listdir(c.dir)
        p = subprocess.run([SERVER, "--bind", "127.0.0.11", "--port", str(BASE + 11),
                            "--dir", os.path.join(c.dir, "m")], capture_output=True, text=True,
                           timeout=10)
        assert p.returncode != 0 and "--id is required" in p.stderr, p.stderr
        return f"{n} keys streamed to a replica with no --id, known as {name}; resumed after a restart"
    finally:
        c.cleanup()


if __name__ == "__main__":
    raise SystemExit(run_suite("replica", [
        empty_replica_catches_up_100k_keys_then_follows,
        source_killed_mid_catchup_and_mid_stream,
        replica_cut_off_by_a_partition,
        leader_fails_over_while_the_replica_lags,
        log_kept_for_a_replica_within_the_lag,
        replica_beyond_the_lag_gets_a_snapshot,
        restarted_replica_resumes_from_its_own_log,
        replica_disk_fails_then_restarts,
        chain_cluster_to_a_to_b,
        compression_on_and_off_give_the_same_data,
        handshake_and_command_errors,
        replica_started_as_the_spec_shows_needs_no_id,
    ], [SERVER]))
