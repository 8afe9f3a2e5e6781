"""test_status_page.py - the status page in a real browser: Debian's
chromium driven by playwright-core (tests/browser, pinned by its
package-lock.json and installed into the build directory once) against a
3-server cluster with a holder, a waiter and a steady stream of grants. The
page must show the holder's row, the members, the ready badge, charts that
drew, then say that the server does not answer once it is stopped; the
screenshots it takes are checked (PNG, size) and kept in the build
directory (status-page/)."""

import json
import os
import queue
import shutil
import signal
import struct
import subprocess
import threading
import time

import dlocktest
from dlocktest import Skip, check, eq, wait_for
from test_metrics import holder_and_waiter

BROWSER_DIR = os.path.join(dlocktest.ROOT, "tests", "browser")


def chromium():
    for path in (os.environ.get("CHROMIUM"), "/usr/bin/chromium"):
        if path and os.access(path, os.X_OK):
            return path
    raise Skip("no chromium (Debian's package chromium; CI installs it)")


def png_size(path):
    """The width and height of the PNG at path (its IHDR), or fail."""
    with open(path, "rb") as f:
        head = f.read(24)
    check(head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", "%s is not a PNG" % path)
    return struct.unpack(">II", head[16:24])


def line_reader(p):
    """A queue of p's stdout lines (None at its end), read by a thread: a
    browser that hangs cannot hang the test."""
    q = queue.Queue()

    def run():
        for line in p.stdout:
            q.put(line)
        q.put(None)

    threading.Thread(target=run, daemon=True).start()
    return q


def test_status_page_in_chromium(ctx):
    browser = chromium()
    node, env = dlocktest.npm_packages(BROWSER_DIR, "browser-node")
    env["CHROMIUM"] = browser
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    _, _, token, waiter = holder_and_waiter(leader, "invoicer-1", 60000)
    # A stream of grants, for the charts.
    stop = threading.Event()

    def churn():
        with leader.client() as k:
            s = k.call("SESSION.OPEN", 60000)
            while not stop.is_set():
                k.call("LOCK.ACQUIRE", "churn", s)
                k.call("LOCK.RELEASE", "churn", s)
                time.sleep(0.01)

    t = threading.Thread(target=churn, daemon=True)
    t.start()
    outdir = os.path.join(os.path.dirname(dlocktest.dlockd_path()), "status-page")
    shutil.rmtree(outdir, ignore_errors=True)
    p = subprocess.Popen([node, os.path.join(BROWSER_DIR, "status_page.js"),
                          "http://%s/" % leader.http_addr, outdir, "invoices/2026-12", "worker-7"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, start_new_session=True)
    try:
        said = []
        lines = line_reader(p)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if line is None:
                break
            said.append(json.loads(line))
            if "waiting_for" in said[-1]:
                break
        if not (said and "waiting_for" in said[-1]):
            os.killpg(p.pid, signal.SIGKILL)
            raise AssertionError("the page's checks: %r; stderr %s" % (said, p.stderr.read()))
        row = said[0]["holder_row"]
        eq(row[5], str(token), "the token shown")
        stop.set()
        t.join(10)
        leader.kill()
        p.stdin.write("stopped\n")
        p.stdin.close()
        rest = []
        while not rest or "error_shown" not in rest[-1]:
            line = lines.get(timeout=60)
            if line is None:
                break
            rest.append(line)
        eq(p.wait(30), 0, "status_page.js (stderr %r)" % p.stderr.read())
        check(any("The server does not answer" in l for l in rest), rest)
    finally:
        stop.set()
        try:
            os.killpg(p.pid, signal.SIGKILL)  # node and the browser it started
        except ProcessLookupError:
            pass
        p.wait()
    width, height = png_size(os.path.join(outdir, "status-page.png"))
    check(width == 1280 and height >= 900, "the page's screenshot is %dx%d" % (width, height))
    width, height = png_size(os.path.join(outdir, "holder-row.png"))
    check(width > 600 and 15 < height < 80, "the holder row's screenshot is %dx%d" % (width, height))
    png_size(os.path.join(outdir, "status-page-down.png"))
