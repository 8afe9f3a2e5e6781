#!/usr/bin/env python3
"""halfsent.py - the memory of a dlockd that many connections each send part
of a large request to, and after they leave (docs/operations.md, "Client
connections and memory"). Standard library only.

usage: python3 bench/halfsent.py --addr 127.0.0.1:7411 --pid PID
           [--conns 10000] [--size 1048576] [--sent 102400] [--sources 20]

Opens --conns connections, spread over --sources source addresses
127.0.0.1, 127.0.0.2, ... (so --max-clients-per-address allows them), and
sends on each the first --sent bytes of an ECHO of --size bytes, never the
rest. Then prints the server's VmRSS and VmHWM (from /proc/PID/status), how
many connections the server closed and with what answer, and VmRSS again
once every connection has closed. Give the server and this script enough
open files (ulimit -n 20000) for 10,000 connections.
"""

import argparse
import collections
import os
import resource
import selectors
import socket
import time


def vm(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split()[:2]
                out[k[:-1]] = int(v) // 1024
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--addr", default="127.0.0.1:7411")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--size", type=int, default=1 << 20)
    ap.add_argument("--sent", type=int, default=100 * 1024)
    ap.add_argument("--sources", type=int, default=20)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    host, port = a.addr.rsplit(":", 1)
    head = b"*2\r\n$4\r\nECHO\r\n$%d\r\n" % a.size
    part = (head + b"x" * a.size)[:a.sent]
    print("before: %s MiB" % vm(a.pid))
    socks, failed = [], collections.Counter()
    t0 = time.monotonic()
    for i in range(a.conns):
        src = "127.0.0.%d" % (1 + i % a.sources)
        try:
            s = socket.create_connection((host, int(port)), timeout=10, source_address=(src, 0))
            s.sendall(part)
            socks.append(s)
        except OSError as e:
            failed[type(e).__name__ + " " + str(e.errno)] += 1
    print("%d connections sent %d bytes each in %.1f s (%d failed: %s)"
          % (len(socks), a.sent, time.monotonic() - t0, sum(failed.values()), dict(failed)))
    time.sleep(2)
    print("held: %s MiB" % vm(a.pid))
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    answers = collections.Counter()
    for key, _ in sel.select(timeout=1):
        try:
            data = key.fileobj.recv(200)
        except OSError as e:
            data = ("reset: %s" % e).encode()
        answers[data.split(b"(")[0].decode(errors="replace").strip() or "closed"] += 1
    print("closed by the server: %d %s" % (sum(answers.values()), dict(answers)))
    for s in socks:
        s.close()
    time.sleep(3)
    print("after they left: %s MiB" % vm(a.pid))


if __name__ == "__main__":
    main()
