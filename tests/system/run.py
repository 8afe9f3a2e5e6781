#!/usr/bin/python3
"""run.py - runs the system tests: every function named test_* in
tests/system/test_*.py, in file and definition order, each with a fresh
temporary directory and its own servers.

    python3 tests/system/run.py [FILTER...]

A test runs if its name ("module.function") contains one of the FILTER
words (all run without any). dlockd is $DLOCKD (default build/dlockd);
the tests are those of $DLOCKTEST_DIR (default this directory).
Prints "ok name (ms)" or "FAIL name: reason" with the tails of the server
logs, or "SKIPPED name: why" for a test that cannot run here (one that
needs root, or a peer system that is not installed), then "N passed, N
failed", with ", N skipped" when some were; exits 1 if any test failed.
The directory of a failed test is kept and named.
"""

import importlib
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.abspath(os.environ.get("DLOCKTEST_DIR", HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, TESTS)

import dlocktest  # noqa: E402

TEST_TIMEOUT_S = int(os.environ.get("DLOCKTEST_TIMEOUT", "120"))


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout("the test ran longer than %d s" % TEST_TIMEOUT_S)


def on_term(signum, frame):
    # Unwinds through the test's finally blocks, then atexit kills the rest.
    raise KeyboardInterrupt("signal %d" % signum)


def discover():
    tests = []
    for fn in sorted(os.listdir(TESTS)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        mod = importlib.import_module(fn[:-3])
        for name, obj in vars(mod).items():
            if name.startswith("test_") and callable(obj):
                tests.append(("%s.%s" % (mod.__name__, name), obj))
    return tests


def reason_of(exc):
    """One line for the report: the failed check, and where in the test."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = ""
    for fr in reversed(tb):
        if os.path.basename(fr.filename).startswith("test_"):
            where = " [%s:%d]" % (os.path.basename(fr.filename), fr.lineno)
            break
    text = str(exc) if isinstance(exc, (AssertionError, Timeout)) and str(exc) else \
        "%s: %s" % (type(exc).__name__, exc)
    return text + where


def run_one(name, fn, base):
    d = tempfile.mkdtemp(prefix=name.replace(".", "-") + "-", dir=base)
    ctx = dlocktest.Context(name, d)
    start = time.monotonic()
    failure = None
    signal.alarm(TEST_TIMEOUT_S)
    try:
        fn(ctx)
    except KeyboardInterrupt:
        signal.alarm(0)
        ctx.finish()
        raise
    except dlocktest.Skip as e:
        signal.alarm(0)
        ctx.finish()
        shutil.rmtree(d, ignore_errors=True)
        print("SKIPPED %s: %s" % (name, e), flush=True)
        return None
    except BaseException as e:  # any failure of a test is reported, not fatal
        failure = reason_of(e)
        if os.environ.get("DLOCKTEST_TRACE"):
            traceback.print_exc()
    finally:
        signal.alarm(0)
    problems = ctx.finish()
    ms = (time.monotonic() - start) * 1000
    if failure is None and problems:
        failure = problems[0]
        problems = problems[1:]
    if failure is None:
        print("ok %s (%.0f ms)" % (name, ms), flush=True)
        shutil.rmtree(d, ignore_errors=True)
        return True
    print("FAIL %s: %s" % (name, failure), flush=True)
    for p in problems:
        print("    also: %s" % p)
    print("    (%.0f ms; files kept in %s)" % (ms, d))
    print(ctx.log_tails())
    sys.stdout.flush()
    return False


def main(argv):
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    # A shell without job control starts background commands with SIGINT
    # and SIGQUIT ignored, which every process started here would inherit
    # (a dlock run that a test ends with SIGINT would then not end): caught
    # here, they are at their defaults again in the processes exec'd.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    binary = dlocktest.dlockd_path()
    if not os.access(binary, os.X_OK):
        print("FAIL setup: no dlockd at %s (make dlockd, or set DLOCKD)" % binary)
        print("0 passed, 1 failed")
        return 1
    filters = argv[1:]
    tests = [(n, f) for n, f in discover() if not filters or any(w in n for w in filters)]
    base = tempfile.mkdtemp(prefix="dlock-system-")
    passed = failed = skipped = 0
    t0 = time.monotonic()
    try:
        for name, fn in tests:
            ok = run_one(name, fn, base)
            if ok is None:
                skipped += 1
            elif ok:
                passed += 1
            else:
                failed += 1
    finally:
        dlocktest._kill_everything()
        try:
            os.rmdir(base)  # only if no failed test left its files
        except OSError:
            pass
    print("system tests with %s: %.1f s" % (binary, time.monotonic() - t0))
    print("%d passed, %d failed%s" % (passed, failed,
                                      ", %d skipped" % skipped if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
