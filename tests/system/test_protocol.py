"""test_protocol.py - runs every example of docs/protocol.md verbatim.

An example is a line "$ redis-cli ARGS" in an indented block, followed by
the lines redis-cli prints. The examples of one section ("## N. ...") run in
order against one fresh single server, as `redis-cli -p PORT ARGS`, with
redis-cli's output on a pseudo-terminal, so it prints what a person at a
terminal sees (the format the doc shows). The output must match exactly,
except the values the doc says vary: a lease_left_ms is an integer in
(0, documented value], the documented value being the full TTL.
"""

import os
import pty
import re
import select
import shlex
import subprocess
import time

import dlocktest
from dlocktest import TestFailure, check

DOC = os.path.join(dlocktest.ROOT, "docs", "protocol.md")
PROMPT = "$ redis-cli "
INDENT = "    "


def parse_doc(path=DOC):
    """[(section title, [(args line, [expected lines], line number)])] for
    every section with examples."""
    sections = []
    title, examples = None, []
    in_block = False
    with open(path) as f:
        lines = f.read().split("\n")
    for no, line in enumerate(lines, 1):
        if line.startswith("## "):
            if examples:
                sections.append((title, examples))
            title, examples = line[3:].strip(), []
            in_block = False
            continue
        indented = line.startswith(INDENT)
        if indented and line[len(INDENT):].startswith(PROMPT):
            examples.append((line[len(INDENT) + len(PROMPT):], [], no))
            in_block = True
        elif indented and in_block:
            examples[-1][1].append(line[len(INDENT):])
        else:
            in_block = False
    if examples:
        sections.append((title, examples))
    return sections


def run_redis_cli(port, args, timeout=10.0):
    """Runs redis-cli -p port args with its stdout on a pseudo-terminal;
    returns (stdout lines, stderr, exit code)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(["redis-cli", "-p", str(port)] + args,
                             stdin=subprocess.DEVNULL, stdout=slave,
                             stderr=subprocess.PIPE)
    finally:
        os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                p.kill()
                raise TestFailure("redis-cli %s did not finish in %.0f s" % (" ".join(args), timeout))
            r, _, _ = select.select([master], [], [], left)
            if not r:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    err = p.stderr.read().decode("utf-8", "replace")
    p.stderr.close()
    rc = p.wait(timeout)
    text = out.decode("utf-8", "replace").replace("\r\n", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines, err, rc


# The documented value of a varying field is the line after its name.
VARYING = re.compile(r'^(\s*\d+\) )"lease_left_ms"$')
INTEGER = re.compile(r"^(\s*\d+\) )\(integer\) (\d+)$")


def compare(expected, actual):
    """None if actual matches expected, else a description of the first
    difference."""
    if len(expected) != len(actual):
        return "expected %d lines, got %d" % (len(expected), len(actual))
    varying_next = False
    for i, (e, a) in enumerate(zip(expected, actual)):
        if varying_next:
            me, ma = INTEGER.match(e), INTEGER.match(a)
            if me and ma and me.group(1) == ma.group(1) and 0 < int(ma.group(2)) <= int(me.group(2)):
                varying_next = False
                continue
            return "line %d: expected an integer in (0, %s] as %r, got %r" % (
                i + 1, me.group(2) if me else "?", e, a)
        if e != a:
            return "line %d: expected %r, got %r" % (i + 1, e, a)
        varying_next = bool(VARYING.match(e))
    return None


def run_section(ctx, title, examples):
    srv = ctx.single()
    for args_line, expected, no in examples:
        args = shlex.split(args_line)
        actual, err, rc = run_redis_cli(srv.port, args)
        diff = compare(expected, actual)
        if diff is not None:
            raise TestFailure(
                "docs/protocol.md:%d `redis-cli %s`: %s\n  expected:\n%s\n  actual:\n%s%s" % (
                    no, args_line, diff,
                    "\n".join("    | " + l for l in expected),
                    "\n".join("    | " + l for l in actual),
                    "\n  stderr: " + err.strip() if err.strip() else ""))
        check(rc == 0, "docs/protocol.md:%d: redis-cli exited with %d" % (no, rc))
        check(srv.alive(), "dlockd exited during docs/protocol.md:%d" % no)


def _section_test(title, examples):
    def test(ctx):
        run_section(ctx, title, examples)
    return test


# One test per section with examples, named after its number and title.
for _title, _examples in parse_doc():
    _name = "test_doc_" + re.sub(r"[^a-z0-9]+", "_", _title.lower()).strip("_")
    globals()[_name] = _section_test(_title, _examples)


def test_doc_has_examples(ctx):
    """The parser finds the examples (a doc reshaped beyond it would
    otherwise pass silently): sections 3 to 6, each example with output."""
    sections = parse_doc()
    titles = [t for t, _ in sections]
    check(len(sections) >= 4, "sections with examples: %r" % titles)
    n = sum(len(e) for _, e in sections)
    check(n >= 25, "only %d examples found" % n)
    for t, examples in sections:
        for args, expected, no in examples:
            check(expected, "docs/protocol.md:%d: an example without output" % no)


def test_compare_catches_differences(ctx):
    """The comparison fails on a changed line, a missing line and a
    lease_left_ms out of its range, and accepts one within it."""
    exp = [' 7) "lease_left_ms"', " 8) (integer) 10000"]
    check(compare(exp, [' 7) "lease_left_ms"', " 8) (integer) 9990"]) is None)
    check(compare(exp, [' 7) "lease_left_ms"', " 8) (integer) 10001"]) is not None)
    check(compare(exp, [' 7) "lease_left_ms"', " 8) (integer) 0"]) is not None)
    check(compare(exp, [' 7) "lease_left_ms"']) is not None)
    check(compare(["(integer) 2"], ["(integer) 3"]) is not None)
