#!/usr/bin/python3
"""expiry.py - how late sessions expire when many leases end together.

    python3 bench/expiry.py [--dlockd PATH] [--sessions N] [--ttl MS]
                            [--conns K] [--at-once] [--keep DIR]

Starts one dlockd (default build/dlockd) on free ports in a temporary
directory, opens N sessions (default 200,000) with a TTL of MS (default
15,000) over K connections (default 4; pipelined raw RESP), each acquiring
the lock exp/<i> right after its SESSION.OPEN, and never keeps them alive.
Then it polls INFO every 20 ms until no lock is held. A session's lease runs
from its SESSION.OPEN, so the i-th session to open is due at the time its
open was answered + MS; sessions expire in the order their leases end, so
the i-th lock freed is compared with the i-th due time. Prints the
lateness (free time - due time: median, 99th percentile, max), the expiry
rate while they expired, the server's peak resident memory and how many
expiry lines it logged. With --at-once, the server is restarted (SIGTERM)
once every lock is held: it gives every session a fresh lease when it
serves again, so all of them are due at the same moment, that + MS (taken
as when the first keepalive after the restart that was answered was sent).
Nothing is asserted: this is a measurement.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from rawresp import cmd as encode, free_port

HERE = os.path.dirname(os.path.abspath(__file__))


class Conn:
    """A raw RESP connection that reads simple replies (integers, simple
    strings, errors, bulk strings) only."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buf += chunk

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b":":
            return int(rest)
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("error reply: %s" % rest.decode())
        if kind == b"$":
            n = int(rest)
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("closed by the server")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode(errors="replace")
        raise RuntimeError("unexpected reply %r" % line)

    def call(self, *args):
        self.send(encode(*args))
        return self.read()


def info(conn):
    text = conn.call("INFO")
    return dict(l.split(":", 1) for l in text.splitlines() if ":" in l)


def opener(port, first, count, ttl, chunk, opened, errors):
    """Opens sessions first..first+count-1, each acquiring its lock, in
    pipelined chunks; appends (answer time, session) per session."""
    try:
        c = Conn(port)
        for at in range(first, first + count, chunk):
            n = min(chunk, first + count - at)
            c.send(b"".join(encode("SESSION.OPEN", ttl) for _ in range(n)))
            ids = []
            for _ in range(n):
                ids.append(c.read())
                opened.append((time.monotonic(), ids[-1]))
            c.send(b"".join(encode("LOCK.ACQUIRE", "exp/%d" % (at + i), ids[i])
                            for i in range(n)))
            for _ in range(n):
                c.read()
    except Exception as e:  # noqa: BLE001 - reported by the main thread
        errors.append(e)


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pct(v, p):
    return v[min(len(v) - 1, int(p * len(v)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dlockd", default=os.path.join(HERE, "..", "build", "dlockd"))
    ap.add_argument("--sessions", type=int, default=200000)
    ap.add_argument("--ttl", type=int, default=15000)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=2000)
    ap.add_argument("--at-once", action="store_true",
                    help="restart once all are held: every lease ends together")
    ap.add_argument("--keep", help="keep the server's directory here")
    a = ap.parse_args()

    d = tempfile.mkdtemp(prefix="dlock-expiry-")
    port, raft = free_port(), free_port()
    log_path = os.path.join(d, "dlockd.log")
    log = open(log_path, "wb")
    argv = [a.dlockd, "--listen", "127.0.0.1:%d" % port, "--http", "off", "--raft",
            "127.0.0.1:%d" % raft, "--data", os.path.join(d, "data"),
            "--log-level", "info"]
    srv = subprocess.Popen(argv, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                ctl = Conn(port)
                if ctl.call("PING") == "PONG":
                    ok = True
                    try:
                        ctl.call("SESSION.OPEN", 1000)
                    except RuntimeError:
                        ok = False
                    if ok:
                        break
            except (OSError, RuntimeError):
                pass
            if time.monotonic() > deadline or srv.poll() is not None:
                sys.exit("dlockd did not start: see %s" % log_path)
            time.sleep(0.1)
        # The probe session above expires on its own within a second.
        time.sleep(1.5)

        per = (a.sessions + a.conns - 1) // a.conns
        opened, errors, threads = [], [], []
        t0 = time.monotonic()
        for k in range(a.conns):
            first = k * per
            count = max(0, min(per, a.sessions - first))
            t = threading.Thread(target=opener, args=(port, first, count, a.ttl,
                                                      a.chunk, opened, errors))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        if errors:
            sys.exit("opening failed: %r" % errors[0])
        t_open = time.monotonic() - t0
        held = int(info(ctl)["held"])
        print("opened %d sessions, each holding a lock, in %.1f s (%d held now)"
              % (len(opened), t_open, held), flush=True)
        if held < a.sessions:
            print("warning: %d locks were lost before all were acquired "
                  "(opening took longer than the TTL?)" % (a.sessions - held))

        due = sorted(t + a.ttl / 1000.0 for t, _ in opened)
        if a.at_once:
            srv.terminate()
            srv.wait(60)
            srv = subprocess.Popen(argv, stdout=log, stderr=log)
            while True:
                tried = time.monotonic()
                try:
                    ctl = Conn(port)
                    ctl.call("SESSION.KEEPALIVE", opened[0][1])  # ready?
                    break
                except (OSError, RuntimeError):
                    pass
                if srv.poll() is not None:
                    sys.exit("dlockd did not restart: see %s" % log_path)
                time.sleep(0.01)
            # The leases were granted before this try's answer; taking its
            # start as their start overstates lateness by the try, if at all.
            ready = tried
            held = int(info(ctl)["held"])
            due = [ready + a.ttl / 1000.0] * len(due)
            print("restarted: serving %.1f s later, %d held; every lease ends "
                  "%.1f s from now" % (ready - t0 - t_open, held, a.ttl / 1000.0),
                  flush=True)
        freed = []  # (time, locks freed since the previous poll)
        last = held
        while last > 0:
            time.sleep(0.02)
            now_held = int(info(ctl)["held"])
            t = time.monotonic()
            if now_held < last:
                freed.append((t, last - now_held))
                last = now_held
            if t > due[-1] + 600:
                sys.exit("locks still held 10 minutes after their TTL: %d" % last)
        # The k-th lock freed against the k-th due time.
        late, k = [], a.sessions - held  # those lost early count as on time
        for t, n in freed:
            for _ in range(n):
                late.append(t - due[k])
                k += 1
        late.sort()
        first_free, last_free = freed[0][0], freed[-1][0]
        rate = held / max(last_free - first_free, 1e-3)
        with open(log_path, errors="replace") as f:
            lines = sum(1 for l in f if "expired" in l)
        print("lateness after the TTL (s): median %.3f, p99 %.3f, max %.3f "
              "(polled every 20 ms)" % (pct(late, 0.5), pct(late, 0.99), late[-1]))
        print("expiry: %d locks freed in %.2f s (%.0f a second); the last "
              "session due at +%.2f s, freed at +%.2f s after the first open"
              % (held, last_free - first_free, rate, due[-1] - t0, last_free - t0))
        print("dlockd: peak resident memory %.0f MB; %d log lines about expiries"
              % (rss_kb(srv.pid) / 1024.0, lines))
    finally:
        srv.terminate()
        try:
            srv.wait(30)
        except subprocess.TimeoutExpired:
            srv.kill()
        log.close()
        if a.keep:
            shutil.copytree(d, a.keep, dirs_exist_ok=True)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
