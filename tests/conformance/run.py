"""run.py - the client conformance suite (README.md): each scenario against
real dlockd processes, for each client's driver.

    python3 tests/conformance/run.py [--driver python|libdlock|java|go|node] [--scenario NAME]

Environment: $DLOCKD (the server), $CONFORMANCE_LIBDLOCK (the libdlock
driver, default build/tests/conformance-libdlock), $CONFORMANCE_GO (the Go
driver, default build/tests/conformance-go), $FENCED_STORE (default
build/faults-fenced-store). Prints "ok DRIVER/SCENARIO" or "FAIL ...", and
closes with "N passed, N failed". Standard library only.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))

import dlocktest  # noqa: E402
from dlock import _resp  # noqa: E402 - the proxy parses requests with it
from dlocktest import as_map, check, eq, wait_for  # noqa: E402

WRITES = ("SESSION.OPEN", "SESSION.CLOSE", "LOCK.ACQUIRE", "LOCK.RELEASE", "LOCK.DOWNGRADE",
          "SEM.ACQUIRE", "SEM.RELEASE", "ELECT.CAMPAIGN", "ELECT.PROCLAIM", "ELECT.RESIGN")


def build_path(var, default):
    return dlocktest.binary_path(var, default)


JAVA = os.path.join(ROOT, "clients", "java", "dlock-client", "target")


def drivers():
    """Each driver's argv, and why it cannot run here (None: it can)."""
    libdlock = build_path("CONFORMANCE_LIBDLOCK", "build/tests/conformance-libdlock")
    classes = [os.path.join(JAVA, "classes"), os.path.join(JAVA, "test-classes")]
    java = shutil.which("java")
    godriver = build_path("CONFORMANCE_GO", "build/tests/conformance-go")
    return {
        "python": ([sys.executable, os.path.join(HERE, "drivers", "python_driver.py")], None),
        "libdlock": ([libdlock], None if os.access(libdlock, os.X_OK)
                     else "no driver at %s" % libdlock),
        "go": ([godriver], None if os.access(godriver, os.X_OK) else
               "the Go driver is not built (clients/go/test.py builds it)"),
        "node": ([shutil.which("node") or "node",
                  os.path.join(ROOT, "clients", "node", "conformance.js")],
                 None if shutil.which("node") and os.path.exists(
                     os.path.join(ROOT, "clients", "node", "dist", "index.js"))
                 else "the Node.js client is not built (clients/node/test.py builds it)"),
        "java": ([java or "java", "-cp", ":".join(classes), "org.dlock.client.ConformanceDriver"],
                 None if java and os.path.isdir(classes[1]) else
                 "the Java client is not built (mvn -f clients/java test-compile)"),
    }


class DriverError(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


class Driver:
    """A driver process: commands in, answers and events out."""

    def __init__(self, argv, d):
        self.log = open(os.path.join(d, "driver.err"), "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, bufsize=1,
                                     preexec_fn=dlocktest._die_with_parent)
        self.cv = threading.Condition()
        self.answers, self.events, self.tag = {}, [], 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            words = line.split()
            with self.cv:
                if words[:1] == ["event"]:
                    self.events.append(words[1:])
                elif words:
                    self.answers[words[0]] = words[1:]
                self.cv.notify_all()

    def start(self, verb, *args):
        with self.cv:
            self.tag += 1
            tag = str(self.tag)
        self.proc.stdin.write(" ".join([tag, verb] + [str(a) for a in args]) + "\n")
        self.proc.stdin.flush()
        return tag

    def result(self, tag, timeout=30.0):
        with self.cv:
            if not self.cv.wait_for(lambda: tag in self.answers, timeout):
                raise AssertionError("the driver did not answer command %s in %.0f s"
                                     % (tag, timeout))
            a = self.answers.pop(tag)
        if a[0] != "ok":
            raise DriverError(a[1] if len(a) > 1 else "?")
        return int(a[1]) if len(a) > 1 else None

    def call(self, verb, *args, timeout=30.0):
        return self.result(self.start(verb, *args), timeout)

    def saw_event(self, *words, timeout=5.0):
        with self.cv:
            return self.cv.wait_for(lambda: list(words) in self.events, timeout)

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Proxy:
    """A TCP proxy in front of one server that records every request."""

    def __init__(self, target):
        self.target = dlocktest.split_addr(target)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.requests = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(c, s, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, False), daemon=True).start()

    def _pipe(self, a, b, record):
        reader = _resp.Reader()
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if record:
                    reader.feed(data)
                    while True:
                        v = reader.get()
                        if v is _resp.NOTHING:
                            break
                        self.requests.append([x.decode("utf-8", "replace") for x in v])
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.sock.close()


def holder_session(addrs, ttl=30000):
    lc = dlocktest.LeaderClient(addrs)
    return lc, lc.call("SESSION.OPEN", ttl)


def status(addrs, name):
    return as_map(dlocktest.call_at_leader(addrs, "LOCK.STATUS", name)[0])


# ---- the scenarios: each gets a Context and the driver's argv ------------

def sc_redirect(ctx, argv):
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    follower = [s for s in cl.servers if s.id != leader.id][0]
    d = ctx.driver(argv)
    d.call("open", ",".join([follower.addr] + [s.addr for s in cl.servers
                                               if s is not follower]), 3000)
    token = d.call("acquire", "r", 0)
    st = as_map(leader.client().call("LOCK.STATUS", "r"))
    eq((st["held"], st["token"]), (1, token), "the grant, at the leader")
    d.call("release", "r")
    d.call("close")


def sc_failover_held(ctx, argv):
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    d = ctx.driver(argv)
    d.call("open", ",".join(cl.addrs()), 3000)
    token = d.call("acquire", "fh", 0)
    leader.kill()
    cl.wait_leader(among=cl.live(), other_than=leader.id)
    eq(status(cl.addrs(), "fh")["token"], token, "the token at the new leader")
    time.sleep(2.0)  # past a keepalive or two at the new leader
    eq(d.call("lost", "fh"), 0, "not reported lost")
    d.call("release", "fh")
    eq(status(cl.addrs(), "fh")["held"], 0, "released at the new leader")
    d.call("close")


def sc_failover_wait(ctx, argv):
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    lc, sid = holder_session(cl.addrs())
    t0 = lc.call("LOCK.ACQUIRE", "fw", sid, "REQ", "h-1")
    d = ctx.driver(argv)
    d.call("open", ",".join(cl.addrs()), 3000)
    tag = d.start("acquire", "fw", 20000)
    wait_for(lambda: status(cl.addrs(), "fw")["waiters"] == 1, 10, "the driver waiting")
    leader.kill()
    cl.wait_leader(among=cl.live(), other_than=leader.id)
    lc.call("SESSION.KEEPALIVE", sid)
    time.sleep(1.0)  # the driver repeats its acquire with its REQ there
    lc.call("LOCK.RELEASE", "fw", sid, "REQ", "h-2")
    token = d.result(tag, 20)
    check(token > t0, "the waiter's token %d above the holder's %d" % (token, t0))
    st = status(cl.addrs(), "fw")
    eq((st["token"], st["waiters"]), (token, 0), "held by the waiter, nobody left waiting")
    d.call("release", "fw")
    d.call("close")
    lc.close()


def sc_paused_holder(ctx, argv):
    srv = ctx.single()
    store_sock = os.path.join(ctx.dir, "store.sock")
    store = build_path("FENCED_STORE", "build/faults-fenced-store")
    p = subprocess.Popen([store, "serve", store_sock], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=dlocktest._die_with_parent)
    ctx.defer(lambda: (p.terminate(), p.wait()))
    wait_for(lambda: os.path.exists(store_sock), 5, "the fenced store")

    def write(token, value):
        return subprocess.run([store, "write", store_sock, str(token), "k", value],
                              capture_output=True, text=True).stdout.strip()

    d = ctx.driver(argv)
    d.call("open", srv.addr, 1000)
    t1 = d.call("acquire", "ph", 0)
    eq(write(t1, "first"), "OK", "the holder's write")
    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(1.0 + 1.0 + 0.5)  # the lease, the lock-delay, a margin
        lc, sid = holder_session(srv.addr)
        t2 = lc.call("LOCK.ACQUIRE", "ph", sid, "WAIT", 5000, "REQ", "n-1")
        check(t2 > t1, "the new holder's token %d above %d" % (t2, t1))
        eq(write(t2, "second"), "OK", "the new holder's write")
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    check(d.saw_event("lost", "ph", timeout=3) or d.call("lost", "ph") == 1,
          "the paused holder is told it lost the lock")
    eq(d.call("safe", "ph"), 0, "its safe-until is over")
    eq(write(t1, "late"), "STALE", "the fenced store refuses the old token")
    lc.close()


def sc_keepalive(ctx, argv):
    srv = ctx.single()
    d = ctx.driver(argv)
    sid = d.call("open", srv.addr, 1500)
    d.call("acquire", "ka", 0)
    c = srv.client()
    low, end = 1500, time.monotonic() + 6.0
    while time.monotonic() < end:
        low = min(low, as_map(c.call("SESSION.INFO", sid))["lease_left_ms"])
        time.sleep(0.05)
    check(low >= 750, "the lease fell to %d ms of 1500: renewed too late" % low)
    d.call("release", "ka")
    d.call("close")


def sc_request_ids(ctx, argv):
    srv = ctx.single()
    proxy = Proxy(srv.addr)
    ctx.defer(proxy.close)
    d = ctx.driver(argv)
    d.call("open", proxy.addr, 3000)
    d.call("acquire", "rq", 0)
    d.call("acquire", "rq2", 2000)
    d.call("release", "rq")
    d.call("release", "rq2")
    d.call("close")
    writes = [r for r in proxy.requests if r and r[0].upper() in WRITES]
    check(len(writes) >= 6, "the writes were recorded: %r" % proxy.requests)
    missing = [r for r in writes if "REQ" not in [w.upper() for w in r]]
    eq(missing, [], "writes sent without a request id")


def sc_give_up(ctx, argv):
    srv = ctx.single(extra=["--wait-grace-ms", "500"])
    lc, sid = holder_session(srv.addr)
    lc.call("LOCK.ACQUIRE", "gu", sid, "REQ", "h-1")
    d = ctx.driver(argv)
    d.call("open", srv.addr, 3000)
    d.start("acquire", "gu", 20000)
    wait_for(lambda: status(srv.addr, "gu")["waiters"] == 1, 10, "the driver waiting")
    d.proc.kill()  # the caller gives up: its process is gone
    d.proc.wait()
    lc.call("LOCK.RELEASE", "gu", sid, "REQ", "h-2")
    st = wait_for(lambda: (lambda s: s if s["held"] == 0 and s["waiters"] == 0 else None)(
        status(srv.addr, "gu")), 5, "nobody holding gu")
    eq(st["held"], 0, "held")
    lc.close()


def sc_close_releases(ctx, argv):
    srv = ctx.single()
    d = ctx.driver(argv)
    d.call("open", srv.addr, 30000)
    d.call("acquire", "cr", 0)
    d.call("close")
    lc, sid = holder_session(srv.addr)
    v = lc.try_call("LOCK.ACQUIRE", "cr", sid)
    check(isinstance(v, int), "taken at once after the close, not after a lease: %r" % v)
    lc.close()


SCENARIOS = [("redirect", sc_redirect), ("failover-held", sc_failover_held),
             ("failover-wait", sc_failover_wait), ("paused-holder", sc_paused_holder),
             ("keepalive", sc_keepalive), ("request-ids", sc_request_ids),
             ("give-up", sc_give_up), ("close-releases", sc_close_releases)]


class Ctx(dlocktest.Context):
    def driver(self, argv):
        d = Driver(argv, self.dir)
        self.defer(d.stop)
        return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--driver", action="append", default=[])
    ap.add_argument("--scenario", action="append", default=[])
    args = ap.parse_args()
    all_drivers = drivers()
    passed = failed = skipped = 0
    for dname in args.driver or list(all_drivers):
        argv, why_not = all_drivers[dname]
        if why_not:
            print("SKIPPED %s: %s" % (dname, why_not))
            skipped += 1
            continue
        for sname, fn in SCENARIOS:
            if args.scenario and sname not in args.scenario:
                continue
            d = tempfile.mkdtemp(prefix="dlock-conf-")
            ctx = Ctx("%s-%s" % (dname, sname), d)
            t0 = time.monotonic()
            try:
                fn(ctx, argv)
                problems = ctx.finish()
                if problems:
                    raise AssertionError("; ".join(problems))
                print("ok %s/%s (%d ms)" % (dname, sname, (time.monotonic() - t0) * 1000),
                      flush=True)
                passed += 1
            except Exception as e:  # noqa: BLE001 - reported as the scenario's failure
                try:
                    ctx.finish()
                except Exception:  # noqa: BLE001
                    pass
                print("FAIL %s/%s: %s" % (dname, sname, e), flush=True)
                if not isinstance(e, AssertionError):
                    traceback.print_exc()
                print("    (files kept in %s)" % d)
                failed += 1
    line = "%d passed, %d failed" % (passed, failed)
    print(line + (", %d skipped" % skipped if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
