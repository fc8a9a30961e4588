#!/usr/bin/env python3
"""tools/gen_commands.py - builds keel's command table from the spec files.

Usage: gen_commands.py SPEC_DIR OUT.c, or gen_commands.py --self-test

Reads one spec file per command (src/kv/commands/<name>.json, and
<container>-<sub>.json for a subcommand, in the format of Redis 7's
src/commands/*.json), checks every file, and writes one C file with:

  - the command table (struct kv_cmd, kv/kv.h): name, arity, keel's flags,
    the legacy first/last/step key positions, key specs, the function that
    runs it, subcommands; top-level commands sorted by name, subcommands
    after them, each container's sorted by name;
  - a hash of the top-level names for kv_lookup;
  - each command's COMMAND INFO and COMMAND DOCS replies, encoded in RESP2
    and RESP3 exactly as Redis 7.0 encodes them (server.c
    addReplyCommandInfo / addReplyCommandDocs), so the server only copies
    bytes.

Keel's own flags come from the file: KV_WRITE from WRITE, KV_READ from
READONLY, KV_SERVER from "keel_flags": ["SERVER"] (the server carries the
command out, not the state machine: such a file names no function),
KV_CONNECTION from "keel_flags": ["CONNECTION"] (a server command on the
connection's own state, run when it arrives rather than after the requests
before it), KV_INTERNAL from "keel_flags": ["INTERNAL"] (a command nodes
propose to each other and clients cannot send), and KV_MULTI_OK for a command the state machine runs that is
not NO_MULTI.

A bad file stops the build: the problems are printed as `file: problem`
and the exit status is 1. Nothing is written then.
"""
import json
import os
import re
import sys

# Redis 7.0's command flags, in the order COMMAND INFO lists them (None:
# a flag Redis accepts but never shows).
CMD_FLAGS = [
    ("WRITE", "write"), ("READONLY", "readonly"), ("DENYOOM", "denyoom"),
    ("MODULE", "module"), ("ADMIN", "admin"), ("PUBSUB", "pubsub"),
    ("NOSCRIPT", "noscript"), ("BLOCKING", "blocking"), ("LOADING", "loading"),
    ("STALE", "stale"), ("SKIP_MONITOR", "skip_monitor"),
    ("SKIP_SLOWLOG", "skip_slowlog"), ("ASKING", "asking"), ("FAST", "fast"),
    ("NO_AUTH", "no_auth"), ("MAY_REPLICATE", None), ("SENTINEL", None),
    ("ONLY_SENTINEL", None), ("NO_MANDATORY_KEYS", "no_mandatory_keys"),
    ("PROTECTED", None), ("NO_ASYNC_LOADING", "no_async_loading"),
    ("NO_MULTI", "no_multi"), ("MOVABLE_KEYS", "movablekeys"),
    ("ALLOW_BUSY", "allow_busy"), ("TOUCHES_ARBITRARY_KEYS", None),
]
FLAG_NAMES = {k for k, _ in CMD_FLAGS}
# ACL categories in Redis 7.0's order (acl.c ACLCommandCategories).
ACL_CATS = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
            "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
            "blocking", "dangerous", "connection", "transaction", "scripting"]
KEY_FLAGS = [("RO", "RO"), ("RW", "RW"), ("OW", "OW"), ("RM", "RM"), ("ACCESS", "access"),
             ("UPDATE", "update"), ("INSERT", "insert"), ("DELETE", "delete"),
             ("NOT_KEY", "not_key"), ("INCOMPLETE", "incomplete"),
             ("VARIABLE_FLAGS", "variable_flags")]
KEY_FLAG_NAMES = {k for k, _ in KEY_FLAGS}
GROUPS = {"generic": "generic", "string": "string", "list": "list", "set": "set",
          "sorted_set": "sorted-set", "hash": "hash", "pubsub": "pubsub",
          "transactions": "transactions", "connection": "connection", "server": "server",
          "scripting": "scripting", "hyperloglog": "hyperloglog", "cluster": "cluster",
          "sentinel": "sentinel", "geo": "geo", "stream": "stream", "bitmap": "bitmap"}
ARG_TYPES = ["string", "integer", "double", "key", "pattern", "unix-time", "pure-token",
             "oneof", "block"]
DOC_FLAGS = [("DEPRECATED", "deprecated"), ("SYSCMD", "syscmd")]
KEEL_FLAGS = {"SERVER", "CONNECTION", "INTERNAL"}
TOP_KEYS = {"summary", "complexity", "group", "since", "arity", "function", "container",
            "command_flags", "acl_categories", "key_specs", "arguments", "history",
            "command_tips", "doc_flags", "deprecated_since", "replaced_by", "reply_schema",
            "keel_flags"}
ARG_KEYS = {"name", "type", "token", "optional", "multiple", "multiple_token",
            "key_spec_index", "since", "deprecated_since", "summary", "arguments", "display"}
HASH_MIN_SLOTS = 64


class SpecError(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise SpecError(msg)


def fnv1a(name):
    """The hash kv_lookup computes (kv/table.c): FNV-1a over lowercase bytes."""
    h = 2166136261
    for b in name.lower().encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


# ---- checking -----------------------------------------------------------

def check_args(args, n_specs, used, where):
    need(isinstance(args, list), f"{where}: arguments must be a list")
    for a in args:
        need(isinstance(a, dict), f"{where}: an argument must be an object")
        extra = set(a) - ARG_KEYS
        need(not extra, f"{where}: unknown argument field(s) {sorted(extra)}")
        need(isinstance(a.get("name"), str) and a["name"],
             f"{where}: an argument without a name")
        at = f"{where} argument '{a['name']}'"
        need(a.get("type") in ARG_TYPES, f"{at}: type must be one of {ARG_TYPES}")
        for k in ("optional", "multiple", "multiple_token"):
            need(isinstance(a.get(k, False), bool), f"{at}: {k} must be true or false")
        need(not a.get("multiple_token") or a.get("multiple"),
             f"{at}: multiple_token needs multiple")
        if a["type"] == "pure-token":
            need("token" in a, f"{at}: a pure-token needs a token")
        if a["type"] in ("oneof", "block"):
            need(a.get("arguments"), f"{at}: a {a['type']} needs arguments")
            check_args(a["arguments"], n_specs, used, at)
        else:
            need("arguments" not in a, f"{at}: only oneof and block have arguments")
        if a["type"] == "key":
            need("key_spec_index" in a, f"{at}: a key argument needs key_spec_index")
        if "key_spec_index" in a:
            i = a["key_spec_index"]
            need(isinstance(i, int) and 0 <= i < n_specs,
                 f"{at}: key_spec_index {i} is not one of the {n_specs} key specs")
            used.add(i)


def check_key_spec(ks, where):
    need(isinstance(ks, dict), f"{where}: a key spec must be an object")
    extra = set(ks) - {"flags", "begin_search", "find_keys", "notes"}
    need(not extra, f"{where}: unknown key spec field(s) {sorted(extra)}")
    flags = ks.get("flags")
    need(isinstance(flags, list) and flags, f"{where}: a key spec needs flags")
    bad = set(flags) - KEY_FLAG_NAMES
    need(not bad, f"{where}: unknown key spec flag(s) {sorted(bad)}")
    bs, fk = ks.get("begin_search"), ks.get("find_keys")
    need(isinstance(bs, dict) and len(bs) == 1,
         f"{where}: begin_search must have one of index, keyword, unknown")
    need(isinstance(fk, dict) and len(fk) == 1,
         f"{where}: find_keys must have one of range, keynum, unknown")
    if "index" in bs:
        need(isinstance(bs["index"].get("pos"), int) and bs["index"]["pos"] > 0,
             f"{where}: begin_search index needs a pos of 1 or more")
    elif "keyword" in bs:
        kw = bs["keyword"]
        need(isinstance(kw.get("keyword"), str) and isinstance(kw.get("startfrom"), int),
             f"{where}: begin_search keyword needs keyword and startfrom")
    else:
        need("unknown" in bs, f"{where}: begin_search must be index, keyword or unknown")
    if "range" in fk:
        r = fk["range"]
        need(all(isinstance(r.get(k), int) for k in ("lastkey", "step", "limit")),
             f"{where}: find_keys range needs lastkey, step and limit")
        need(r["step"] > 0 and r["limit"] >= 0, f"{where}: range step > 0, limit >= 0")
        need(not r["limit"] or r["lastkey"] == -1, f"{where}: a range limit needs lastkey -1")
    elif "keynum" in fk:
        r = fk["keynum"]
        need(all(isinstance(r.get(k), int) for k in ("keynumidx", "firstkey", "step")),
             f"{where}: find_keys keynum needs keynumidx, firstkey and step")
        need(r["step"] > 0 and r["keynumidx"] >= 0 and r["firstkey"] > 0,
             f"{where}: keynum step and firstkey > 0, keynumidx >= 0")
    else:
        need("unknown" in fk, f"{where}: find_keys must be range, keynum or unknown")


def check_list(v, known, what, where):
    need(isinstance(v, list) and all(isinstance(x, str) for x in v),
         f"{where}: {what} must be a list of strings")
    bad = set(v) - known
    need(not bad, f"{where}: unknown {what} {sorted(bad)}")


def load(path):
    """One spec file: (name, container or None, description)."""
    base = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise SpecError(f"not valid JSON: {e}")
    need(isinstance(doc, dict) and len(doc) == 1, "must hold one object: {\"NAME\": {...}}")
    (name, d), = doc.items()
    need(isinstance(d, dict), "the command's description must be an object")
    need(re.fullmatch(r"[A-Z][A-Z0-9_.\-]*", name), f"'{name}': names are uppercase")
    extra = set(d) - TOP_KEYS
    need(not extra, f"unknown field(s) {sorted(extra)}")
    container = d.get("container")
    want = (f"{container}-{name}" if container else name).lower() + ".json"
    need(base == want, f"a file for {name} must be named {want}")
    for k in ("summary", "since", "group"):
        need(isinstance(d.get(k), str) and d[k], f"'{k}' must be a non-empty string")
    need(d["group"] in GROUPS, f"group '{d['group']}' is not one of {sorted(GROUPS)}")
    for k in ("complexity", "deprecated_since", "replaced_by", "function"):
        need(isinstance(d.get(k, ""), str), f"'{k}' must be a string")
    ar = d.get("arity")
    need(isinstance(ar, int) and not isinstance(ar, bool) and ar != 0,
         "arity must be a non-zero integer")
    need(abs(ar) >= (2 if container else 1), f"arity {ar} is less than the name itself")
    check_list(d.get("command_flags", []), FLAG_NAMES, "command flag(s)", "command_flags")
    check_list(d.get("acl_categories", []), {c.upper() for c in ACL_CATS},
               "ACL category(ies)", "acl_categories")
    check_list(d.get("doc_flags", []), {k for k, _ in DOC_FLAGS}, "doc flag(s)", "doc_flags")
    check_list(d.get("keel_flags", []), KEEL_FLAGS, "keel flag(s)", "keel_flags")
    tips = d.get("command_tips", [])
    need(isinstance(tips, list) and all(isinstance(t, str) and t for t in tips),
         "command_tips must be a list of strings")
    hist = d.get("history", [])
    need(isinstance(hist, list) and all(isinstance(h, list) and len(h) == 2 and
                                        all(isinstance(x, str) for x in h) for h in hist),
         "history must be a list of [version, change] pairs")
    specs = d.get("key_specs", [])
    need(isinstance(specs, list), "key_specs must be a list")
    for i, ks in enumerate(specs):
        check_key_spec(ks, f"key spec {i}")
    used = set()
    check_args(d.get("arguments", []), len(specs), used, "arguments")
    if specs and not any("NOT_KEY" in ks["flags"] for ks in specs):
        unused = set(range(len(specs))) - used
        need(not unused, f"key spec(s) {sorted(unused)} are named by no argument")
    server = "SERVER" in d.get("keel_flags", [])
    flags = set(d.get("command_flags", []))
    need(not ({"WRITE", "READONLY"} <= flags), "WRITE and READONLY together")
    if server:
        need("function" not in d, "a SERVER command names no function: the server runs it")
    else:
        need(re.fullmatch(r"cmd_[a-z0-9_]+", d.get("function", "")),
             "a command the state machine runs names its function, cmd_<name>")
    return name.lower(), container.lower() if container else None, d


# ---- what COMMAND reports ------------------------------------------------

def legacy_range(specs):
    """(first, last, step, movable) as populateCommandLegacyRangeSpec."""
    def is_range(ks):
        return "index" in ks["begin_search"] and "range" in ks["find_keys"]
    if not specs:
        return 0, 0, 0, False
    if len(specs) == 1 and is_range(specs[0]):
        r = specs[0]["find_keys"]["range"]
        pos = specs[0]["begin_search"]["index"]["pos"]
        last = r["lastkey"] + pos if r["lastkey"] >= 0 else r["lastkey"]
        return pos, last, r["step"], "INCOMPLETE" in specs[0]["flags"]
    first, last, prev, movable = None, 0, 0, False
    for ks in specs:
        if not is_range(ks):
            movable = True
            continue
        r, pos = ks["find_keys"]["range"], ks["begin_search"]["index"]["pos"]
        if r["step"] != 1 or (prev and prev != pos - 1):
            movable = True
            continue
        if "INCOMPLETE" in ks["flags"]:
            movable = True
        first = pos if first is None else min(first, pos)
        abs_last = r["lastkey"] + pos if r["lastkey"] >= 0 else r["lastkey"]
        last = max(last & 0xFFFFFFFF, abs_last & 0xFFFFFFFF)  # unsigned, as Redis
        last = last - (1 << 32) if last >= 1 << 31 else last
        prev = last
    if first is None:
        return 0, 0, 0, True
    return first, last, 1, movable


def acl_categories(d):
    cats = {c.lower() for c in d.get("acl_categories", [])}
    flags = set(d.get("command_flags", []))
    if "WRITE" in flags:
        cats.add("write")
    if "READONLY" in flags and "scripting" not in cats:
        cats.add("read")
    if "ADMIN" in flags:
        cats |= {"admin", "dangerous"}
    if "PUBSUB" in flags:
        cats.add("pubsub")
    if "FAST" in flags:
        cats.add("fast")
    if "BLOCKING" in flags:
        cats.add("blocking")
    if "fast" not in cats:
        cats.add("slow")
    return [c for c in ACL_CATS if c in cats]


class Resp:
    """Redis's reply encoding for one protocol version."""

    def __init__(self, proto):
        self.p3 = proto == 3

    def simple(self, s):
        return f"+{s}\r\n"

    def bulk(self, s):
        return f"${len(s.encode())}\r\n{s}\r\n"

    def int(self, n):
        return f":{n}\r\n"

    def array(self, n):
        return f"*{n}\r\n"

    def set(self, n):
        return f"~{n}\r\n" if self.p3 else f"*{n}\r\n"

    def map(self, n):
        return f"%{n}\r\n" if self.p3 else f"*{2 * n}\r\n"

    def flag_set(self, table, present, status=True):
        names = [out for k, out in table if k in present and out]
        return self.set(len(names)) + "".join(
            self.simple(x) if status else self.bulk(x) for x in names)


def info_reply(cmd, r):
    d = cmd["desc"]
    flags = set(d.get("command_flags", []))
    if cmd["movable"]:
        flags.add("MOVABLE_KEYS")
    out = r.array(10) + r.bulk(cmd["name"]) + r.int(d["arity"])
    out += r.flag_set(CMD_FLAGS, flags)
    out += r.int(cmd["first"]) + r.int(cmd["last"]) + r.int(cmd["step"])
    cats = acl_categories(d)
    out += r.set(len(cats)) + "".join(r.simple("@" + c) for c in cats)
    tips = d.get("command_tips", [])
    out += r.set(len(tips)) + "".join(r.bulk(t.lower()) for t in tips)
    specs = d.get("key_specs", [])
    out += r.set(len(specs))
    for ks in specs:
        out += r.map(4 if "notes" in ks else 3)
        if "notes" in ks:
            out += r.bulk("notes") + r.bulk(ks["notes"])
        out += r.bulk("flags") + r.flag_set(KEY_FLAGS, set(ks["flags"]))
        out += r.bulk("begin_search") + r.map(2) + r.bulk("type")
        bs = ks["begin_search"]
        if "index" in bs:
            out += r.bulk("index") + r.bulk("spec") + r.map(1) + r.bulk("index")
            out += r.int(bs["index"]["pos"])
        elif "keyword" in bs:
            out += r.bulk("keyword") + r.bulk("spec") + r.map(2)
            out += r.bulk("keyword") + r.bulk(bs["keyword"]["keyword"])
            out += r.bulk("startfrom") + r.int(bs["keyword"]["startfrom"])
        else:
            out += r.bulk("unknown") + r.bulk("spec") + r.map(0)
        out += r.bulk("find_keys") + r.map(2) + r.bulk("type")
        fk = ks["find_keys"]
        if "range" in fk:
            x = fk["range"]
            out += r.bulk("range") + r.bulk("spec") + r.map(3)
            out += r.bulk("lastkey") + r.int(x["lastkey"]) + r.bulk("keystep")
            out += r.int(x["step"]) + r.bulk("limit") + r.int(x["limit"])
        elif "keynum" in fk:
            x = fk["keynum"]
            out += r.bulk("keynum") + r.bulk("spec") + r.map(3)
            out += r.bulk("keynumidx") + r.int(x["keynumidx"]) + r.bulk("firstkey")
            out += r.int(x["firstkey"]) + r.bulk("keystep") + r.int(x["step"])
        else:
            out += r.bulk("unknown") + r.bulk("spec") + r.map(0)
    subs = cmd["subs"]
    out += r.array(len(subs)) if subs else r.set(0)
    return out + "".join(info_reply(s, r) for s in subs)


def args_reply(args, r):
    out = r.array(len(args))
    for a in args:
        fields = [("name", r.bulk(a["name"].lower())), ("type", r.bulk(a["type"]))]
        if "key_spec_index" in a:
            fields.append(("key_spec_index", r.int(a["key_spec_index"])))
        for k in ("token", "summary", "since", "deprecated_since"):
            if k in a:
                fields.append((k, r.bulk(a[k].upper() if k == "token" else a[k])))
        flags = {k.upper() for k in ("optional", "multiple", "multiple_token") if a.get(k)}
        if flags:
            table = [("OPTIONAL", "optional"), ("MULTIPLE", "multiple"),
                     ("MULTIPLE_TOKEN", "multiple_token")]
            fields.append(("flags", r.flag_set(table, flags)))
        if a["type"] in ("oneof", "block"):
            fields.append(("arguments", args_reply(a["arguments"], r)))
        out += r.map(len(fields)) + "".join(r.bulk(k) + v for k, v in fields)
    return out


def docs_reply(cmd, r):
    d = cmd["desc"]
    fields = [("summary", r.bulk(d["summary"])), ("since", r.bulk(d["since"])),
              ("group", r.bulk(GROUPS[d["group"]]))]
    if d.get("complexity"):
        fields.append(("complexity", r.bulk(d["complexity"])))
    if d.get("doc_flags"):
        fields.append(("doc_flags", r.flag_set(DOC_FLAGS, set(d["doc_flags"]))))
    for k in ("deprecated_since", "replaced_by"):
        if d.get(k):
            fields.append((k, r.bulk(d[k])))
    if d.get("history"):
        h = d["history"]
        fields.append(("history", r.set(len(h)) + "".join(
            r.array(2) + r.bulk(v) + r.bulk(c) for v, c in h)))
    if d.get("arguments"):
        fields.append(("arguments", args_reply(d["arguments"], r)))
    if cmd["subs"]:
        fields.append(("subcommands", r.map(len(cmd["subs"])) + "".join(
            r.bulk(s["name"]) + docs_reply(s, r) for s in cmd["subs"])))
    return r.map(len(fields)) + "".join(r.bulk(k) + v for k, v in fields)


# ---- C output -----------------------------------------------------------

def c_string(s):
    """A C string literal for s, split over lines at each \\r\\n."""
    out, line = [], ""
    for ch in s.encode():
        if ch == 0x22 or ch == 0x5C:
            line += "\\" + chr(ch)
        elif 0x20 <= ch < 0x7F:
            line += chr(ch)
        elif ch == 0x0D:
            line += "\\r"
        elif ch == 0x0A:
            line += "\\n"
            out.append(line)
            line = ""
        else:
            line += "\\%03o" % ch
    if line:
        out.append(line)
    return "\n\t\t".join(f'"{x}"' for x in out) if out else '""'


def keel_flags(d):
    flags = set(d.get("command_flags", []))
    server = "SERVER" in d.get("keel_flags", [])
    out = []
    if "WRITE" in flags:
        out.append("KV_WRITE")
    if "READONLY" in flags:
        out.append("KV_READ")
    if server:
        out.append("KV_SERVER")
        if "CONNECTION" in d.get("keel_flags", []):
            out.append("KV_CONNECTION")
    elif "NO_MULTI" not in flags and "INTERNAL" not in d.get("keel_flags", []):
        out.append("KV_MULTI_OK")
    if "INTERNAL" in d.get("keel_flags", []):
        out.append("KV_INTERNAL")
    return " | ".join(out) or "0"


def spec_c(ks):
    bs, fk = ks["begin_search"], ks["find_keys"]
    f = ks["flags"]
    s = "{.not_key = %s, .incomplete = %s, .flags = %s" % (
        "true" if "NOT_KEY" in f else "false", "true" if "INCOMPLETE" in f else "false",
        c_string(" ".join(out for k, out in KEY_FLAGS if k in f)))
    if "index" in bs:
        s += ", .begin = KV_BS_INDEX, .index = %d" % bs["index"]["pos"]
    elif "keyword" in bs:
        s += ", .begin = KV_BS_KEYWORD, .keyword = %s, .startfrom = %d" % (
            c_string(bs["keyword"]["keyword"]), bs["keyword"]["startfrom"])
    else:
        s += ", .begin = KV_BS_UNKNOWN"
    if "range" in fk:
        x = fk["range"]
        s += ", .find = KV_FK_RANGE, .lastkey = %d, .keystep = %d, .limit = %d" % (
            x["lastkey"], x["step"], x["limit"])
    elif "keynum" in fk:
        x = fk["keynum"]
        s += ", .find = KV_FK_KEYNUM, .keynumidx = %d, .firstkey = %d, .keystep = %d" % (
            x["keynumidx"], x["firstkey"], x["step"])
    else:
        s += ", .find = KV_FK_UNKNOWN"
    return s + "}"


def emit(cmds, order, out_path):
    idx = {c["name"]: i for i, c in enumerate(order)}
    w = []
    w.append("/* Generated by tools/gen_commands.py from src/kv/commands/:"
             " do not edit. */")
    w.append('#include "kv/cmds.h"\n#include "kv/kv.h"\n')
    w.append(f"#define N_CMDS {len(order)}")
    w.append("const struct kv_cmd kv_cmd_table[N_CMDS];\n")
    for c in order:
        if c["desc"].get("key_specs"):
            w.append("static const struct kv_key_spec %s_specs[] = {" % c["ident"])
            for ks in c["desc"]["key_specs"]:
                w.append("\t" + spec_c(ks) + ",")
            w.append("};")
    w.append("\nconst struct kv_cmd kv_cmd_table[N_CMDS] = {")
    for c in order:
        d = c["desc"]
        nspec = len(d.get("key_specs", []))
        acl = sum(1 << ACL_CATS.index(x) for x in acl_categories(d))
        w.append("\t{")
        w.append(f'\t\t.name = "{c["name"]}",')
        w.append(f"\t\t.arity = {d['arity']},")
        w.append(f"\t\t.flags = {keel_flags(d)},")
        w.append(f"\t\t.first_key = {c['first']}, .last_key = {c['last']}, "
                 f".key_step = {c['step']},")
        w.append(f"\t\t.fn = {d.get('function', 'NULL')},")
        w.append(f"\t\t.acl = {acl}u,")
        w.append("\t\t.no_mandatory_keys = %s," %
                 ("true" if "NO_MANDATORY_KEYS" in d.get("command_flags", []) else "false"))
        if nspec:
            w.append(f"\t\t.key_specs = {c['ident']}_specs, .n_key_specs = {nspec},")
        if c["subs"]:
            w.append(f"\t\t.subs = &kv_cmd_table[{idx[c['subs'][0]['name']]}], "
                     f".n_subs = {len(c['subs'])},")
        if c["parent"]:
            w.append(f"\t\t.parent = &kv_cmd_table[{idx[c['parent']]}],")
        for field, fn in (("info", info_reply), ("docs", docs_reply)):
            for p in (2, 3):
                blob = fn(c, Resp(p))
                if field == "docs":
                    blob = Resp(p).bulk(c["name"]) + blob
                w.append(f"\t\t.{field}[{p - 2}] = {{{c_string(blob)},")
                w.append(f"\t\t\t{len(blob.encode())}}},")
        w.append("\t},")
    w.append("};\n")
    top = [c for c in order if not c["parent"]]
    slots = HASH_MIN_SLOTS
    while slots < 4 * len(top):
        slots *= 2
    table = [0] * slots
    for c in top:
        h = fnv1a(c["name"]) & (slots - 1)
        while table[h]:
            h = (h + 1) & (slots - 1)
        table[h] = idx[c["name"]] + 1
    w.append(f"const uint32_t kv_cmd_top = {len(top)};")
    w.append(f"const uint32_t kv_cmd_slots_n = {slots};")
    w.append("const uint16_t kv_cmd_slots[] = {")
    for i in range(0, slots, 16):
        w.append("\t" + ", ".join(str(x) for x in table[i:i + 16]) + ",")
    w.append("};")
    w.append("const char *const kv_acl_names[] = {")
    w.append("\t" + ", ".join(f'"{x}"' for x in ACL_CATS) + ", NULL,")
    w.append("};")
    tmp = out_path + ".tmp"
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(tmp, "w") as f:
        f.write("\n".join(w) + "\n")
    os.replace(tmp, out_path)


def self_test():
    """Bad spec files are refused, each with the problem named; prints
    `gen_commands: N passed, M failed`."""
    import tempfile
    good = {"GET": {"summary": "s", "group": "string", "since": "1.0.0", "arity": 2,
                    "function": "cmd_get", "command_flags": ["READONLY", "FAST"],
                    "key_specs": [{"flags": ["RO"], "begin_search": {"index": {"pos": 1}},
                                   "find_keys": {"range": {"lastkey": 0, "step": 1,
                                                           "limit": 0}}}],
                    "arguments": [{"name": "key", "type": "key", "key_spec_index": 0}]}}

    def bad(path, change):
        d = json.loads(json.dumps(good))
        change(d["GET"])
        return path, d
    cases = [  # (file name, description, a word the problem must name or None if good)
        ("get.json", good, None),
        ("set.json", good, "must be named get.json"),
        bad("get.json", lambda d: d.update(arity=0)) + ("arity",),
        bad("get.json", lambda d: d.update(command_flags=["READONLY", "WRIT"])) + ("WRIT",),
        bad("get.json", lambda d: d.update(keel_flags=["SERVER"])) + ("names no function",),
        bad("get.json", lambda d: d.pop("function")) + ("cmd_<name>",),
        bad("get.json", lambda d: d.update(group="strings")) + ("group",),
        bad("get.json", lambda d: d["arguments"][0].update(key_spec_index=3)) + ("key_spec",),
        bad("get.json", lambda d: d["arguments"][0].pop("key_spec_index")) + ("key_spec",),
        bad("get.json", lambda d: d.update(summery="x")) + ("summery",),
        bad("get.json", lambda d: d["key_specs"][0].update(begin_search={})) + ("begin",),
        bad("get.json", lambda d: d.update(container="CLIENT")) + ("client-get.json",),
        bad("get.json", lambda d: d["command_flags"].append("WRITE")) + ("WRITE and",),
    ]
    passed = failed = 0
    for name, doc, want in cases:
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, name), "w") as f:
                json.dump(doc, f)
            try:
                load(os.path.join(d, name))
                problem = None
            except SpecError as e:
                problem = str(e)
        ok = (problem is None) if want is None else (problem is not None and want in problem)
        passed, failed = passed + ok, failed + (not ok)
        if not ok:
            print(f"self-test: {name} {doc}: want {want!r}, got {problem!r}")
    print(f"gen_commands: {passed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    spec_dir, out_path = sys.argv[1], sys.argv[2]
    problems, cmds = [], {}
    files = sorted(f for f in os.listdir(spec_dir) if f.endswith(".json"))
    for f in files:
        path = os.path.join(spec_dir, f)
        try:
            name, container, d = load(path)
        except SpecError as e:
            problems.append(f"{path}: {e}")
            continue
        full = f"{container}|{name}" if container else name
        first, last, step, movable = legacy_range(d.get("key_specs", []))
        cmds[full] = {"name": full, "desc": d, "parent": container, "subs": [],
                      "first": first, "last": last, "step": step, "movable": movable,
                      "ident": re.sub(r"[^a-z0-9]", "_", full), "path": path}
    for c in sorted(cmds.values(), key=lambda c: c["name"]):
        if not c["parent"]:
            continue
        p = cmds.get(c["parent"])
        if not p or p["parent"]:
            problems.append(f"{c['path']}: container '{c['parent']}' has no spec file")
            continue
        if ("SERVER" in p["desc"].get("keel_flags", [])) != \
                ("SERVER" in c["desc"].get("keel_flags", [])):
            problems.append(f"{c['path']}: keel_flags SERVER differs from its container's")
        p["subs"].append(c)
    for c in cmds.values():
        if c["subs"] and (c["desc"].get("key_specs") or "function" in c["desc"]):
            problems.append(f"{c['path']}: a container has no key specs and no function")
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        print(f"gen_commands: {len(problems)} problem(s) in {spec_dir}", file=sys.stderr)
        return 1
    top = sorted((c for c in cmds.values() if not c["parent"]), key=lambda c: c["name"])
    order = top + [s for c in top for s in c["subs"]]
    emit(cmds, order, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
