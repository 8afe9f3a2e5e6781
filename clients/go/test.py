"""Runs the Go client's checks and tests against the build's dlockd (go vet,
go test -race, and a short run of its fuzz target), builds the conformance
suite's Go driver, and closes with the line the repository's test runner
sums: "N passed, N failed[, N skipped]". Without a go command it says so on
a SKIPPED line.

    python3 clients/go/test.py        ($DLOCKD: the server, default build/dlockd;
                                       $CONFORMANCE_GO: where the driver goes)
"""

import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    go = shutil.which("go")
    if not go:
        print("SKIPPED clients/go: no go command (scripts/deps.sh installs golang-go)")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    env = dict(os.environ, DLOCKD=os.path.abspath(
        os.environ.get("DLOCKD") or os.path.join(ROOT, "build", "dlockd")),
        GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    passed = failed = 0
    for what, argv in (("go vet", [go, "vet", "./..."]),
                       ("the conformance driver", [go, "build", "-o", os.path.abspath(
                           os.environ.get("CONFORMANCE_GO") or os.path.join(
                               ROOT, "build", "tests", "conformance-go")),
                           "./cmd/dlock-conformance"])):
        r = subprocess.run(argv, cwd=HERE, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            print("FAIL clients/go: %s: %s" % (what, r.stdout + r.stderr))
            failed += 1
        else:
            passed += 1
    r = subprocess.run([go, "test", "-race", "-count=1", "-json", "./..."], cwd=HERE, env=env,
                       capture_output=True, text=True)
    for line in r.stdout.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("Test") and ev.get("Action") == "pass":
            passed += 1
        elif ev.get("Test") and ev.get("Action") == "fail":
            failed += 1
            print("FAIL clients/go: %s" % ev["Test"])
    if r.returncode != 0 and failed == 0:
        print("FAIL clients/go: go test: %s" % (r.stdout[-3000:] + r.stderr[-3000:]))
        failed += 1
    if r.returncode != 0:
        for line in r.stdout.splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("Action") == "output" and ev.get("Test"):
                sys.stdout.write(ev["Output"])
    r = subprocess.run([go, "test", "-run", "^$", "-fuzz", "FuzzReader", "-fuzztime", "5s", "."],
                       cwd=HERE, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL clients/go: the fuzz target: %s" % (r.stdout + r.stderr)[-3000:])
        failed += 1
    else:
        passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
