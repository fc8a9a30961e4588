#!/usr/bin/env python3
"""tools/tidy.py - the small style and layering check `make test` runs.

Checks every C file under src/ and tests/: lines of at most 100 columns
(tabs count 8), function bodies of at most 100 lines in src/ (150 in
tests/), no banned calls, a header comment on line 1, and in src/ the
include arrows of DESIGN.md (a folder includes only the layers below it).
Prints one line per problem, then `tidy: N passed, M failed` (files).
"""
import os
import re
import sys

MAX_COLS = 100
BANNED = ["sprintf", "vsprintf", "strcpy", "strcat", "gets", "atoi", "atol", "atof",
          "rand", "srand", "strtok"]
ALLOWED = {
    "base": set(),
    "raft": {"base"},
    "io": {"base"},
    "storage": {"base", "io"},
    "resp": {"base"},
    "kv": {"base", "resp"},
    "net": {"base", "io"},
    "replica": {"base", "io", "net", "resp", "kv"},
    "server": {"base", "raft", "io", "storage", "resp", "kv", "net", "replica"},
}
BANNED_RE = re.compile(r"(?<![A-Za-z0-9_.>])(" + "|".join(BANNED) + r")\s*\(")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')


def strip_code(text):
    """Blanks comments and string/char literals, keeping line structure."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + (c if j < n else ""))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def check_text(path, text, problems):
    lines = text.split("\n")
    if not lines or not lines[0].startswith("/*") and not lines[0].startswith("#!"):
        problems.append(f"{path}:1: no header comment saying what the file is for")
    for no, line in enumerate(lines, 1):
        if len(line.expandtabs(8)) > MAX_COLS:
            problems.append(f"{path}:{no}: line longer than {MAX_COLS} columns")
    code = strip_code(text).split("\n")
    for no, line in enumerate(code, 1):
        m = BANNED_RE.search(line)
        if m and not line.lstrip().startswith("#"):
            problems.append(f"{path}:{no}: banned call {m.group(1)}()")
    limit = 150 if path.startswith("tests/") else 100
    start = None
    for no, line in enumerate(code, 1):
        if line.startswith("{") and start is None:
            start = no
        elif line.startswith("}") and start is not None:
            if no - start - 1 > limit:
                problems.append(f"{path}:{start}: function body of {no - start - 1} lines "
                                f"(limit {limit})")
            start = None
    parts = path.split("/")
    if parts[0] == "src" and len(parts) >= 3:
        layer = parts[1]
        allowed = ALLOWED.get(layer, set()) | {layer}
        for no, line in enumerate(lines, 1):
            m = INCLUDE_RE.match(line)
            if m and m.group(1) not in allowed:
                problems.append(f"{path}:{no}: src/{layer} may not include {m.group(1)}/")


def self_test():
    cases = [
        ("src/base/x.c", "/* x */\nint f(void)\n{\n\treturn 0;\n}\n", 0),
        ("src/base/x.c", "int a;\n", 1),
        ("src/base/x.c", "/* x */\nint a = " + "1 +" * 40 + " 1;\n", 1),
        ("src/base/x.c", "/* x */\nvoid f(char *a)\n{\n\tstrcpy(a, \"b\");\n}\n", 1),
        ("src/base/x.c", "/* strcpy( */\nvoid f(void)\n{\n\tputs(\"sprintf(\");\n}\n", 0),
        ("src/raft/x.c", '/* x */\n#include "server/node.h"\n', 1),
        ("src/raft/x.c", '/* x */\n#include "base/err.h"\n#include "raft/core.h"\n', 0),
        ("src/base/x.c", "/* x */\nvoid f(void)\n{\n" + "\tg();\n" * 101 + "}\n", 1),
        ("tests/sim/x.c", "/* x */\nvoid f(void)\n{\n" + "\tg();\n" * 101 + "}\n", 0),
    ]
    bad = 0
    for path, text, want in cases:
        problems = []
        check_text(path, text, problems)
        if len(problems) != want:
            bad += 1
            print(f"self-test: {path}: want {want} problems, got {problems}")
    print(f"tidy self-test: {len(cases) - bad} passed, {bad} failed")
    return 1 if bad else 0


def main():
    if "--self-test" in sys.argv:
        return self_test()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)
    files = []
    for top in ("src", "tests", "tools"):
        for d, dirs, names in os.walk(top):
            dirs[:] = [x for x in dirs if x not in ("mutants", "scenarios", "node_modules")]
            files += [os.path.join(d, x) for x in names if x.endswith((".c", ".h"))]
    passed = failed = 0
    for path in sorted(files):
        problems = []
        with open(path, encoding="utf-8") as f:
            check_text(path, f.read(), problems)
        for p in problems:
            print(p)
        failed += 1 if problems else 0
        passed += 0 if problems else 1
    st = self_test()
    passed, failed = passed + (st == 0), failed + (st != 0)
    print(f"tidy: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
