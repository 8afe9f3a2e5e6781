"""Runs the Python client's tests with pytest and closes with the line
the repository's test runner sums (tests/run.sh): "N passed, N failed,
N skipped", each skip on a "SKIPPED name: reason" line before it.

    python3 clients/python/tests/run.py [pytest arguments]
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


class Count:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.skips = []

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failed += 1
        elif report.skipped:
            self.skipped += 1
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            self.skips.append("%s: %s" % (report.nodeid, reason))
        elif report.when == "call":
            self.passed += 1

    def pytest_collectreport(self, report):
        if report.failed:
            self.failed += 1


def main():
    try:
        import pytest
    except ImportError:
        print("FAIL clients/python: pytest is not installed (scripts/deps.sh installs "
              "python3-pytest; clients/python/requirements-test.txt pins it)")
        print("0 passed, 1 failed")
        return 1
    count = Count()
    rc = pytest.main(["-q", "-p", "no:cacheprovider", HERE] + sys.argv[1:], plugins=[count])
    for s in count.skips:
        print("SKIPPED %s" % s)
    line = "%d passed, %d failed" % (count.passed, count.failed)
    if count.skipped:
        line += ", %d skipped" % count.skipped
    print(line)
    return 0 if rc in (0, 5) and count.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
