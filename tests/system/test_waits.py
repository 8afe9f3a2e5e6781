"""test_waits.py - a blocking acquire whose client went away
(docs/protocol.md §4): without REQ its wait ends and a grant nobody learnt
is taken back, even though its session lives on; with REQ it keeps its place
for --wait-grace-ms, for the client to repeat it, and no longer; a new
leader gives up the waits it inherits the same way."""

import socket
import time

import dlocktest
from dlocktest import (KeepAlive, RespError, TestFailure, as_map, check, eq,
                       wait_for)
from test_single import no_reply, status, wait_waiters


def raw_acquire(srv, *args):
    """A client that sends LOCK.ACQUIRE ARGS on a socket of its own and
    reads nothing: close it to go away."""
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.sendall(dlocktest.encode_command(["LOCK.ACQUIRE"] + list(args)))
    return sock


def sessions(c, n, ttl=60000):
    return [c.call("SESSION.OPEN", ttl) for _ in range(n)]


def held(ctx, name, more=0, grace=None):
    """A server (with --wait-grace-ms grace), a client, a session that holds
    name, one whose client will go away, kept alive from another thread
    (ka), and more sessions: (srv, c, ka, holder, gone, [more...])."""
    srv = ctx.single(extra=["--wait-grace-ms", str(grace)] if grace else [])
    c = srv.client()
    holder, gone, *rest = sessions(c, 2 + more)
    ka = KeepAlive([srv.addr], [gone])
    ctx.defer(ka.stop)
    c.call("LOCK.ACQUIRE", name, holder)
    return srv, c, ka, holder, gone, rest


def never_held_by(c, name, gone, seconds):
    """Fails if the lock is held by session gone at any time for a while."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        st = status(c, name)
        check(st["session"] != gone,
              "lock %s held by the session of a client that went away: %r"
              % (name, st))
        time.sleep(0.05)


def test_gone_waiter_without_req_never_gets_the_lock(ctx):
    """A raw socket sends LOCK.ACQUIRE x S WAIT 30000 (no REQ) while another
    session holds x, then closes. Its session is kept alive from elsewhere.
    Its wait ends at once; when the holder releases, the lock is free and
    stays so, never held by S."""
    srv, c, ka, holder, gone, _ = held(ctx, "x")
    sock = raw_acquire(srv, "x", gone, "WAIT", 30000)
    wait_waiters(c, "x", 1)
    sock.close()
    wait_waiters(c, "x", 0, timeout=3)
    eq(c.call("LOCK.RELEASE", "x", holder), 0, "holds left")
    never_held_by(c, "x", gone, 1.0)
    eq(status(c, "x")["held"], 0, "the lock after the release")
    eq(as_map(c.call("SESSION.INFO", gone))["locks"], 0, "locks of the gone session")
    ka.check()


def test_gone_waiter_released_at_once_goes_to_the_next(ctx):
    """The same, with the holder releasing right after the close (the grant
    may apply before the server has given the wait up) and a waiter behind:
    the lock ends with the waiter behind, with a higher token, never with
    the gone client's session, whichever came first."""
    srv, c, ka, holder, gone, [nxt] = held(ctx, "x", 1)
    t1 = status(c, "x")["token"]
    for _ in range(5):
        sock = raw_acquire(srv, "x", gone, "WAIT", 30000)
        wait_waiters(c, "x", 1)
        w = srv.client()
        w.send("LOCK.ACQUIRE", "x", nxt, "WAIT", 30000)
        wait_waiters(c, "x", 2)
        sock.close()
        c.call("LOCK.RELEASE", "x", holder)
        t2 = w.read(5)
        check(isinstance(t2, int) and t2 > t1, "the waiter behind: %r" % (t2,))
        st = status(c, "x")
        eq((st["session"], st["token"], st["waiters"]), (nxt, t2, 0),
           "the lock after the release (session, token, waiters)")
        holder, nxt, t1 = nxt, holder, t2
        w.close()
    ka.check()


def test_gone_waiter_with_client_timeout(ctx):
    """redis-py (when installed; else a socket that does the same) with a
    socket timeout of 0.5 s sends LOCK.ACQUIRE y S WAIT 30000: it times
    out and drops its connection. The lock never goes to S, whose session
    is kept alive from another thread."""
    srv, c, ka, holder, gone, _ = held(ctx, "y")
    try:
        import redis
    except ImportError:
        redis = None
    if redis is not None:
        r = redis.Redis(host="127.0.0.1", port=srv.port, socket_timeout=0.5)
        try:
            r.execute_command("LOCK.ACQUIRE", "y", gone, "WAIT", 30000)
            raise TestFailure("the blocking acquire answered")
        except redis.exceptions.TimeoutError:
            pass
        r.close()
    else:
        sock = raw_acquire(srv, "y", gone, "WAIT", 30000)
        sock.settimeout(0.5)
        try:
            sock.recv(100)
            raise TestFailure("the blocking acquire answered")
        except socket.timeout:
            pass
        sock.close()
    wait_waiters(c, "y", 0, timeout=3)
    c.call("LOCK.RELEASE", "y", holder)
    never_held_by(c, "y", gone, 1.0)
    ka.check()


def test_gone_waiter_with_req_keeps_its_place(ctx):
    """With REQ a wait keeps its place after the close: its client
    reconnects with the same REQ within --wait-grace-ms, stays past it, and
    is granted before a waiter that came after it; another that went away
    with it and never came back is gone after the grace."""
    srv = ctx.single(extra=["--wait-grace-ms", "1500"])
    c = srv.client()
    holder, back, stray, later = sessions(c, 4)
    c.call("LOCK.ACQUIRE", "z", holder)
    sock = raw_acquire(srv, "z", back, "WAIT", 30000, "REQ", "r-1")
    wait_waiters(c, "z", 1)
    sock2 = raw_acquire(srv, "z", stray, "WAIT", 30000, "REQ", "r-s")
    wait_waiters(c, "z", 2)
    sock.close()
    sock2.close()
    time.sleep(0.5)
    eq(status(c, "z")["waiters"], 2, "waiters just after the close")
    w2 = srv.client()
    w2.send("LOCK.ACQUIRE", "z", later, "WAIT", 30000)
    wait_waiters(c, "z", 3)
    w1 = srv.client()
    w1.send("LOCK.ACQUIRE", "z", back, "WAIT", 30000, "REQ", "r-1")
    no_reply(w1, 2.0)  # past the grace
    eq(status(c, "z")["waiters"], 2, "waiters past the grace: the one "
       "repeated and the one after it")
    c.call("LOCK.RELEASE", "z", holder)
    tok = w1.read(5)
    check(isinstance(tok, int), "the repeated acquire: %r" % (tok,))
    no_reply(w2, 0.3)
    st = status(c, "z")
    eq((st["session"], st["token"]), (back, tok), "holder after the release")


def test_gone_waiter_with_req_ends_after_the_grace(ctx):
    """With REQ and never coming back, the wait ends after --wait-grace-ms:
    the lock is free when released, and a late repeat of the REQ learns
    TIMEOUT."""
    srv, c, ka, holder, gone, _ = held(ctx, "v", grace=800)
    sock = raw_acquire(srv, "v", gone, "WAIT", 30000, "REQ", "r-2")
    wait_waiters(c, "v", 1)
    t0 = time.monotonic()
    sock.close()
    wait_waiters(c, "v", 0, timeout=5)
    took = time.monotonic() - t0
    check(took > 0.6, "the wait ended %.2f s after the close" % took)
    c.call("LOCK.RELEASE", "v", holder)
    never_held_by(c, "v", gone, 0.5)
    r = c.try_call("LOCK.ACQUIRE", "v", gone, "WAIT", 30000, "REQ", "r-2")
    check(isinstance(r, RespError) and r.code == "TIMEOUT",
          "a repeat after the grace: %r" % (r,))
    ka.check()


def test_grant_in_the_grace_taken_back(ctx):
    """A gone client's wait with REQ is granted within the grace; nobody
    repeats it, so after the grace the grant is taken back and the lock
    goes to the next waiter with a higher token; a repeat then learns
    TIMEOUT."""
    srv, c, ka, holder, gone, [nxt] = held(ctx, "u", 1, grace=1000)
    sock = raw_acquire(srv, "u", gone, "WAIT", 30000, "REQ", "r-3")
    wait_waiters(c, "u", 1)
    w = srv.client()
    w.send("LOCK.ACQUIRE", "u", nxt, "WAIT", 30000)
    wait_waiters(c, "u", 2)
    sock.close()
    time.sleep(0.2)
    c.call("LOCK.RELEASE", "u", holder)
    st = status(c, "u")
    eq(st["session"], gone, "holder within the grace")
    tok = w.read(5)
    check(isinstance(tok, int) and tok > st["token"],
          "the next waiter after the grace: %r (the gone grant's %d)"
          % (tok, st["token"]))
    eq(status(c, "u")["session"], nxt, "holder after the grace")
    r = c.try_call("LOCK.ACQUIRE", "u", gone, "WAIT", 30000, "REQ", "r-3")
    check(isinstance(r, RespError) and r.code == "TIMEOUT",
          "a repeat after the grace: %r" % (r,))
    ka.check()


def test_new_leader_gives_up_inherited_waits(ctx):
    """Waits queued at a leader that is killed: at the new leader, the one
    without REQ ends at once; the one with REQ keeps its place for the
    grace, and its client, repeating there, is granted on release."""
    cl = ctx.cluster(3, extra=["--wait-grace-ms", "5000"])
    old = cl.wait_leader()
    lc = dlocktest.LeaderClient(cl.addrs())
    ctx.defer(lc.close)
    holder, bare, keeper = [lc.call("SESSION.OPEN", 60000, "REQ", "o%d" % i)
                            for i in range(3)]
    lc.call("LOCK.ACQUIRE", "w", holder, "REQ", "h")
    a = old.client()
    a.send("LOCK.ACQUIRE", "w", bare, "WAIT", 60000)
    wait_for(lambda: status(lc, "w")["waiters"] == 1, 5, "bare queued")
    b = old.client()
    b.send("LOCK.ACQUIRE", "w", keeper, "WAIT", 60000, "REQ", "k")
    wait_for(lambda: status(lc, "w")["waiters"] == 2, 5, "keeper queued")
    old.kill()
    a.close()
    b.close()
    new = cl.wait_leader(other_than=old.id)
    wait_for(lambda: status(lc, "w")["waiters"] == 1, 5,
             "the wait without REQ given up")
    k = new.client()
    k.send("LOCK.ACQUIRE", "w", keeper, "WAIT", 60000, "REQ", "k")
    no_reply(k, 0.3)
    lc.call("LOCK.RELEASE", "w", holder, "REQ", "r")
    tok = k.read(5)
    check(isinstance(tok, int), "the kept wait: %r" % (tok,))
    eq(status(lc, "w")["session"], keeper, "holder after the release")


def test_repeat_while_waiting_attaches_a_second_client(ctx):
    """A blocking acquire with REQ waits on one connection; its repeat (even
    without WAIT) on a second waits too. The first closing gives nothing up
    while the second waits, past the grace; the second is granted on
    release."""
    srv = ctx.single(extra=["--wait-grace-ms", "500"])
    c = srv.client()
    holder, s = sessions(c, 2)
    c.call("LOCK.ACQUIRE", "t", holder)
    first = raw_acquire(srv, "t", s, "WAIT", 30000, "REQ", "r-4")
    wait_waiters(c, "t", 1)
    second = srv.client()
    second.send("LOCK.ACQUIRE", "t", s, "REQ", "r-4")
    no_reply(second, 0.3)
    first.close()
    no_reply(second, 1.0)  # past the grace
    eq(status(c, "t")["waiters"], 1, "waiters with the second still there")
    c.call("LOCK.RELEASE", "t", holder)
    tok = second.read(5)
    check(isinstance(tok, int), "the second: %r" % (tok,))
    eq(status(c, "t")["session"], s, "holder after the release")
