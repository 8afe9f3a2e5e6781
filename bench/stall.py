#!/usr/bin/python3
"""stall.py - how long one dlockd stops answering while clients pipeline
lock-table reads (issue 14, item 1), with a session kept alive beside them.

    python3 bench/stall.py [--dlockd build/dlockd] [--locks 1000000]
                           [--small 60] [--pages 60] [--clients 4]
                           [--servers 1|3|5]

Starts one dlockd (or a cluster of --servers, and works at its leader) on
127.0.0.1 with its data in a temporary directory and fills it with --locks held locks (pipelined LOCK.ACQUIREs). Then, while a
thread pings every 10 ms and another keeps a session with a 2 s TTL alive
every 250 ms, --clients connections each pipeline --small LOCK.LIST "" COUNT 1
and --pages LOCK.LIST "" COUNT 100000 (a page of up to 1 MiB) and read the
replies. Prints the longest PING and keepalive answers, whether the session
was lost, and INFO's loop_longest_turn_ms after CONFIG RESETSTAT (the
longest loop turn while the lists ran, where the server reports it) and,
for a cluster, whether the leader kept its leadership. Standard library
only; the servers are stopped by pid.
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

from rawresp import cmd, free_port


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.buf = b""
        self.at = 0

    def _more(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed")
        self.buf = self.buf[self.at:] + chunk
        self.at = 0

    def line(self):
        while True:
            end = self.buf.find(b"\r\n", self.at)
            if end >= 0:
                line, self.at = self.buf[self.at:end], end + 2
                return line
            self._more()

    def exact(self, n):
        while len(self.buf) - self.at < n + 2:
            self._more()
        data = self.buf[self.at:self.at + n]
        self.at += n + 2
        return data

    def value(self):
        line = self.line()
        t, rest = line[:1], line[1:]
        if t in b"+-:":
            return rest.decode() if t != b":" else int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.exact(n)
        if t in b"*%":
            n = int(rest) * (2 if t == b"%" else 1)
            return [self.value() for _ in range(max(n, 0))]
        raise ValueError("unexpected %r" % line)

    def call(self, *args):
        self.s.sendall(cmd(*args))
        return self.value()


def raft_info(c):
    v = c.call("INFO", "raft")
    return v.decode() if isinstance(v, bytes) else v


def term_of(info):
    return int([l for l in info.splitlines() if l.startswith("term:")][0].split(":")[1])


def fill(port, n):
    c = Conn(port)
    sid = c.call("SESSION.OPEN", 3600000)
    for at in range(0, n, 20000):
        part = range(at, min(n, at + 20000))
        c.s.sendall(b"".join(cmd("LOCK.ACQUIRE", "lock:%08d" % i, sid) for i in part))
        for _ in part:
            c.value()
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlockd", default="build/dlockd")
    ap.add_argument("--locks", type=int, default=1000000)
    ap.add_argument("--small", type=int, default=60)
    ap.add_argument("--pages", type=int, default=60)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--servers", type=int, default=1, choices=(1, 3, 5))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="dlock-stall-")
    ports = [(free_port(), free_port()) for _ in range(a.servers)]
    peers = ",".join("%d=127.0.0.1:%d" % (i + 1, r) for i, (_, r) in enumerate(ports))
    procs, logs = [], []
    for i, (p, r) in enumerate(ports):
        args = [a.dlockd, "--id", str(i + 1), "--listen", "127.0.0.1:%d" % p,
                "--raft", "127.0.0.1:%d" % r, "--http", "off", "--data", os.path.join(tmp, "data%d" % (i + 1))]
        if a.servers > 1:
            args += ["--peers", peers]
        logs.append(open(os.path.join(tmp, "dlockd%d.log" % (i + 1)), "w"))
        procs.append(subprocess.Popen(args, stdout=logs[-1], stderr=logs[-1]))
    try:
        port = None
        for _ in range(400):
            for p, _ in ports:
                try:
                    if "role:leader" in raft_info(Conn(p)):
                        port = p
                except OSError:
                    pass
            if port is not None:
                break
            time.sleep(0.05)
        term0 = term_of(raft_info(Conn(port)))
        t0 = time.time()
        fill(port, a.locks)
        print("filled %d locks in %.1f s" % (a.locks, time.time() - t0))
        c = Conn(port)
        sid = c.call("SESSION.OPEN", 2000)
        c.call("LOCK.ACQUIRE", "kept", sid)
        stop = threading.Event()
        worst = {"ping": 0.0, "keepalive": 0.0}
        lost = []

        def pinger():
            p = Conn(port)
            while not stop.is_set():
                t = time.time()
                p.call("PING")
                worst["ping"] = max(worst["ping"], time.time() - t)
                stop.wait(0.01)

        def keeper():
            k = Conn(port)
            while not stop.is_set():
                t = time.time()
                v = k.call("SESSION.KEEPALIVE", sid)
                worst["keepalive"] = max(worst["keepalive"], time.time() - t)
                if not isinstance(v, int):
                    lost.append(v)
                stop.wait(0.25)

        threads = [threading.Thread(target=pinger), threading.Thread(target=keeper)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        c.call("CONFIG", "RESETSTAT")
        t0 = time.time()
        conns = [Conn(port) for _ in range(a.clients)]
        for x in conns:
            x.s.sendall(cmd("LOCK.LIST", "", "COUNT", 1) * a.small +
                        cmd("LOCK.LIST", "", "COUNT", 100000) * a.pages)
        for x in conns:
            for _ in range(a.small + a.pages):
                x.value()
        took = time.time() - t0
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        info = c.call("INFO", "server")
        info = info.decode() if isinstance(info, bytes) else info
        longest = [l.split(":", 1)[1] for l in info.splitlines()
                   if l.startswith("loop_longest_turn_ms:")]
        print("%d clients x (%d small + %d page lists) in %.1f s" % (a.clients, a.small, a.pages, took))
        print("longest PING %.0f ms, longest keepalive %.0f ms, session lost: %s" %
              (worst["ping"] * 1000, worst["keepalive"] * 1000, "yes " + str(lost[:1]) if lost else "no"))
        print("INFO loop_longest_turn_ms: %s" % (longest[0] if longest else "(not reported)"))
        if a.servers > 1:
            info = raft_info(c)
            print("%d servers: the leader's term went from %d to %d (%s)" %
                  (a.servers, term0, term_of(info),
                   "still leader" if "role:leader" in info else "no longer leader"))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
