#!/usr/bin/env python3
"""peerport.py - what a dlockd's peer port costs it under hostile traffic
(issue 14, item 4): the resident memory after 8 connections each announce a
65 MiB frame and send up to 64 MiB of it, and whether clients are served
while 1,100 idle connections sit on the peer port at a descriptor limit of
1,024 (set with prlimit).

    bench/peerport.py [path/to/dlockd]     (default build/dlockd)

Prints the figures; asserts nothing."""

import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time


def hello(frm, to):
    """A version 2 peer hello (src/raft/hello.h)."""
    c, r = b"127.0.0.1:1", b"127.0.0.1:2"
    return (b"DLKP" + bytes([2]) + struct.pack("<QQQQ", frm, to, 5, 6) +
            struct.pack("<H", len(c)) + c + struct.pack("<H", len(r)) + r)


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


def big_frames(pid, rport):
    print("rss before: %d MiB" % rss_mib(pid))
    socks, sent = [], 0
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", rport))
        s.sendall(hello(99, 1) + struct.pack("<BBBBIQQQ", 0xD1, 1, 1, 0, 65 << 20, 99, 1, 1))
        socks.append(s)
    for s in socks:
        try:
            for _ in range(64):
                s.sendall(b"\0" * (1 << 20))
                sent += 1
        except OSError:
            pass  # closed by the server
    time.sleep(0.5)
    print("8 frames announcing 65 MiB: %d MiB taken by the sockets, rss after: %d MiB"
          % (sent, rss_mib(pid)))
    for s in socks:
        s.close()


def idle_flood(pid, port, rport):
    subprocess.run(["prlimit", "--pid", str(pid), "--nofile=1024:1024"], check=True)
    idle = [socket.create_connection(("127.0.0.1", rport)) for _ in range(1100)]
    time.sleep(0.3)
    ok = 0
    for _ in range(20):
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=2)
            c.sendall(b"PING\r\n")
            ok += c.recv(100).startswith(b"+PONG")
            c.close()
        except OSError:
            pass
    fds = len(os.listdir("/proc/%d/fd" % pid))
    print("1100 idle peer connections at nofile 1024: %d of 20 clients served, "
          "server holds %d descriptors" % (ok, fds))
    for s in idle:
        s.close()


def main():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dlockd = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "build", "dlockd")
    d = tempfile.mkdtemp()
    port = 17000 + random.randint(0, 2000)
    rport = port + 2500
    p = subprocess.Popen([dlockd, "--listen", "127.0.0.1:%d" % port,
                          "--raft", "127.0.0.1:%d" % rport, "--http", "off", "--data", d + "/data"],
                         stderr=open(os.path.join(d, "log"), "w"))
    try:
        time.sleep(1.0)
        big_frames(p.pid, rport)
        idle_flood(p.pid, port, rport)
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
