#!/usr/bin/env python3
"""tests/unit/kv_edges.py — writes tests/unit/kv_edges.h: the edge-value
cases of test_kv.c (every integer argument of the string, expiry, scan and
database commands at 0, +-1, INT64_MIN/MAX, 2^31, 2^32, the 512 MiB string
limit and past the int64 range), each with the reply a real redis-server
gives. Run it again against a redis-server when a case is added:

    redis-server --port 21379 --save '' & python3 tests/unit/kv_edges.py 21379

Every key a case leaves with a short expiry is one no later case reads, so
the replies do not depend on how fast the cases run; a SCAN's reply is
recorded as "*2 (scan)" (its keys depend on the hash table: test_kv checks
it is a two-element array). The server is emptied (FLUSHALL) first."""
import socket
import sys
def raw_reply():
    line=f.readline()
    t=line[:1]
    if t in b'+-:': return line
    if t==b'$':
        n=int(line[1:-2])
        if n<0: return line
        return line+f.read(n+2)
    if t==b'*':
        n=int(line[1:-2]); out=line
        for _ in range(max(n,0)): out+=raw_reply()
        return out
    raise Exception(line)
def call(words):
    args=[b'' if w=='""' else w.encode() for w in words.split(' ')]
    msg=b'*%d\r\n'%len(args)+b''.join(b'$%d\r\n%s\r\n'%(len(a),a) for a in args)
    s.sendall(msg); return raw_reply()
def c_lit(b):
    o=''
    for c in b.decode('latin1'):
        o+= c if 32<=ord(c)<127 and c not in '"\\' else {'\r':'\\r','\n':'\\n','"':'\\"','\\':'\\\\'}.get(c,'\\x%02x'%ord(c))
    return o
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
f = s.makefile("rb")
info = call("INFO server").decode()
version = info.split("redis_version:")[1].split("\r")[0]
call("FLUSHALL")
I64MAX="9223372036854775807"; I64MIN="-9223372036854775808"
edges=["0","1","-1",I64MAX,I64MIN,"9223372036854775806","-9223372036854775807","2147483647","2147483648","-2147483648","-2147483649","4294967295","4294967296","-4294967296","536870912","536870913","9223372036854775","9223372036854776","-9223372036854775","-9223372036854776","9223372036854775808","-9223372036854775809","01","+1"]
cmds=["SET foo bar","APPEND foo 0123456789","SETRANGE foo 536870911 xx","SETRANGE foo 536870910 xxx","SETRANGE foo 536870900 0123456789012345678901234567890"]
for i,e in enumerate(edges):
    k="k%d"%i
    cmds += ["SETRANGE foo %s x"%e, "SETRANGE foo %s \"\""%e, "SETRANGE nokey%s %s \"\""%(k,e),
             "GETRANGE foo %s %s"%(e,e), "GETRANGE foo 0 %s"%e, "GETRANGE foo %s -1"%e, "GETRANGE foo %s 5"%e, "GETRANGE nokey %s 0"%e,
             "SCAN 0 COUNT %s"%e, "INCRBY n%s %s"%(k,e), "DECRBY d%s %s"%(k,e), "INCRBY n%s 1"%k, "DECRBY d%s 1"%k, "INCRBY n%s -1"%k,
             "SET big%s 9223372036854775807"%k, "INCRBY big%s %s"%(k,e), "SET small%s -9223372036854775808"%k, "DECRBY small%s %s"%(k,e),
             "EXPIRE nokey %s"%e, "PEXPIRE nokey %s"%e, "EXPIREAT nokey %s"%e,"PEXPIREAT nokey %s"%e,
             "SET e%s v"%k, "EXPIRE e%s %s"%(k,e), "EXISTS e%s"%k,
             "SET p%s v"%k, "PEXPIRE p%s %s"%(k,e), "EXISTS p%s"%k,
             "SET ea%s v"%k, "EXPIREAT ea%s %s"%(k,e), "EXISTS ea%s"%k,
             "SET pa%s v"%k, "PEXPIREAT pa%s %s"%(k,e), "EXISTS pa%s"%k,
             "SET sx%s v EX %s"%(k,e), "SET spx%s v PX %s"%(k,e), "SET sxa%s v EXAT %s"%(k,e), "SET spa%s v PXAT %s"%(k,e),
             "SETEX se%s %s v"%(k,e), "PSETEX sp%s %s v"%(k,e),
             "SET g%s v"%k, "GETEX g%s EX %s"%(k,e), "GETEX g%s PX %s"%(k,e), "GETEX g%s EXAT %s"%(k,e), "GETEX g%s PXAT %s"%(k,e),
             "SELECT %s"%e, "MOVE foo %s"%e, "SWAPDB %s 0"%e, "SWAPDB 0 %s"%e]
cmds += ["GET foo","INCRBYFLOAT f inf","INCRBYFLOAT f -inf","INCRBYFLOAT f nan","INCRBYFLOAT f +inf","INCRBYFLOAT f Infinity","INCRBYFLOAT f 1e308","INCRBYFLOAT f 1e-400","INCRBYFLOAT f 1.1e4932","INCRBYFLOAT f 1e4932","INCRBYFLOAT f 1e4932", "SET g 1e4932","INCRBYFLOAT g 1e4932","INCRBYFLOAT g -1e4932","GET g","SET h inf","INCRBYFLOAT h 0","SET h2 nan","INCRBYFLOAT h2 0", "INCRBYFLOAT h3 \"\"", "INCRBYFLOAT h4 -0", "INCRBYFLOAT h5 0x10", "INCRBYFLOAT h6 1e", "SET big 9223372036854775807", "INCR big", "DECR big", "SET small -9223372036854775808","DECR small","INCR small","INCRBY small "+I64MAX, "GET small", "SCAN 18446744073709551615", "SCAN 18446744073709551616", "SCAN -1 COUNT 1","SCAN \"\"","SCAN \" 0\"","APPEND foo \"\"","SET sz 1","SETRANGE sz 536870911 \"\"","SETRANGE sz 536870912 \"\"","STRLEN sz"]
out=[]


def chunks(lit, width=60):
    # a C literal cut into pieces of at most width (never inside an escape)
    parts, cur, i = [], "", 0
    while i < len(lit):
        n = 4 if lit[i:i + 2] == "\\x" else 2 if lit[i] == "\\" else 1
        if len(cur) + n > width:
            parts.append(cur)
            cur = ""
        cur += lit[i:i + n]
        i += n
    return parts + [cur]


def case_line(cmd, reply):
    one = '\t{"%s", "%s"},' % (cmd, reply)
    if len(one) + 7 <= 100:  # a tab is 8 columns
        return one
    lines = ['\t{"%s",' % cmd]
    for part in chunks(reply):
        lines.append('\t "%s"' % part)
    return "\n".join(lines) + "},"

for c in cmds:
    r=call(c)
    if c.startswith("SCAN") and r.startswith(b'*2'): r=b'*2 (scan)'  # keys vary
    out.append(case_line(c_lit(c.encode()), c_lit(r)))
    if c.startswith("SELECT") and r==b"+OK\r\n":
        call("SELECT 0"); out.append('\t{"SELECT 0", "+OK\\r\\n"},')
HEAD = """/* tests/unit/kv_edges.h — written by tests/unit/kv_edges.py: edge values of
 * every integer argument, each with redis-server %s's reply, in order (the
 * cases share a keyspace). Included by test_kv.c. */
"""
with open(sys.argv[2] if len(sys.argv) > 2 else "tests/unit/kv_edges.h", "w") as fh:
    fh.write(HEAD % version)
    fh.write("static const struct edge_case {\n\tconst char *cmd, *reply;\n} edge_cases[] = {\n")
    fh.write("\n".join(out) + "\n};\n")
