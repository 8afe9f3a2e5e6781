"""Builds the Node.js client (npm ci, then tsc) and runs its tests (node
--test) against the build's dlockd; closes with the line the repository's
test runner sums: "N passed, N failed[, N skipped]". The build also serves
the conformance suite's Node.js driver (conformance.js). Without node and
npm, or when the npm registry cannot be reached, it says so on a SKIPPED
line.

    python3 clients/node/test.py        ($DLOCKD: the server, default build/dlockd)
"""

import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def skip(why):
    print("SKIPPED clients/node: %s" % why)
    print("0 passed, 0 failed, 1 skipped")
    return 0


def main():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return skip("no node or npm (scripts/deps.sh installs nodejs and npm)")
    env = dict(os.environ, DLOCKD=os.path.abspath(
        os.environ.get("DLOCKD") or os.path.join(ROOT, "build", "dlockd")))
    lock = open(os.path.join(HERE, "package-lock.json")).read()
    stamp = os.path.join(HERE, "node_modules", ".installed-lock.json")
    if not os.path.exists(stamp) or open(stamp).read() != lock:
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True,
                           text=True)
        if r.returncode != 0:
            if re.search(r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|network", r.stderr):
                return skip("the npm registry cannot be reached: %s"
                            % r.stderr.strip().splitlines()[-1])
            print("FAIL clients/node: npm ci: %s" % r.stderr)
            print("0 passed, 1 failed")
            return 1
        with open(stamp, "w") as f:
            f.write(lock)
    r = subprocess.run([npm, "run", "-s", "build"], cwd=HERE, capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL clients/node: the build: %s" % (r.stdout + r.stderr))
        print("0 passed, 1 failed")
        return 1
    tests = sorted(os.path.join("test", f) for f in os.listdir(os.path.join(HERE, "test"))
                   if f.endswith(".test.js"))
    r = subprocess.run([node, "--test", "--test-reporter=tap"] + tests, cwd=HERE, env=env,
                       capture_output=True, text=True)
    passed = int((re.search(r"^# pass (\d+)", r.stdout, re.M) or [0, 0])[1])
    failed = int((re.search(r"^# fail (\d+)", r.stdout, re.M) or [0, 0])[1])
    if r.returncode != 0:
        print(r.stdout[-6000:] + r.stderr[-2000:])
        failed = max(failed, 1)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
