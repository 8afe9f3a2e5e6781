"""test_runner.py - the test runners themselves, fed fake tests: the house
harness (tests/harness.c) and its SKIP, this directory's run.py, and
tests/run.sh, which names each step's closing line, counts skipped tests
and lists them with their reasons (the shape CI reads: "N passed, N
failed" and ", N skipped")."""

import os
import re
import subprocess
import sys

import dlocktest
from dlocktest import check, eq

ROOT = dlocktest.ROOT
SUMMARY = re.compile(r"^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$")


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def run(argv, cwd=None, env=None):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=120, cwd=cwd, env=env)
    return r.returncode, r.stdout


HARNESS_TESTS = r"""
#include "harness.h"

TEST(s, passes) { CHECK_EQ(1, 1); }
TEST(s, fails) { CHECK_EQ(1, 2); }
TEST(s, skips) { SKIP("no %s here", "SSE4.2"); }
"""


def test_harness_skip(ctx):
    """A test that calls SKIP is counted as skipped, its reason on a line
    "SKIPPED suite.name: why"; the closing line adds ", N skipped" only when
    some test skipped."""
    src = os.path.join(ctx.dir, "t.c")
    write(src, HARNESS_TESTS)
    exe = os.path.join(ctx.dir, "t")
    san = ["-fsanitize=" + os.environ["SANITIZE"]] if os.environ.get("SANITIZE") else []
    rc, out = run(["cc", "-std=c11", "-D_GNU_SOURCE", "-I", os.path.join(ROOT, "tests"),
                   os.path.join(ROOT, "tests", "harness.c"), src, "-o", exe] + san)
    eq(rc, 0, "compiling the harness:\n%s" % out)
    rc, out = run([exe], env=dlocktest.tool_env())
    eq(rc, 1, "exit code:\n%s" % out)
    lines = out.splitlines()
    check("SKIPPED s.skips: no SSE4.2 here" in lines, "the skip's line:\n%s" % out)
    check(not any(l.startswith(("ok   s.skips", "FAIL s.skips")) for l in lines),
          "the skipped test is neither ok nor FAIL:\n%s" % out)
    eq(lines[-1], "1 passed, 1 failed, 1 skipped", "closing line")
    rc, out = run([exe, "passes"], env=dlocktest.tool_env())
    eq((rc, out.splitlines()[-1]), (0, "1 passed, 0 failed"), "without skips")


FAKE_SYSTEM_TESTS = """
import dlocktest


def test_a_passes(ctx):
    pass


def test_b_fails(ctx):
    dlocktest.check(False, "meant to fail")


def test_c_skips(ctx):
    raise dlocktest.Skip("no etcd here")
"""


def test_system_run_py_counts_skips(ctx):
    """run.py prints "SKIPPED name: why" for a test that raises Skip and
    closes with "N passed, N failed, N skipped"."""
    tests = os.path.join(ctx.dir, "fake")
    write(os.path.join(tests, "test_fake_steps.py"), FAKE_SYSTEM_TESTS)
    env = dict(os.environ, DLOCKTEST_DIR=tests)
    rc, out = run([sys.executable, os.path.join(ROOT, "tests", "system", "run.py")], env=env)
    eq(rc, 1, "exit code:\n%s" % out)
    lines = out.splitlines()
    check("SKIPPED test_fake_steps.test_c_skips: no etcd here" in lines, "the skip:\n%s" % out)
    eq(lines[-1], "1 passed, 1 failed, 1 skipped", "closing line")


def test_run_sh_names_steps_and_counts_skips(ctx):
    """tests/run.sh shows each step's closing line after the step's name
    (unit/, sim/, fuzz/ for the binaries, the command for commands, system
    for tests/system/run.py) and not bare; a step without one fails; the
    skipped tests come last with their reasons, then the sums, "N passed,
    N failed, N skipped"; the exit code is 1 when a step failed."""
    d = ctx.dir
    write(os.path.join(d, "b", "tests", "test_alpha"),
          "#!/bin/sh\necho 'ok   a.b (1 ms)'\necho 'FAIL a.c'\necho '1 passed, 1 failed'\nexit 1\n",
          0o755)
    write(os.path.join(d, "b", "tests", "sim_test_beta"),
          "#!/bin/sh\necho 'SKIPPED b.x: no SSE4.2'\necho '2 passed, 0 failed, 1 skipped'\n", 0o755)
    write(os.path.join(d, "b", "tests", "replay_gamma"),
          "#!/bin/sh\necho \"over $1\"\necho '3 passed, 0 failed'\n", 0o755)
    write(os.path.join(d, "b", "tests", "test_mute"), "#!/bin/sh\nexit 0\n", 0o755)
    write(os.path.join(d, "tests", "system", "run.py"),
          "print('SKIPPED test_bench.test_peer_etcd: etcd not installed')\n"
          "print('4 passed, 0 failed, 1 skipped')\n")
    rc, out = run(["sh", os.path.join(ROOT, "tests", "run.sh"), "b/tests/test_alpha",
                   "b/tests/sim_test_beta", "b/tests/replay_gamma@", "b/tests/test_mute",
                   "--", sys.executable, "tests/system/run.py", "--", "b/tests/test_alpha"],
                  cwd=d)
    eq(rc, 1, "exit code:\n%s" % out)
    lines = out.splitlines()
    for want in ("unit/test_alpha: 1 passed, 1 failed", "FAIL a.c",
                 "sim/test_beta: 2 passed, 0 failed, 1 skipped",
                 "over tests/fuzz/corpus/gamma", "fuzz/gamma: 3 passed, 0 failed",
                 "FAIL unit/test_mute: no summary line (exit 0)",
                 "system: 4 passed, 0 failed, 1 skipped", "test_alpha: 1 passed, 1 failed"):
        check(want in lines, "a line %r in:\n%s" % (want, out))
    check(not any(l.startswith("ok ") for l in lines), "ok lines are left out:\n%s" % out)
    bare = [l for l in lines[:-1] if SUMMARY.match(l)]
    eq(bare, [], "closing lines without a step's name")
    i = lines.index("skipped:")
    eq(lines[i + 1:], ["  sim/test_beta: b.x: no SSE4.2",
                       "  system: test_bench.test_peer_etcd: etcd not installed",
                       "11 passed, 3 failed, 2 skipped"], "the skipped tests, then the sums")
