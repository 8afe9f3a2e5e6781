"""test_check.py - the fault campaign's checker (check.py) against made-up
run directories: a clean one passes, and each kind of violation planted in
a copy is found, by its kind. Prints "N passed, N failed".

    python3 tests/faults/test_check.py
"""

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

MS = 1000000  # nanoseconds


def line(t_ms, worker, what, op, lock, token, safe=0, detail="-", server="127.0.0.11:1"):
    return "%d %d %s %s %s %d %s %d %s\n" % (t_ms * MS, worker, what, op, lock, token, server,
                                           safe, detail)


def hold(worker, lock, token, t, safe_until, release=True, write_ok=True):
    """The lines of one round: acquire at t (10 ms), two writes, release."""
    out = [line(t, worker, "invoke", "acquire", lock, 0),
           line(t + 10, worker, "ok", "acquire", lock, token, safe_until)]
    for i in range(2):
        w = t + 20 + 10 * i
        out += [line(w, worker, "invoke", "write", lock, token, safe_until, "s"),
                line(w + 1, worker, "ok" if write_ok else "fail", "write", lock, token,
                     safe_until, "s")]
    if release:
        out += [line(t + 50, worker, "invoke", "release", lock, token),
                line(t + 60, worker, "ok", "release", lock, token)]
    return out


def share(worker, lock, token, t, safe_until, release=True, op="share"):
    """The lines of a round that writes nothing (a reader's, a permit's, a
    leader's: op): granted at t (10 ms), release."""
    out = [line(t, worker, "invoke", op, lock, 0),
           line(t + 10, worker, "ok", op, lock, token, safe_until)]
    if release:
        out += [line(t + 50, worker, "invoke", "release", lock, token),
                line(t + 60, worker, "ok", "release", lock, token)]
    return out


def clean_run():
    """Two workers taking l0 in turns; server 1 and 2 read back alike."""
    hist = {0: [], 1: []}
    reg = []
    replay = ["base 0 0\n"]
    idx = 1
    for k in range(6):
        w, token, t = k % 2, k + 1, 1000 + 100 * k
        hist[w] += hold(w, "l0", token, t, t + 1500)
        reg += ["accepted token %d: l0 = w%d-%d\n" % (token, w, k)] * 2
        replay += ["held %d l0 %d 7\n" % (idx, token), "free %d l0 %d\n" % (idx + 1, token)]
        idx += 2
    replay.append("end %d %d\n" % (idx, 6))
    return {"history.0": hist[0], "history.1": hist[1], "stores/l0.log": reg,
            "replay.1": replay, "replay.2": list(replay), "fast-clock": []}


def write_run(files):
    d = tempfile.mkdtemp(prefix="dlock-check-test-")
    os.makedirs(os.path.join(d, "stores"))
    for name, lines in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.writelines(lines)
    return d


def kinds_of(files):
    d = write_run(files)
    try:
        _, violations = check.check_dir(d)
    finally:
        shutil.rmtree(d)
    return sorted({k for k, _ in violations})


def planted():
    """(name, files, the kind that must be found)."""
    cases = []

    f = clean_run()
    f["stores/l0.log"].append("accepted token 3: l0 = late\n")
    cases.append(("a register accepting a lower token", f, "register-regressed"))

    f = clean_run()
    # Worker 1 is granted token 2 again, later: a duplicate, out of order.
    f["history.1"] += hold(1, "l0", 2, 5000, 6500)
    cases.append(("one token granted twice", f, "token-duplicate"))

    f = clean_run()
    f["history.1"] += hold(1, "l0", 3, 5000, 6500)
    cases.append(("a lower token after a higher one completed", f, "token-order"))

    f = clean_run()
    # Worker 0 holds token 7 (safe until 9000 ms), never releases; worker 1
    # is granted token 8 at 7010 ms.
    f["history.0"] += hold(0, "l0", 7, 6000, 9000, release=False)
    f["history.1"] += hold(1, "l0", 8, 7000, 10000)
    cases.append(("a grant inside another holder's safe-until", f, "lease-overlap"))

    f = clean_run()
    # Worker 0 reads under token 7 (safe until 9000 ms), never releases;
    # worker 1 is granted the lock exclusive, token 8, at 7010 ms.
    f["history.0"] += share(0, "l0", 7, 6000, 9000, release=False)
    f["history.1"] += hold(1, "l0", 8, 7000, 10000)
    cases.append(("a writer granted beside a reader", f, "lease-overlap"))

    f = clean_run()
    f["history.0"] += hold(0, "l0", 7, 6000, 9000, release=False)
    f["history.1"] += share(1, "l0", 8, 7000, 10000)
    cases.append(("a reader granted beside a writer", f, "lease-overlap"))

    f = clean_run()
    for w, tok in ((0, 7), (1, 8), (2, 9)):
        f.setdefault("history.%d" % w, [])
        f["history.%d" % w] += share(w, "l3", tok, 6000 + 100 * w, 9000, release=False,
                                     op="permit")
    cases.append(("a third permit of two", f, "permits-exceeded"))

    f = clean_run()
    f["history.0"] += share(0, "l4", 7, 6000, 9000, release=False, op="lead")
    f["history.1"] += share(1, "l4", 8, 7000, 10000, op="lead")
    cases.append(("two leaders at once", f, "lease-overlap"))

    f = clean_run()
    f["replay.2"] = [l for l in f["replay.2"] if not l.startswith("held 5 ")]
    cases.append(("replicas disagreeing", f, "replica-divergence"))

    f = clean_run()
    for r in ("replay.1", "replay.2"):
        f[r] = [l for l in f[r] if not l.startswith("held 5 ") and not l.startswith("free 6 ")]
    cases.append(("an acknowledged grant missing from every replica", f, "grant-lost"))

    f = clean_run()
    for r in ("replay.1", "replay.2"):
        f[r] = [l for l in f[r] if not l.startswith("free 6 ")]
    cases.append(("an acknowledged release missing", f, "release-lost"))

    f = clean_run()
    for r in ("replay.1", "replay.2"):
        f[r] = [l.replace("held 7 l0 4", "held 7 l0 2") for l in f[r]]
    cases.append(("a replica granting a token not above the last", f, "replica-token-order"))

    f = clean_run()
    f["tail"] = ["%d %d\n" % (4000 * MS, 9000 * MS)]
    f["history.0"] += [line(5000, 0, "invoke", "acquire", "l0", 0),
                       line(7000, 0, "fail", "acquire", "l0", 0, 0, "EWAIT")]
    cases.append(("a waiter not served in the quiet tail", f, "tail-unserved"))

    f = clean_run()
    f["replay.1"].append("violation lock l0 held by an unknown session\n")
    cases.append(("a replica breaking the state machine's invariants", f, "replica-invalid"))
    return cases


def main():
    passed = failed = 0

    def report(ok, name, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print("ok   check.%s" % name)
        else:
            failed += 1
            print("FAIL check.%s %s" % (name, detail))

    found = kinds_of(clean_run())
    report(found == [], "clean_run_passes", "found %r" % found)

    # Two permits of two are held together: fine.
    f = clean_run()
    f["history.0"] += share(0, "l3", 7, 6000, 9000, release=False, op="permit")
    f["history.1"] += share(1, "l3", 8, 7000, 10000, op="permit")
    found = kinds_of(f)
    report(found == [], "two_permits_of_two", "found %r" % found)

    # Two readers hold together: no overlap.
    f = clean_run()
    f["history.0"] += share(0, "l0", 7, 6000, 9000, release=False)
    f["history.1"] += share(1, "l0", 8, 7000, 10000)
    found = kinds_of(f)
    report(found == [], "readers_share", "found %r" % found)

    # A grant within a fast-clock window is reported apart, not as a violation.
    f = clean_run()
    f["history.0"] += hold(0, "l0", 7, 6000, 9000, release=False)
    f["history.1"] += hold(1, "l0", 8, 7000, 10000)
    f["fast-clock"] = ["%d %d 1 2\n" % (6500 * MS, 7500 * MS)]
    d = write_run(f)
    try:
        summary, violations = check.check_dir(d)
    finally:
        shutil.rmtree(d)
    apart = summary["lease overlaps under a clock run fast on purpose"]
    report(apart == 1 and "lease-overlap" not in {k for k, _ in violations},
           "fast_clock_overlap_set_apart", "%d set apart, %r" % (apart, violations))

    # One entry granting two locks, the higher token printed first, and in
    # another order by another server, is fine.
    f = clean_run()
    f["replay.1"] = f["replay.1"][:-1] + ["held 20 l1 8 9\n", "held 20 l2 7 9\n", "end 20 8\n"]
    f["replay.2"] = f["replay.2"][:-1] + ["held 20 l2 7 9\n", "held 20 l1 8 9\n", "end 20 8\n"]
    found = kinds_of(f)
    report(found == [], "one_entry_granting_two_locks", "found %r" % found)

    for name, files, kind in planted():
        found = kinds_of(files)
        report(kind in found, name.replace(" ", "_").replace("'", ""), "expected %s, found %r" % (kind, found))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
