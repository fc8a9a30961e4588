#!/usr/bin/env python3
"""tools/mutagen.py - generated mutants: how much of the safety-critical
code the fast suites would notice if it were wrong.

For each C file of DEFAULT_FILES (or those given) it generates small
mutants of the code (never of comments, string or char literals,
preprocessor lines, or assertions):

  rel-boundary   < <-> <=, > <-> >=            (a comparison loosened/tightened)
  rel-flip       < -> >, <= -> >=, > -> <, >= -> <=
  rel-negate     == <-> !=
  bound+1/-1     an integer literal compared against moved by one
  bound-drop     a `+ 1` or `- 1` dropped
  cond-left      `a && b` -> `b`, `a || b` -> `b` (the left condition dropped)
  cond-right     `a && b` -> `a`, `a || b` -> `a` (the right condition dropped)
  ret            an early `return ...;` in the body of an if/else removed

Each is built in a private copy of the tree and run against the fast suites
of its folder (SUITES, cheapest first, stopping at the first that fails):
a failing suite, an assertion, a sanitizer report or a timeout kills it; a
mutant that does not build is stillborn and not counted. Mutants listed in
tests/mutants/equivalent.txt are not run and count as equivalent; entries
that no longer match any mutant are reported.

A mutant's id is a hash of its file, its original line's text (stripped),
the operator, its index among that operator's mutants on the line, and how
many identical lines come before it in the file: it survives unrelated
edits.

  tools/mutagen.py [--list | --sample] [--show ID] [FILE...]
                       (--sample lists the mutants a run would run)
  tools/mutagen.py --self-test     (the generator on small sources)
  tools/mutagen.py --stale         (fails if an entry of equivalent.txt names
                       no mutant of today's source; make test runs it)
  tools/mutagen.py --remap REV     (equivalent.txt's entries whose lines were
                       edited since REV follow their mutant: the same change
                       in the same context, field paths cut to their last
                       member and white space dropped; those with none are
                       listed, to be looked at again)
  MUTANTS_MAX=n        mutants run per file (sampled; default 40, 0: all)
  MUTANTS_SEED=s       which ones are sampled (default 1; a mutant is in the
                       sample by the hash of its id with s, so edits elsewhere
                       and entries of equivalent.txt do not move the sample)
  MUTANTS_IDS="a b"    run just these mutants (of the files given or default)
  MUTANTS_FILES="a b"  restrict to these files (as the arguments do)
  MUTANTS_JOBS=n       parallel workers (default 2)
  MUTANTS_SIM_SEEDS=n  Raft simulator seeds per mutant (default 300)
  MUTANTS_NSIM_SEEDS=n whole-node simulator seeds per mutant (default 60: 1-10,
                       then 11-60), after its scripted scenarios
  MUTANTS_MIN_RATE=p   exit 1 if a folder's kill rate is under p % (default 95)

Prints one line per mutant and a table per file and per folder; the exit
status is decided after the whole report is printed.
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

STOPPING = threading.Event()
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EQUIV = "tests/mutants/equivalent.txt"

SERVER_FILES = ["requests.c", "node.c", "group.c", "members.c", "replication.c", "entry.c",
                "persist.c", "snapshots.c", "clients.c", "migrate.c", "retry.c",
                "conform.c", "cluster.c", "shards.c", "fanout.c"]

# ---------------------------------------------------------------- suites
# name -> (targets to build, command, timeout in seconds). Commands run in
# the private tree; {sim}, {simq} and {nsim} are seed counts.
SUITES = {
    "test_codec": (["build/asan/unit/test_codec"], ["build/asan/unit/test_codec"], 60),
    "test_storage": (["build/asan/unit/test_storage"], ["build/asan/unit/test_storage"], 120),
    "test_journal": (["build/asan/unit/test_journal"], ["build/asan/unit/test_journal"], 120),
    "test_kv": (["build/asan/unit/test_kv"], ["build/asan/unit/test_kv"], 120),
    "test_slots": (["build/asan/unit/test_slots"], ["build/asan/unit/test_slots"], 60),
    "test_frame": (["build/asan/unit/test_frame"], ["build/asan/unit/test_frame"], 60),
    "test_replica": (["build/asan/unit/test_replica"], ["build/asan/unit/test_replica"], 120),
    "test_snapfork": (["build/asan/unit/test_snapfork"], ["build/asan/unit/test_snapfork"], 120),
    "test_raft": (["build/asan/unit/test_raft"], ["build/asan/unit/test_raft"], 60),
    "scenario": (["build/asan/scenario"], ["build/asan/scenario", "tests/sim/scenarios"], 60),
    # the first seeds alone first: most mutants the simulator kills die there
    "sim-quick": (["build/asan/sim"], ["build/asan/sim", "--seeds", "{simq}", "--first", "1"],
                  120),
    "sim": (["build/asan/sim"], ["build/asan/sim", "--seeds", "{simrest}", "--first",
                                 "{simnext}"], 600),
    # the whole-node simulator (tests/nsim/): its scripted scenarios, its
    # first seeds, then the rest
    "nsim-scenario": (["build/asan/nsim"], ["build/asan/nsim", "--scenarios"], 120),
    "nsim-quick": (["build/asan/nsim"], ["build/asan/nsim", "--seeds", "{nsimq}", "--first",
                                         "1"], 300),
    "nsim": (["build/asan/nsim"], ["build/asan/nsim", "--seeds", "{nsimrest}", "--first",
                                   "{nsimnext}"], 600),
    # seeds that move slot ranges and add shards (tests/nsim/reshard.c)
    "nsim-sharded": (["build/asan/nsim"], ["build/asan/nsim", "--seeds", "{nsimn}", "--first",
                                           "1", "--sharded"], 600),
    # the Redis Cluster protocol's routing and replies on a sharded node,
    # checked against a model (tests/fuzz/fuzz_cluster.c): a fixed burst
    # from the seed corpus, new inputs to a scratch folder
    "fuzz-cluster": (["build/fuzz/fuzz_cluster"],
                     ["sh", "-c", "d=$(mktemp -d) && build/fuzz/fuzz_cluster -seed=1 -runs=50000 "
                      "-max_len=4096 -dict=tests/fuzz/cluster.dict $d tests/fuzz/corpus/cluster; "
                      "rc=$?; rm -rf $d; exit $rc"], 300),
    # what the keyspace commands over the shards read (tests/fuzz/fuzz_fanout.c)
    "fuzz-fanout": (["build/fuzz/fuzz_fanout"],
                    ["sh", "-c", "d=$(mktemp -d) && build/fuzz/fuzz_fanout -seed=1 -runs=200000 "
                     "-max_len=4096 -dict=tests/fuzz/fanout.dict $d tests/fuzz/corpus/fanout; "
                     "rc=$?; rm -rf $d; exit $rc"], 300),
    # the real-disk fault suite, without its case that starts a keel-server
    "faults": (["build/asan/faults/wal_driver", "build/asan/tools/keel-wal",
                "build/faults/shim.so"], ["tests/faults/run.sh", "build/asan"], 300),
}

# Which suites run for a file, cheapest first: the most specific rule wins
# (a file's own entry, else its folder's).
SUITES_FOR = {
    "src/raft/codec.c": ["test_codec", "scenario", "sim-quick", "sim", "nsim-quick", "nsim"],
    "src/raft/config.c": ["test_codec", "test_raft", "scenario", "sim-quick", "sim", "nsim-quick", "nsim"],
    "src/raft/": ["test_raft", "scenario", "sim-quick", "sim", "nsim-quick", "nsim"],
    "src/storage/": ["test_storage", "sim-quick", "sim", "faults", "nsim-quick", "nsim"],
    "src/storage/committer.c": ["test_storage", "test_journal", "faults", "nsim-scenario",
                                "nsim-quick", "nsim"],
    "src/storage/journal.c": ["test_journal", "nsim-sharded"],
    "src/server/persist.c": ["sim-quick", "sim", "nsim-scenario", "nsim-quick", "nsim"],
    "src/server/entry.c": ["test_frame", "nsim-scenario", "nsim-quick", "nsim"],
    "src/server/": ["nsim-scenario", "nsim-quick", "nsim"],
    "src/server/snapshots.c": ["test_snapfork", "nsim-scenario", "nsim-quick", "nsim"],
    "src/kv/session.c": ["test_kv", "nsim-scenario", "nsim-quick", "nsim"],
    "src/kv/slots.c": ["test_slots", "nsim-scenario", "nsim-sharded"],
    "src/server/migrate.c": ["nsim-scenario", "nsim-sharded"],
    "src/server/conform.c": ["nsim-scenario", "nsim-sharded"],
    "src/server/retry.c": ["nsim-scenario", "nsim-sharded"],
    "src/server/cluster.c": ["fuzz-cluster", "nsim-scenario", "nsim-sharded"],
    "src/server/fanout.c": ["fuzz-fanout", "nsim-scenario"],
    "src/kv/keys.c": ["test_kv", "test_slots", "nsim-scenario", "nsim-quick"],
    "src/replica/": ["test_replica", "nsim-scenario", "nsim-quick", "nsim"],
}


def default_files():
    files = []
    for folder in ["src/raft", "src/storage"]:
        files += sorted(f"{folder}/{f}" for f in os.listdir(os.path.join(TOP, folder))
                        if f.endswith(".c"))
    files += [f"src/server/{f}" for f in SERVER_FILES]
    files += ["src/kv/session.c", "src/kv/slots.c", "src/kv/keys.c"]
    files += sorted(f"src/replica/{f}" for f in os.listdir(os.path.join(TOP, "src/replica"))
                    if f.endswith(".c"))
    return files


def suites_for(path):
    if path in SUITES_FOR:
        return SUITES_FOR[path]
    return SUITES_FOR.get(os.path.dirname(path) + "/", [])


# ---------------------------------------------------------------- tokens
PUNCT = ["<<=", ">>=", "...", "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&",
         "||", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "##"]
TOKEN_RE = re.compile(r"""
    (?P<ws>[ \t\r\n\f\v]+)
  | (?P<bcom>/\*.*?\*/)
  | (?P<lcom>//[^\n]*)
  | (?P<str>"(?:\\.|[^"\\\n])*")
  | (?P<chr>'(?:\\.|[^'\\\n])*')
  | (?P<num>(?:0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)[uUlLfF]*)
  | (?P<id>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<punct>""" + "|".join(re.escape(p) for p in PUNCT) + r"""|[^\sA-Za-z_0-9])
""", re.X | re.S)
ASSERTS = {"assert", "KEEL_ASSERT", "keel_assert", "keel_assert_fail", "KEEL_STATIC_ASSERT",
           "static_assert", "_Static_assert", "KEEL_UNREACHABLE"}
ASSIGN = {"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="}
REL = {"<": [("rel-boundary", "<="), ("rel-flip", ">")],
       "<=": [("rel-boundary", "<"), ("rel-flip", ">=")],
       ">": [("rel-boundary", ">="), ("rel-flip", "<")],
       ">=": [("rel-boundary", ">"), ("rel-flip", "<=")],
       "==": [("rel-negate", "!=")],
       "!=": [("rel-negate", "==")]}


class Tok:
    __slots__ = ("kind", "text", "start", "end", "line")

    def __init__(self, kind, text, start, end, line):
        self.kind, self.text, self.start, self.end, self.line = kind, text, start, end, line


def tokenize(text):
    """The code tokens of a C file with their offsets and lines; comments,
    preprocessor lines and literals' insides are never mutated (string and
    char literals are kept as single tokens so operands stay whole)."""
    toks, i, line, n = [], 0, 1, len(text)
    line_start = True
    while i < n:
        if line_start:
            j = i
            while j < n and text[j] in " \t":
                j += 1
            if j < n and text[j] == "#":  # a preprocessor line, with continuations
                k = j
                while True:
                    e = text.find("\n", k)
                    if e < 0:
                        e = n
                        break
                    if text[e - 1] == "\\":
                        k = e + 1
                        continue
                    break
                line += text.count("\n", i, e)
                i = e
                continue
        m = TOKEN_RE.match(text, i)
        if not m:
            raise ValueError(f"cannot tokenize at line {line}")
        kind, tok = m.lastgroup, m.group()
        if kind not in ("ws", "bcom", "lcom"):
            toks.append(Tok(kind, tok, i, m.end(), line))
        nl = tok.count("\n")
        line += nl
        if nl:
            line_start = True
        elif kind != "ws":
            line_start = False
        i = m.end()
    return toks


def assert_mask(toks):
    """True for every token inside an assertion's parentheses."""
    mask = [False] * len(toks)
    i = 0
    while i < len(toks):
        if toks[i].kind == "id" and toks[i].text in ASSERTS:
            j, depth = i + 1, 0
            while j < len(toks):
                if toks[j].text == "(":
                    depth += 1
                elif toks[j].text == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            for k in range(i, min(j + 1, len(toks))):
                mask[k] = True
            i = j
        i += 1
    return mask


def is_operand_end(t):
    return t.kind in ("id", "num", "str", "chr") or t.text in (")", "]")


def operand_left(toks, i, stops):
    """Index of the first token of the operand left of the operator at i."""
    depth, j = 0, i - 1
    while j >= 0:
        t = toks[j].text
        if t in (")", "]"):
            depth += 1
        elif t in ("(", "["):
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and (t in stops or t in (",", ";", "{", "}", "?", ":", "return")
                             or t in ASSIGN):
            break
        j -= 1
    return j + 1


def operand_right(toks, i, stops):
    """Index just past the operand right of the operator at i."""
    depth, j = 0, i + 1
    while j < len(toks):
        t = toks[j].text
        if t in ("(", "["):
            depth += 1
        elif t in (")", "]"):
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and (t in stops or t in (",", ";", "{", "}", "?", ":") or t in ASSIGN):
            break
        j += 1
    return j


def moved_literal(text, delta):
    m = re.fullmatch(r"(0[xX][0-9a-fA-F]+|[0-9]+)([uUlL]*)", text)
    if not m:
        return None  # a float or an octal: left alone
    digits, suffix = m.groups()
    if digits.lower().startswith("0x"):
        v = int(digits, 16) + delta
        return None if v < 0 else hex(v) + suffix
    if len(digits) > 1 and digits.startswith("0"):
        return None
    v = int(digits) + delta
    if v < 0:
        return None if suffix else f"({v})"
    return str(v) + suffix


def if_bodies(toks):
    """Indices of `return` tokens that are an early return: the statement
    of a braceless if/else body, or directly in the braces of one."""
    out = []
    parens = []  # for each open '(': was it an if's condition
    braces = []  # for each open '{': is it an if/else body
    if_close = -1
    for i, t in enumerate(toks):
        x = t.text
        if x == "(":
            parens.append(i > 0 and toks[i - 1].text == "if")
        elif x == ")":
            if parens and parens.pop():
                if_close = i
        elif x == "{":
            braces.append(i > 0 and (i - 1 == if_close or toks[i - 1].text == "else"))
        elif x == "}":
            if braces:
                braces.pop()
        elif x == "return":
            prev = toks[i - 1].text if i > 0 else ""
            if (i - 1 == if_close) or prev == "else" or (prev in (";", "{", "}") and braces
                                                         and braces[-1] and len(braces) > 1):
                out.append(i)
    return out


class Mutant:
    __slots__ = ("id", "file", "line", "op", "start", "end", "repl", "desc", "result")

    def __init__(self, file, line, op, start, end, repl, desc):
        self.file, self.line, self.op = file, line, op
        self.start, self.end, self.repl, self.desc = start, end, repl, desc
        self.id = None
        self.result = None


def generate(path, text):
    toks = tokenize(text)
    masked = assert_mask(toks)
    muts = []

    def add(i, op, start, end, repl, desc):
        if not masked[i]:
            muts.append(Mutant(path, toks[i].line, op, start, end, repl, desc))

    for i, t in enumerate(toks):
        x = t.text
        if t.kind == "punct" and x in REL:
            for op, new in REL[x]:
                add(i, op, t.start, t.end, new, f"{x} -> {new}")
            # a literal compared against, on either side
            for j in (i - 1, i + 1):
                if 0 <= j < len(toks) and toks[j].kind == "num":
                    nb = toks[j - 1].text if j == i - 1 and j > 0 else None
                    na = toks[j + 1].text if j == i + 1 and j + 1 < len(toks) else None
                    if nb in ("*", "/", "%", "+", "-", "<<", ">>", "&", "|", "^") or \
                            na in ("*", "/", "%", "+", "-", "<<", ">>", "&", "|", "^"):
                        continue  # part of a larger operand
                    for d in (1, -1):
                        new = moved_literal(toks[j].text, d)
                        if new is not None:
                            add(i, "bound%+d" % d, toks[j].start, toks[j].end, new,
                                f"{toks[j].text} -> {new}")
        elif t.kind == "punct" and x in ("+", "-") and i + 1 < len(toks) and i > 0:
            nxt = toks[i + 1]
            after = toks[i + 2].text if i + 2 < len(toks) else ""
            if (nxt.text == "1" and is_operand_end(toks[i - 1]) and toks[i - 1].text != "return"
                    and after not in ("*", "/", "%", "[", "(", ".", "->", "++", "--")):
                add(i, "bound-drop", toks[i - 1].end, nxt.end, "", f"{x} 1 dropped")
        elif t.kind == "punct" and x in ("&&", "||"):
            stops = {"&&", "||"} if x == "&&" else {"||"}
            lo = operand_left(toks, i, stops)
            hi = operand_right(toks, i, stops)
            if lo < i and hi > i + 1:
                add(i, "cond-left", toks[lo].start, toks[i + 1].start, "",
                    f"left of {x} dropped")
                add(i, "cond-right", toks[i - 1].end, toks[hi - 1].end, "",
                    f"right of {x} dropped")
    for i in if_bodies(toks):
        j = i
        while j < len(toks) and toks[j].text != ";":
            j += 1
        if j < len(toks):
            add(i, "ret", toks[i].start, toks[j].end, ";", "early return removed")

    # stable ids; identical mutated texts kept once
    lines = text.split("\n")
    dup_before, seen_line = {}, {}
    for no, ln in enumerate(lines, 1):
        s = ln.strip()
        dup_before[no] = seen_line.get(s, 0)
        seen_line[s] = dup_before[no] + 1
    muts.sort(key=lambda m: (m.start, m.op))
    occ, out, seen = {}, [], set()
    for m in muts:
        key = (m.line, m.op)
        k = occ.get(key, 0)
        occ[key] = k + 1
        src = lines[m.line - 1].strip()
        h = hashlib.sha1(f"{path}\0{src}\0{m.op}\0{k}\0{dup_before[m.line]}".encode())
        m.id = h.hexdigest()[:10]
        # the same change reached two ways (`a || b || c` without b)
        sig = hashlib.sha1(mutated(text, m).encode()).digest()
        if sig in seen:
            continue
        seen.add(sig)
        out.append(m)
    return out


def mutated(text, m):
    return text[:m.start] + m.repl + text[m.end:]


# ---------------------------------------------------------------- equivalents
def read_equivalents():
    eq = {}
    path = os.path.join(TOP, EQUIV)
    if not os.path.exists(path):
        return eq
    with open(path) as f:
        for no, ln in enumerate(f, 1):
            s = ln.strip()
            if not s or s.startswith("#"):
                continue
            parts = s.split(None, 2)
            if len(parts) < 2 or not re.fullmatch(r"[0-9a-f]{10}", parts[0]):
                print(f"{EQUIV}:{no}: not `<id> <file>:<line> <operator> - <reason>`")
                continue
            eq[parts[0]] = (parts[1].split(":")[0], s)
    return eq


# ---------------------------------------------------------------- remap
CHAIN_RE = re.compile(r"\b[A-Za-z_]\w*(?:(?:->|\.)[A-Za-z_]\w*)+")


def change_key(text, m):
    """A mutant's change in its context (80 characters either side, white
    space dropped, each access path cut to its last member: `s->g->r` and
    `g->r` are both `r`): the same change after a refactor that moved state
    between structs or reflowed the lines."""
    def cut(s):
        return "".join(CHAIN_RE.sub(lambda x: re.split(r"->|\\.", x.group(0))[-1], s).split())
    return (m.op, cut(text[max(0, m.start - 400):m.start])[-80:], cut(text[m.start:m.end]),
            m.repl, cut(text[m.end:m.end + 400])[:80])


def loose_key(text, m):
    """change_key's fallback: the change within its statement (from the last
    `;`, `{` or `}` before it to the next after it), single-letter names
    made one (a function that took `s` and now takes `g`)."""
    lo = max(text.rfind(ch, 0, m.start) for ch in ";{}") + 1
    his = [h for h in (text.find(ch, m.end) for ch in ";{}") if h >= 0]
    hi = min(his) if his else len(text)

    def cut(s):
        s = CHAIN_RE.sub(lambda x: re.split(r"->|\\.", x.group(0))[-1], s)
        return "".join(re.sub(r"\b[A-Za-z]\b", "I", s).split())
    return (m.op, cut(text[lo:m.start]), cut(text[m.start:m.end]), m.repl, cut(text[m.end:hi]))


def check_stale():
    """make test's check that every entry of equivalent.txt still names a
    mutant of today's source: an edited line gives its mutants new ids, and
    an entry left behind would let its mutant run unjudged (--remap)."""
    ids = {m.id for f in default_files() for m in generate(f, open(os.path.join(TOP, f)).read())}
    eq = read_equivalents()
    bad = [s for i, (f, s) in eq.items() if i not in ids]
    for s in bad:
        print(f"{EQUIV}: no mutant has this id now (tools/mutagen.py --remap REV): {s}")
    print(f"equivalents: {len(eq) - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


def remap(rev):
    """Rewrites equivalent.txt's entries that no longer match a mutant (their
    lines were edited) to the mutant of today's source that makes the same
    change, matched by change_key and by order within a file; lists those
    it cannot match. Files are looked up by name in today's list of files,
    so an entry follows a file moved to another folder (one of that name),
    and a function moved to another file."""
    path = os.path.join(TOP, EQUIV)
    lines = open(path).read().split("\n")
    today = {f: open(os.path.join(TOP, f)).read() for f in default_files()}
    now = {f: generate(f, x) for f, x in today.items()}
    ids = {m.id for ms in now.values() for m in ms}
    by_base = {}
    for f in today:
        by_base.setdefault(os.path.basename(f), []).append(f)
    cache, moved, lost = {}, 0, []
    for i, ln in enumerate(lines):
        parts = ln.split(None, 2)
        if len(parts) < 3 or not re.fullmatch(r"[0-9a-f]{10}", parts[0]) or parts[0] in ids:
            continue
        old_file = parts[1].split(":")[0]
        if old_file not in cache:
            try:
                src = subprocess.run(["git", "-C", TOP, "show", f"{rev}:{old_file}"], check=True,
                                     capture_output=True, text=True).stdout
            except subprocess.CalledProcessError:
                src = None
            cache[old_file] = (src, generate(old_file, src) if src is not None else [])
        src, olds = cache[old_file]
        old = next((m for m in olds if m.id == parts[0]), None)
        cands = [old_file] if old_file in today else by_base.get(os.path.basename(old_file), [])
        if old is None or len(cands) != 1:
            lost.append(ln)
            continue
        for keyf in (change_key, loose_key):
            key = keyf(src, old)
            same_old = [m for m in olds if keyf(src, m) == key]
            new_file = cands[0]
            same_new = [m for m in now[new_file] if keyf(today[new_file], m) == key]
            if not same_new:  # moved to another file
                for f in today:
                    same_new = same_new or [m for m in now[f] if keyf(today[f], m) == key]
                    new_file = f if same_new and same_new[0].file == f else new_file
            if len(same_old) == len(same_new):
                break
        if len(same_old) != len(same_new):
            lost.append(ln)
            continue
        m = same_new[same_old.index(old)]
        rest = parts[2].split(None, 1)
        lines[i] = f"{m.id} {new_file}:{m.line} {rest[0]} {rest[1] if len(rest) > 1 else ''}"
        lines[i] = lines[i].rstrip()
        moved += 1
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print(f"remap: {moved} entries follow their mutant, {len(lost)} match none")
    for ln in lost:
        print("  " + ln)
    return 1 if lost else 0


# ---------------------------------------------------------------- self-test
def self_test():
    """The generator on small sources: what it must mutate and must not."""
    cases = 0
    bad = []

    def check(name, ok):
        nonlocal cases
        cases += 1
        if not ok:
            bad.append(name)

    quiet = ("/* a < b && c */\n// x == y\n#define M(a) ((a) < 3 && \\\n (a) > 1)\n"
             "static const char *s = \"a < b || c\";\nstatic const char c = '<';\n"
             "static int f(int a)\n{\n\tKEEL_ASSERT(a < 3 &&\n\t\ta != 2);\n"
             "\tassert(a == 1);\n\t_Static_assert(1 == 1, \"x\");\n\treturn a;\n}\n")
    check("comments, literals, preprocessor and assertions are left alone",
          generate("q.c", quiet) == [])
    src = "int g(int a, int b)\n{\n\tif (a < 3 && b)\n\t\treturn 1;\n\treturn 0;\n}\n"
    ms = generate("g.c", src)
    got = sorted((m.op, mutated(src, m).split("\n")[2 if m.op != "ret" else 3].strip())
                 for m in ms)
    want = sorted([("rel-boundary", "if (a <= 3 && b)"), ("rel-flip", "if (a > 3 && b)"),
                   ("bound+1", "if (a < 4 && b)"), ("bound-1", "if (a < 2 && b)"),
                   ("cond-left", "if (b)"), ("cond-right", "if (a < 3)"), ("ret", ";")])
    check(f"each operator once: {got}", got == want)
    moved = generate("g.c", "/* one more line */\n" + src)
    check("ids survive an unrelated edit", sorted(m.id for m in ms) == sorted(m.id for m in moved))
    a = "int h(struct s *s, int b)\n{\n\tif (s->r < 3 &&\n\t    b)\n\t\treturn 1;\n\treturn 0;\n}\n"
    b = "int h(struct s *s, int b)\n{\n\tif (s->g->r < 3 && b)\n\t\treturn 1;\n\treturn 0;\n}\n"
    ka = sorted(change_key(a, m) for m in generate("h.c", a))
    kb = sorted(change_key(b, m) for m in generate("h.c", b))
    check("--remap follows a change across a moved field and a reflowed line", ka == kb)
    c = b.replace("< 3", "<= 3")
    check("--remap tells a different change apart",
          ka != sorted(change_key(c, m) for m in generate("h.c", c)))
    check("ids are unique", len({m.id for m in ms}) == len(ms))
    twice = "int h(int a)\n{\n\tif (a == 1)\n\t\ta++;\n\tif (a == 1)\n\t\ta++;\n" \
            "\treturn a;\n}\n"
    hs = generate("h.c", twice)
    check("identical lines give different ids", len({m.id for m in hs}) == len(hs) == 6)
    drop = "int k(int i)\n{\n\treturn i + 1 - n[i - 1] + (-1);\n}\n"
    got = [mutated(drop, m).split("\n")[2].strip() for m in generate("k.c", drop)]
    check(f"+ 1 and - 1 dropped where binary: {got}",
          got == ["return i - n[i - 1] + (-1);", "return i + 1 - n[i] + (-1);"])
    chain = "int c(int a, int b, int d)\n{\n\treturn a || b && d || a;\n}\n"
    got = sorted(mutated(chain, m).split("\n")[2].strip() for m in generate("c.c", chain))
    check(f"each condition of a chain dropped once: {got}",
          got == sorted(["return b && d || a;", "return a || a;", "return a || d || a;",
                         "return a || b || a;", "return a || b && d;"]))
    for name in bad:
        print(f"mutagen self-test failed: {name}")
    print(f"mutagen: {cases - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


# ---------------------------------------------------------------- running
class Worker:
    """A private copy of the tree, built once, where one mutant at a time
    is written, built (its object, then the suites' binaries) and run."""

    def __init__(self, root, index, env_seeds, limits):
        self.root = root
        self.limits = limits
        self.proc = None
        self.index = index
        self.seeds = env_seeds

    def sh(self, argv, timeout, log):
        if STOPPING.is_set():
            raise SystemExit(130)  # this thread only: the copy is being removed
        p = subprocess.Popen(argv, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True, env=self.env())
        self.proc = p
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            return "timeout"
        finally:
            self.proc = None

    def env(self):
        e = dict(os.environ)
        e["FAULTS_NO_SERVER"] = "1"
        e.pop("MAKEFLAGS", None)
        e.pop("MFLAGS", None)
        e.pop("MAKELEVEL", None)
        return e

    def make(self, targets, log):
        return self.sh(["make", "-j1", "--no-print-directory"] + targets, 900, log)

    def run(self, m, text, suites, log):
        """Returns 'killed by <suite>', 'SURVIVED' or 'stillborn'."""
        src = os.path.join(self.root, m.file)
        obj = os.path.join(self.root, "build/asan/obj", m.file[:-2] + ".o")
        st = os.stat(src)
        with open(obj, "rb") as f:
            obj_bytes = f.read()
        try:
            with open(src, "w") as f:
                f.write(mutated(text, m))
            if self.make(["build/asan/obj/" + m.file[:-2] + ".o"], log) != 0:
                return "stillborn"
            if not suites:
                return "SURVIVED (no suite)"
            for s in suites:
                targets, cmd, limit = SUITES[s]
                if self.make(targets, log) != 0:
                    return "stillborn"
                argv = [a.format(**self.seeds) for a in cmd]
                log.write(f"--- {s}: {' '.join(argv)}\n".encode())
                log.flush()
                rc = self.sh(argv, self.limits.get(s, limit), log)
                if rc == "timeout":
                    return f"killed by {s} (timeout)"
                if rc != 0:
                    return f"killed by {s}"
            return "SURVIVED"
        finally:
            if STOPPING.is_set():
                return "stopped"
            with open(src, "w") as f:
                f.write(text)
            os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
            with open(obj, "wb") as f:
                f.write(obj_bytes)  # newer than the source: the archive is made again


def copy_tree(dst):
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=TOP, check=True,
                           capture_output=True).stdout.split(b"\0")
    for f in files:
        if not f:
            continue
        f = f.decode()
        s = os.path.join(TOP, f)
        if not os.path.isfile(s):
            continue
        d = os.path.join(dst, f)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        shutil.copy2(s, d)
    os.makedirs(os.path.join(dst, "build"), exist_ok=True)
    # the packages are there (the Makefile's check would run npm)
    with open(os.path.join(dst, "build/.deps-ok"), "w"):
        pass


def has_target(root, target):
    p = subprocess.run(["make", "-n", target], cwd=root, capture_output=True)
    return p.returncode == 0


def sample(muts, maxn, seed, only):
    """The mutants of one file to run: those named in `only` if given, else
    the maxn whose hash with the seed is smallest. A mutant is picked or not
    by its own id alone, so editing one function, or listing a mutant as
    equivalent, leaves the rest of the sample as it was."""
    if only:
        return [m for m in muts if m.id in only]
    if maxn <= 0 or len(muts) <= maxn:
        return list(muts)
    rank = sorted(muts, key=lambda m: hashlib.sha1(f"{seed}:{m.id}".encode()).hexdigest())
    return sorted(rank[:maxn], key=lambda m: m.start)


def folder_of(path):
    return os.path.dirname(path) + "/"


def table(rows, title):
    hdr = f"{title:<28} {'gen':>5} {'run':>4} {'kill':>4} {'surv':>4} {'equiv':>5} " \
          f"{'still':>5} {'rate':>6}"
    print(hdr)
    for name, c in rows:
        den = c["run"] - c["equivalent"]
        rate = f"{100.0 * c['killed'] / den:5.1f}%" if den > 0 else "    -"
        print(f"{name:<28} {c['generated']:>5} {c['run']:>4} {c['killed']:>4} "
              f"{c['survived']:>4} {c['equivalent']:>5} {c['stillborn']:>5} {rate:>6}")


def main():
    args = [a for a in sys.argv[1:]]
    if "--self-test" in args:
        return self_test()
    if "--remap" in args:
        return remap(args[args.index("--remap") + 1])
    if "--stale" in args:
        return check_stale()
    list_only = "--list" in args
    show = None
    if "--show" in args:
        k = args.index("--show")
        show = args[k + 1]
        del args[k:k + 2]
    sample_only = "--sample" in args
    list_only = list_only or sample_only
    args = [a for a in args if a not in ("--list", "--sample")]
    files = args or os.environ.get("MUTANTS_FILES", "").split() or default_files()
    files = [os.path.relpath(os.path.abspath(f), TOP) if os.path.exists(f) else f for f in files]
    maxn = int(os.environ.get("MUTANTS_MAX", "40"))
    seed = os.environ.get("MUTANTS_SEED", "1")
    jobs = int(os.environ.get("MUTANTS_JOBS", "2"))
    simn = int(os.environ.get("MUTANTS_SIM_SEEDS", "300"))
    simq = min(20, simn)
    seeds = {"simq": simq, "simrest": max(simn - simq, 1), "simnext": simq + 1,
             }
    nsimn = int(os.environ.get("MUTANTS_NSIM_SEEDS", "60"))
    seeds.update({"nsimq": min(10, nsimn), "nsimrest": max(nsimn - min(10, nsimn), 1),
                  "nsimnext": min(10, nsimn) + 1, "nsimn": nsimn})
    min_rate = float(os.environ.get("MUTANTS_MIN_RATE", "95"))
    only = set(os.environ.get("MUTANTS_IDS", "").split())

    texts, all_muts = {}, {}
    for f in files:
        with open(os.path.join(TOP, f)) as fh:
            texts[f] = fh.read()
        all_muts[f] = generate(f, texts[f])
    if show:
        for f in files:
            for m in all_muts[f]:
                if m.id == show:
                    lo = texts[f].rfind("\n", 0, m.start) + 1
                    hi = texts[f].find("\n", m.end)
                    print(f"{m.id} {f}:{m.line} {m.op} ({m.desc})")
                    print("- " + texts[f][lo:hi].replace("\n", "\n- "))
                    print("+ " + mutated(texts[f], m)[lo:hi - (m.end - m.start) + len(m.repl)]
                          .replace("\n", "\n+ "))
                    return 0
        print(f"no mutant {show}")
        return 1
    if list_only:
        for f in files:
            if sample_only:
                all_muts[f] = sample(all_muts[f], maxn, seed, only)
            for m in all_muts[f]:
                print(f"{m.id} {f}:{m.line} {m.op} ({m.desc})")
        for f in files:
            print(f"{f}: {len(all_muts[f])} mutants")
        print(f"total: {sum(len(v) for v in all_muts.values())}")
        return 0

    equiv = read_equivalents()
    known = {m.id for f in files for m in all_muts[f]}
    stale = [s for i, (f, s) in equiv.items() if f in files and i not in known]

    plan = []  # (mutant, suites)
    counts = {}
    for f in files:
        c = counts[f] = dict(generated=len(all_muts[f]), run=0, killed=0, survived=0,
                             equivalent=0, stillborn=0)
        pick = sample(all_muts[f], maxn, seed, only)
        eqs = [m for m in pick if m.id in equiv]
        for m in eqs:
            m.result = "equivalent"
        plan += pick
        print(f"sampled {f}: {len(pick)} of {len(all_muts[f])} ({len(eqs)} of them "
              f"equivalent){'' if suites_for(f) else ' - no suite'}")

    work = tempfile.mkdtemp(prefix="mutagen-", dir="/tmp")
    workers = []

    def stop(signum, frame):
        # the suites run in sessions of their own: end them (no new one
        # starts), then remove the copy
        STOPPING.set()
        for _ in range(2):
            for w in workers:
                p = w.proc
                if p is not None:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.5)
        shutil.rmtree(work, ignore_errors=True)
        print(f"stopped by signal {signum}")
        sys.stdout.flush()
        os._exit(130)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    t0 = time.time()
    try:
        base = os.path.join(work, "w0")
        copy_tree(base)
        needed = sorted({t for s in SUITES for t in SUITES[s][0]})
        have_nsim = has_target(base, "build/asan/nsim")
        if not have_nsim:
            print("nsim: the Makefile has no build/asan/nsim yet: the whole-node simulator "
                  "is skipped")
            needed = [t for t in needed if t != "build/asan/nsim"]
        with open(os.path.join(work, "base.log"), "wb") as log:
            rc = subprocess.run(["make", f"-j{jobs}", "--no-print-directory"] + needed, cwd=base,
                                stdout=log, stderr=subprocess.STDOUT).returncode
        if rc != 0:
            print(f"the unmutated tree does not build: {work}/base.log")
            return 2
        limits = {}
        workers[:] = [Worker(base, 0, seeds, limits)]
        for k in range(1, jobs):
            d = os.path.join(work, f"w{k}")
            subprocess.run(["cp", "-a", base, d], check=True)
            workers.append(Worker(d, k, seeds, limits))
        # the unmutated tree passes every suite it will be judged by
        used = sorted({s for f in files for s in suites_for(f)
                       if not s.startswith("nsim") or have_nsim})
        with open(os.path.join(work, "clean.log"), "wb") as log:
            for s in used:
                targets, cmd, limit = SUITES[s]
                argv = [a.format(**seeds) for a in cmd]
                t1 = time.time()
                rc = workers[0].sh(argv, limit, log)
                took = time.time() - t1
                # a mutant gets 6 times the clean run (at least 20 s) before
                # it counts as hung
                limits[s] = min(limit, max(20.0, 6 * took))
                print(f"clean run: {s} {'ok' if rc == 0 else 'FAILED'} "
                      f"({took:.1f}s; a mutant's limit {limits[s]:.0f}s)")
                if rc != 0:
                    print(f"the unmutated tree fails {s}: {work}/clean.log")
                    return 2
        print(f"built and checked in {time.time() - t0:.0f}s; running "
              f"{sum(1 for m in plan if m.result is None)} mutants on {jobs} workers")
        sys.stdout.flush()

        queue = [m for m in plan if m.result is None]
        lock = threading.Lock()

        def loop(w):
            while True:
                with lock:
                    if not queue:
                        return
                    m = queue.pop(0)
                ss = [s for s in suites_for(m.file) if not s.startswith("nsim") or have_nsim]
                with open(os.path.join(work, f"{m.id}.log"), "wb") as log:
                    res = w.run(m, texts[m.file], ss, log)
                with lock:
                    m.result = res
                    print(f"{m.id} {m.file}:{m.line} {m.op} ({m.desc}): {res}")
                    sys.stdout.flush()

        threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        if os.environ.get("MUTANTS_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    for m in plan:
        if m.result == "equivalent":
            print(f"{m.id} {m.file}:{m.line} {m.op} ({m.desc}): equivalent")
    folders = {}
    for m in plan:
        c = counts[m.file]
        if m.result == "stillborn":
            c["stillborn"] += 1
            continue
        c["run"] += 1
        if m.result == "equivalent":
            c["equivalent"] += 1
        elif m.result.startswith("killed"):
            c["killed"] += 1
        else:
            c["survived"] += 1
    for f in files:
        fc = folders.setdefault(folder_of(f), dict(generated=0, run=0, killed=0, survived=0,
                                                   equivalent=0, stillborn=0))
        for k, v in counts[f].items():
            fc[k] += v
    print()
    table([(f, counts[f]) for f in files], "file")
    print()
    table(sorted(folders.items()), "folder")
    for s in stale:
        print(f"{EQUIV}: no longer matches any mutant: {s}")
    secs = time.time() - t0
    print(f"mutants: {sum(c['killed'] for c in counts.values())} killed, "
          f"{sum(c['survived'] for c in counts.values())} survived, "
          f"{sum(c['equivalent'] for c in counts.values())} equivalent, "
          f"{sum(c['stillborn'] for c in counts.values())} stillborn "
          f"({secs / 60:.1f} min, MUTANTS_MAX={maxn} MUTANTS_SEED={seed} "
          f"MUTANTS_SIM_SEEDS={simn})")
    low = []
    for name, c in sorted(folders.items()):
        den = c["run"] - c["equivalent"]
        if den > 0 and 100.0 * c["killed"] / den < min_rate:
            low.append(f"{name} {100.0 * c['killed'] / den:.1f}%")
    if low:
        print(f"under MUTANTS_MIN_RATE={min_rate:g}%: {', '.join(low)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
