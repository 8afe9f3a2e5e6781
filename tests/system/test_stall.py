"""test_stall.py - one request never stalls the loop, and a lease never ends
with its keepalive unread (issue 14, item 1; docs/design.md §12): reads
of the lock table cost what they return, the work of one loop turn is
bounded, and a keepalive that waited in a socket while the server could not
run renews its session instead of losing to the expiry."""

import socket
import time

import dlocktest
from dlocktest import KeepAlive, RespError, as_map, check, eq, wait_for


def hold_many(c, n, tag="t-"):
    """One session with a long TTL holds n locks named tag + 6 digits."""
    s = c.call("SESSION.OPEN", 600000)
    for at in range(0, n, 2000):
        part = range(at, min(n, at + 2000))
        c.send_many([("LOCK.ACQUIRE", "%s%06d" % (tag, i), s) for i in part])
        for i in part:
            check(isinstance(c.read(60), int), "acquire %d" % i)
    return s


def holder(c, name):
    st = as_map(c.call("LOCK.STATUS", name))
    return st.get("session")


def test_keepalive_waiting_in_socket_renews(ctx):
    """The server is stopped (SIGSTOP, as in a long pause of its machine)
    past a 1 s lease while a keepalive for it waits in the socket: when it
    runs again it reads the keepalive before it expires anything, so the
    session is renewed and keeps its lock. A session nobody kept alive over
    the same pause expires as ever. (Before, the expiry ran first and the
    keepalive was answered NOSESSION.)"""
    srv = ctx.single()
    c = srv.client()
    kept = c.call("SESSION.OPEN", 1000)
    left = c.call("SESSION.OPEN", 1000)
    c.call("LOCK.ACQUIRE", "kept", kept)
    c.call("LOCK.ACQUIRE", "left", left)
    ka = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    srv.pause()
    try:
        ka.sendall(dlocktest.encode_command(["SESSION.KEEPALIVE", str(kept)]))
        time.sleep(1.6)
    finally:
        srv.resume()
    ka.settimeout(10)
    reply = ka.recv(100)
    ka.close()
    eq(reply, b":1000\r\n", "the keepalive that waited in the socket")
    eq(holder(c, "kept"), kept, "the renewed session keeps its lock")
    wait_for(lambda: holder(c, "left") != left, 10, "the other session to expire")
    eq(c.call("SESSION.KEEPALIVE", kept), 1000, "the renewed session lives on")


def test_pipelined_lists_do_not_starve_keepalives(ctx):
    """With 50,000 locks held, one client pipelines 400 LOCK.LIST "" COUNT 1
    and four more pipeline 10 lists of 1 MiB each, while a session with a
    2 s TTL is kept alive every 250 ms on another connection: every
    keepalive is served in time and the session keeps its lock. (Before, a
    list cost a scan and a sort of the whole table, the pipelined lists ran
    in one loop turn of seconds, and the session expired.)"""
    srv = ctx.single()
    c = srv.client(timeout=60)
    hold_many(c, 50000)
    s = c.call("SESSION.OPEN", 2000)
    c.call("LOCK.ACQUIRE", "mine", s)
    ka = KeepAlive([srv.addr], [s], interval=0.25)
    try:
        time.sleep(0.5)
        small = srv.client(timeout=120)
        bigs = [srv.client(timeout=120) for _ in range(4)]
        small.send_many([("LOCK.LIST", "", "COUNT", 1)] * 400)
        for b in bigs:
            b.send_many([("LOCK.LIST", "", "COUNT", 100000)] * 10)
        for _ in range(400):
            eq(len(small.read(120)), 1, "a list of one")
        for b in bigs:
            for _ in range(10):
                page = b.read(120)
                check(1000 < len(page) < 50001, "a page of %d locks" % len(page))
        time.sleep(0.5)
    finally:
        ka.stop()
    ka.check()
    check(ka.renewals > 0, "keepalives were served")
    eq(holder(c, "mine"), s, "the session kept alive keeps its lock")
    info = dlocktest.info_fields(srv)
    check(int(info["loop_longest_turn_ms"]) >= 0, "INFO gives the longest turn")
