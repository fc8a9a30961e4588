#!/usr/bin/python3
"""tests/cluster/connection_test.py - the commands clients send about their
connection and about the server's commands (COMMAND, CLIENT, HELLO),
checked against a redis-server 7.0.15 the suite starts on loopback:
byte-for-byte where Redis's reply is deterministic (COMMAND INFO, errors),
field by field where it holds per-connection values (CLIENT LIST), and for
what Redis 7.0 lacks (CLIENT SETINFO, 7.2) against keel's own spec files.

Every process it starts binds to 127.0.0.x, is stopped by its pid, and the
run is bounded in time. Usage: connection_test.py BUILD_DIR. Prints one
line per case and `connection: N passed, M failed`."""
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import redis

from harness import SERVER, Cluster, case, retry, run_suite, wait_for

SPECS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "kv",
                     "commands")


def parse(buf, i=0):
    """One RESP2/3 value from buf at i: (value, end), or None if buf ends
    first. Simple strings and errors are ('+'|'-', text), maps {"map": pairs}."""
    j = buf.find(b"\r\n", i)
    if j < 0:
        return None
    t, rest, i = buf[i:i + 1], buf[i + 1:j], j + 2
    if t in (b"+", b"-"):
        return (t.decode(), rest.decode()), i
    if t == b":":
        return int(rest), i
    if t == b"_":
        return None, i
    if t in (b"$", b"="):
        n = int(rest)
        if n < 0:
            return None, i
        if len(buf) < i + n + 2:
            return None
        v = buf[i:i + n].decode()
        return (v[4:] if t == b"=" else v), i + n + 2
    if t in (b"*", b"~", b"%"):
        n = int(rest) * (2 if t == b"%" else 1)
        out = []
        for _ in range(max(n, 0)):
            got = parse(buf, i)
            if got is None:
                return None
            out.append(got[0])
            i = got[1]
        if t == b"%":
            return {"map": list(zip(out[0::2], out[1::2]))}, i
        return (None if n < 0 else out), i
    raise AssertionError(f"unexpected reply {buf[i - 40:i + 40]!r}")


class Raw:
    """A RESP connection whose replies come back as bytes or parsed."""

    def __init__(self, addr):
        self.s = socket.create_connection(addr, timeout=5)
        self.buf = b""

    def raw(self, *args):
        """The reply's bytes, as the server sent them."""
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        while True:
            got = parse(self.buf) if self.buf else None
            if got is not None:
                reply, self.buf = self.buf[:got[1]], self.buf[got[1]:]
                return reply
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d

    def call(self, *args):
        return parse(self.raw(*args))[0]


class RedisServer:
    """redis-server 7.0 on 127.0.0.1 and a free port, stopped by its pid."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="keel-conn-redis.")
        self.proc = None
        for _ in range(5):
            self.port = 20000 + random.randrange(10000)
            self.proc = subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                 "--appendonly", "no", "--dir", self.dir],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_for("redis-server", lambda: self.client().ping(), timeout=5)
                return
            except AssertionError:
                self.stop()
        raise AssertionError("redis-server did not start")

    def addr(self):
        return ("127.0.0.1", self.port)

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5,
                           decode_responses=True)

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Both:
    """One keel node and one redis-server, started for a case."""

    def __enter__(self):
        self.c = Cluster(n=1)
        self.r = None
        try:
            self.c.start_all()
            wait_for("a leader", lambda: self.c.leader(1) == 1)
            self.r = RedisServer()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        self.c.cleanup()
        if self.r:
            self.r.cleanup()

    def keel(self):
        return self.c.client(1)

    def taps(self):
        return Raw(self.c.addr(1)), Raw(self.r.addr())


def spec_files():
    """{full name: description} of every spec file."""
    out = {}
    for f in sorted(os.listdir(SPECS)):
        if f.endswith(".json"):
            with open(os.path.join(SPECS, f)) as fh:
                (name, d), = json.load(fh).items()
            full = f"{d['container']}|{name}" if "container" in d else name
            out[full.lower()] = d
    return out


# Commands Redis 7.0 has, asked about by byte-for-byte comparisons.
SAME_INFO = ["get", "set", "mset", "del", "exists", "getex", "ping", "keys", "scan", "expire",
             "incrbyfloat", "multi", "hello", "client|kill", "client|list", "command|info",
             "nosuch"]


@case
def command_info_is_redis_byte_for_byte():
    with Both() as b:
        k, r = b.taps()
        for proto in ("2", "3"):
            k.raw("HELLO", proto), r.raw("HELLO", proto)
            for name in SAME_INFO:
                mine, theirs = k.raw("COMMAND", "INFO", name), r.raw("COMMAND", "INFO", name)
                assert mine == theirs, f"RESP{proto} COMMAND INFO {name}:\n{mine}\n{theirs}"
            both = k.raw("COMMAND", "INFO", "get", "set")
            assert both == r.raw("COMMAND", "INFO", "get", "set")
        return f"{len(SAME_INFO)} commands, RESP2 and RESP3"


def without_summary(v):
    if isinstance(v, dict):
        return {"map": [(a, without_summary(x)) for a, x in v["map"] if a != "summary"]}
    if isinstance(v, list):
        return [without_summary(x) for x in v]
    return v


@case
def command_docs_is_redis_but_the_summaries():
    with Both() as b:
        k, r = Raw(b.c.addr(1)), Raw(b.r.addr())
        k.call("HELLO", "3"), r.call("HELLO", "3")
        names = ["get", "set", "getex", "expire", "mset", "getset", "scan", "hello", "echo"]
        for name in names:
            mine, theirs = k.call("COMMAND", "DOCS", name), r.call("COMMAND", "DOCS", name)
            assert without_summary(mine) == without_summary(theirs), f"DOCS {name}"
            (n1, d1), = mine["map"]
            assert n1 == name and dict(d1["map"])["summary"], f"{name} has a summary"
        # the RESP2 shape: a flat array of name, then the docs as a flat array
        k2, r2 = Raw(b.c.addr(1)), Raw(b.r.addr())
        mine, theirs = k2.call("COMMAND", "DOCS", "get"), r2.call("COMMAND", "DOCS", "get")
        assert [len(mine), mine[0], len(mine[1])] == [len(theirs), theirs[0], len(theirs[1])]
        assert mine[1][0::2] == theirs[1][0::2], (mine, theirs)
        assert k2.call("COMMAND", "DOCS", "nosuch") == r2.call("COMMAND", "DOCS", "nosuch")
        return f"{len(names)} commands"


@case
def command_count_list_and_docs_cover_every_spec_file():
    specs = spec_files()
    top = sorted(n for n in specs if "|" not in n)
    with Both() as b:
        k = b.keel()
        assert k.command_count() == len(top), (k.command_count(), len(top))
        assert sorted(k.execute_command("COMMAND LIST")) == sorted(specs)
        raw = Raw(b.c.addr(1))
        assert sorted(x[0] for x in raw.call("COMMAND")) == top
        docs = raw.call("COMMAND", "DOCS")
        assert sorted(docs[0::2]) == top
        assert docs[1::2][docs[0::2].index("get")][1] == specs["get"]["summary"]
        pat = k.execute_command("COMMAND LIST", "FILTERBY", "PATTERN", "client|*")
        assert sorted(pat) == sorted(n for n in specs if n.startswith("client|"))
        # an ACL category: keel lists the same of its commands as Redis does
        mine = set(k.execute_command("COMMAND LIST", "FILTERBY", "ACLCAT", "string"))
        theirs = set(b.r.client().execute_command("COMMAND LIST", "FILTERBY", "ACLCAT",
                                                  "string"))
        assert mine == theirs & set(specs), (mine ^ (theirs & set(specs)))
        return f"{len(top)} commands, {len(specs) - len(top)} subcommands"


GETKEYS = ["get a", "mset a 1 b 2", "mset a 1 b", "del a b c", "set k v GET", "rename a b",
           "getkeys", "ping", "nosuch a", "get", "get a b", "client kill x",
           "expire k 10 NX", "exists a b"]


@case
def command_getkeys_as_redis():
    with Both() as b:
        k, r = b.taps()
        for line in GETKEYS:
            args = ["COMMAND", "GETKEYS"] + (line.split() if line != "getkeys" else [])
            assert k.raw(*args) == r.raw(*args), line
        return f"{len(GETKEYS)} full commands"


@case
def hello_says_standalone():
    with Both() as b:
        mine = Raw(b.c.addr(1)).call("HELLO", "3")
        theirs = Raw(b.r.addr()).call("HELLO", "3")
        assert dict(mine["map"])["mode"] == dict(theirs["map"])["mode"] == "standalone"
        k, r = b.taps()
        for args in (["HELLO", "3", "FOO"], ["HELLO", "3", "SETNAME"], ["HELLO", "4"],
                     ["HELLO", "x"], ["HELLO", "2", "AUTH", "bob", "pw"],
                     ["HELLO", "2", "SETNAME", "a b"], ["HELLO", "2", "SETNAME", "x", "y"]):
            assert k.raw(*args) == r.raw(*args), args
        k.call("HELLO", "2", "AUTH", "default", "any", "SETNAME", "named-by-hello")
        assert k.call("CLIENT", "GETNAME") == "named-by-hello"


def fields(line):
    return [f.split("=", 1)[0] for f in line.strip().split(" ")]


def values(line):
    return dict(f.split("=", 1) for f in line.strip().split(" "))


@case
def client_list_has_redis_fields_in_order():
    with Both() as b:
        mine = Raw(b.c.addr(1)).call("CLIENT", "INFO")
        theirs = Raw(b.r.addr()).call("CLIENT", "INFO")
        assert fields(mine) == fields(theirs) + ["lib-name", "lib-ver"], (mine, theirs)
        # the values keel has are true ones
        a, other = Raw(b.c.addr(1)), b.keel()
        a.call("HELLO", "3")
        a.call("CLIENT", "SETNAME", "worker-7")
        me = a.call("CLIENT", "ID")
        a.call("MULTI"), a.call("SET", "k", "v"), a.call("INCR", "n")
        v, = other.execute_command("CLIENT LIST", "ID", me)
        assert v["id"] == str(me) and v["name"] == "worker-7" and v["resp"] == "3", v
        assert v["multi"] == "2" and "x" in v["flags"] and v["cmd"] == "incr", v
        assert int(v["fd"]) > 0 and v["db"] == "0" and v["laddr"] == "%s:%d" % b.c.addr(1)
        a.call("EXEC")
        time.sleep(1.1)
        v, = other.execute_command("CLIENT LIST", "ID", me)
        assert v["multi"] == "-1" and v["flags"] == "N" and v["cmd"] == "exec", v
        assert int(v["idle"]) >= 1 and int(v["age"]) >= 1, v
        listed = Raw(b.c.addr(1)).call("CLIENT", "LIST").splitlines()
        assert len(listed) == 3 and all(fields(x) == fields(mine) for x in listed), listed
        v, = other.execute_command("CLIENT LIST", "ID", other.client_id())
        assert v["cmd"] == "client|list", v


@case
def client_setinfo_shows_in_list_and_info():
    with Both() as b:
        k, other = b.keel(), b.keel()
        assert k.execute_command("CLIENT", "SETINFO", "LIB-NAME", "redis-py") in ("OK", True)
        k.execute_command("CLIENT", "SETINFO", "lib-ver", "4.3.4")
        v = k.client_info()
        assert v["lib-name"] == "redis-py" and v["lib-ver"].strip() == "4.3.4", v
        v, = other.execute_command("CLIENT LIST", "ID", k.client_id())
        assert v["lib-name"] == "redis-py", v
        errors = {("LIB-NAME", "a b"): "LIB-NAME cannot contain spaces, newlines or special "
                                        "characters.",
                  ("lib-ver", "1\n2"): "lib-ver cannot contain spaces, newlines or special "
                                        "characters.",
                  ("lib-bogus", "x"): "Unrecognized option 'lib-bogus'"}
        for (attr, val), want in errors.items():
            try:
                k.execute_command("CLIENT", "SETINFO", attr, val)
                raise AssertionError(f"SETINFO {attr} {val!r} was accepted")
            except redis.ResponseError as e:
                assert str(e) == want, str(e)
        assert k.client_info()["lib-name"] == "redis-py"
        k.execute_command("CLIENT", "SETINFO", "lib-name", "")
        assert k.client_info()["lib-name"] == ""


def closed(conn):
    """True if the server closed conn (a PING gets no reply)."""
    try:
        conn.call("PING")
        return False
    except (EOFError, OSError):
        return True


@case
def client_kill_closes_connections():
    with Both() as b:
        killer = Raw(b.c.addr(1))
        victim = Raw(b.c.addr(1))
        vid = victim.call("CLIENT", "ID")
        assert killer.call("CLIENT", "KILL", "ID", str(vid)) == 1
        assert closed(victim)
        assert killer.call("CLIENT", "KILL", "ID", str(vid)) == 0
        # the old form, by address, and the new one with ADDR
        a, a2 = Raw(b.c.addr(1)), Raw(b.c.addr(1))
        addr = values(a.call("CLIENT", "INFO"))["addr"]
        assert killer.call("CLIENT", "KILL", addr) == ("+", "OK")
        assert closed(a)
        assert killer.call("CLIENT", "KILL", addr) == ("-", "ERR No such client")
        addr = values(a2.call("CLIENT", "INFO"))["addr"]
        assert killer.call("CLIENT", "KILL", "ADDR", addr, "SKIPME", "yes") == 1
        assert closed(a2)
        # LADDR and USER match every connection here: SKIPME spares the caller
        others = [Raw(b.c.addr(1)) for _ in range(3)]
        for o in others:
            o.call("PING")
        counter = b.keel()
        n = len(counter.client_list())  # its own connection is one of them
        laddr = "%s:%d" % b.c.addr(1)
        assert killer.call("CLIENT", "KILL", "LADDR", laddr, "USER", "default") == n - 1
        assert all(closed(o) for o in others) and not closed(killer)
        me = killer.call("CLIENT", "ID")
        assert killer.call("CLIENT", "KILL", "ID", str(me)) == 0
        assert killer.call("CLIENT", "KILL", "ID", str(me), "SKIPME", "no") == 1
        assert closed(killer)
        return f"LADDR closed {n - 1}"


# Replies that are the same on every Redis: errors and fixed answers.
SAME = ["CLIENT FOO", "CLIENT KILL 1.2.3.4:5", "CLIENT KILL ID 0", "CLIENT KILL ID abc",
        "CLIENT KILL TYPE foo", "CLIENT KILL USER bob", "CLIENT KILL SKIPME maybe",
        "CLIENT KILL ADDR", "CLIENT KILL ID 99999", "CLIENT LIST TYPE foo", "CLIENT LIST TYPE",
        "CLIENT LIST ID abc", "CLIENT LIST ID 99999", "CLIENT SETNAME a_b", "CLIENT SETNAME",
        "CLIENT GETNAME", "CLIENT NO-EVICT maybe", "CLIENT NO-EVICT on", "CLIENT NO-EVICT OFF",
        "CLIENT ID x", "CLIENT", "COMMAND FOO", "COMMAND INFO get|x", "COMMAND INFO client|x",
        "COMMAND LIST FILTERBY foo x", "COMMAND LIST FILTERBY pattern",
        "COMMAND LIST FILTERBY aclcat nosuch", "COMMAND LIST FILTERBY module x",
        "COMMAND LIST x", "COMMAND COUNT x", "CONFIG FOO", "CONFIG"]


@case
def client_and_command_errors_are_redis():
    with Both() as b:
        k, r = b.taps()
        for line in SAME:
            args = line.split()
            assert k.raw(*args) == r.raw(*args), line
        for name in ("a b", "x\ny", "\x01"):
            assert k.raw("CLIENT", "SETNAME", name) == r.raw("CLIENT", "SETNAME", name)
        assert k.raw("CLIENT", "GETNAME") == r.raw("CLIENT", "GETNAME") == b"$3\r\na_b\r\n"
        return f"{len(SAME) + 4} replies"


def main():
    if not shutil.which("redis-server"):
        print("connection: 0 passed, 1 failed (redis-server is not installed)")
        return 1
    return run_suite("connection", (command_info_is_redis_byte_for_byte,
                                    command_docs_is_redis_but_the_summaries,
                                    command_count_list_and_docs_cover_every_spec_file,
                                    command_getkeys_as_redis, hello_says_standalone,
                                    client_list_has_redis_fields_in_order,
                                    client_setinfo_shows_in_list_and_info,
                                    client_kill_closes_connections,
                                    client_and_command_errors_are_redis),
                     (SERVER,))


if __name__ == "__main__":
    sys.exit(main())
