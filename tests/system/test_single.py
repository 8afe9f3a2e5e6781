"""test_single.py - one dlockd: durability across restarts, sessions and
their expiry with lock-delay, blocking acquires, retry-safe requests, lease
locks, pipelining, RESP3, bad input and limits, many connections,
redis-cli."""

import os
import random
import re
import select
import socket
import subprocess
import time

import dlocktest
from dlocktest import Client, RespError, TestFailure, as_map, check, eq, info_fields, wait_for


def status(c, name):
    return as_map(c.call("LOCK.STATUS", name))


def expect_error(v, code, what="reply"):
    check(isinstance(v, RespError) and v.code == code,
          "%s: expected a %s error, got %r" % (what, code, v))
    return v


def wait_waiters(c, name, n, timeout=5.0):
    """Waits until the lock has n waiters (a blocking acquire is queued)."""
    wait_for(lambda: status(c, name)["waiters"] == n, timeout,
             "%d waiters on %s" % (n, name))


def no_reply(c, within=0.3):
    """Fails if c gets a reply within the time."""
    if c.pending(within):
        raise TestFailure("an unexpected reply came: %r" % (c.read(0.1),))


# ---- durability ----------------------------------------------------------------


def restart_keeps_state(ctx, crash):
    srv = ctx.single()
    c = srv.client()
    sess = c.call("SESSION.OPEN", 10000, "NAME", "survivor", "REQ", "o1")
    t1 = c.call("LOCK.ACQUIRE", "kept", sess, "OWNER", "w1", "REQ", "a1")
    t2 = c.call("LOCK.ACQUIRE", "kept", sess, "OWNER", "w1")  # a second hold
    eq(t2, t1, "reentrant token")
    lease = c.call("LOCK.ACQUIRE", "leased", "TTL", 10000, "REQ", "l1")
    check(lease > t1, "tokens grow: %d then %d" % (t1, lease))
    c.close()
    if crash:
        srv.kill()
        srv.start()
    else:
        eq(srv.term(), 0, "exit code on SIGTERM")
        srv.start()
    srv.wait_leader()
    c = srv.client()
    st = status(c, "kept")
    eq((st["session"], st["owner"], st["token"], st["holds"]), (sess, "w1", t1, 2),
       "the lock after the restart (session, owner, token, holds)")
    eq(c.call("SESSION.KEEPALIVE", sess), 10000, "keepalive after the restart")
    info = as_map(c.call("SESSION.INFO", sess))
    eq(info["name"], "survivor", "session name")
    eq(c.call("LOCK.CHECK", "leased", lease), 1, "lease lock still held")
    # A retried request is still known after the restart.
    eq(c.call("LOCK.ACQUIRE", "kept", sess, "OWNER", "w1", "REQ", "a1"), t1, "retried REQ a1")
    eq(c.call("SESSION.OPEN", 10000, "NAME", "survivor", "REQ", "o1"), sess, "retried open")
    t3 = c.call("LOCK.ACQUIRE", "new-after-restart", sess)
    check(t3 > lease, "a token after the restart (%d) is above those before (%d)" % (t3, lease))
    eq(c.call("LOCK.RELEASE", "kept", sess, "OWNER", "w1"), 1, "holds left")
    eq(c.call("LOCK.RELEASE", "kept", sess, "OWNER", "w1"), 0, "holds left")


def test_restart_after_kill_keeps_locks_sessions_tokens(ctx):
    """After kill -9 and a restart on the same data, locks (owner, token,
    holds), sessions (within their TTL), lease locks and request ids are all
    there, and new tokens are above every earlier one."""
    restart_keeps_state(ctx, crash=True)


def test_restart_after_sigterm_keeps_locks_sessions_tokens(ctx):
    """The same after a graceful stop (SIGTERM exits 0)."""
    restart_keeps_state(ctx, crash=False)


def test_tokens_grow_across_many_restarts(ctx):
    """Fencing tokens keep growing over several crash-restarts, with grants
    made in between."""
    srv = ctx.single()
    seen = []
    for _ in range(3):
        c = srv.client()
        s = c.call("SESSION.OPEN", 5000)
        for i in range(5):
            seen.append(c.call("LOCK.ACQUIRE", "grow-%d" % i, s))
            c.call("LOCK.RELEASE", "grow-%d" % i, s)
        c.close()
        srv.restart()
        srv.wait_leader()
    check(all(a < b for a, b in zip(seen, seen[1:])), "tokens not strictly growing: %r" % seen)


def test_slow_disk_syncs_on_a_worker(ctx):
    """With every fsync slowed to 3 ms (tests/faults/failio.c preloaded),
    the server moves its log syncs from its loop to a worker thread (INFO
    says so) and still grants, releases and keeps everything across kill -9;
    on a fast disk it syncs on the loop."""
    failio = os.environ.get("FAILIO", os.path.join(os.path.dirname(dlocktest.dlockd_path()),
                                                   "faults-failio.so"))
    if not os.path.exists(failio):
        raise dlocktest.Skip("no %s (make %s)" % (failio, os.path.basename(failio)))
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 10000)
    for i in range(20):
        c.call("LOCK.ACQUIRE", "fast-%d" % i, s)
    info = info_fields(srv)
    eq(info["sync_on_loop"], "1", "a fast disk synced on the loop")
    syncs, entries = int(info["syncs"]), int(info["entries_synced"])
    check(21 <= entries and 1 <= syncs <= entries,
          "%d batches synced holding %d entries (a session and 20 grants at least)"
          % (syncs, entries))
    c.close()
    srv.kill()
    srv.env = {"LD_PRELOAD": failio, "DLOCK_FAILIO_DELAY_US": "3000",
               # An ASan build accepts another preloaded library only so.
               "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1"}
    srv.start()
    srv.wait_leader()
    c = srv.client()
    s2 = c.call("SESSION.OPEN", 10000)
    tokens = []
    for i in range(40):
        tokens.append(c.call("LOCK.ACQUIRE", "slow-%d" % i, s2))
    info = info_fields(srv)
    eq(info["sync_on_loop"], "0", "a slow disk synced on a worker")
    check(int(info["sync_avg_us"]) >= 1000, "the average sync %s us" % info["sync_avg_us"])
    for i in range(0, 40, 2):
        eq(c.call("LOCK.RELEASE", "slow-%d" % i, s2), 0, "release")
    c.close()
    srv.kill()
    srv.env = {}
    srv.start()
    srv.wait_leader()
    c = srv.client()
    for i in range(40):
        held = as_map(c.call("LOCK.STATUS", "slow-%d" % i))["held"]
        eq(held, 0 if i % 2 == 0 else 1, "slow-%d after the restart" % i)
    check(c.call("LOCK.ACQUIRE", "after", s2) > tokens[-1], "a token above the slow ones")


# ---- sessions, expiry, lock-delay --------------------------------------------


def test_session_expiry_then_lock_delay(ctx):
    """A session not kept alive loses its lock after its TTL; the lock then
    stays ungrantable (HELD in lock-delay) for DELAY ms, and is grantable
    after; the lost session is gone (NOSESSION)."""
    srv = ctx.single()
    c = srv.client()
    ttl, delay = 400, 800
    a = c.call("SESSION.OPEN", ttl)
    opened = time.monotonic()
    b = c.call("SESSION.OPEN", 20000)
    t1 = c.call("LOCK.ACQUIRE", "expiring", a, "DELAY", delay)
    expect_error(c.try_call("LOCK.ACQUIRE", "expiring", b), "HELD", "try-lock while held")
    # Wait for the expiry: the holder's session ends, the lock is in delay.
    st = wait_for(lambda: (lambda s: s if s["session"] == 0 else None)(status(c, "expiring")),
                  5, "the lock to be lost by its expired session")
    lost = time.monotonic() - opened
    check(lost >= ttl / 1000.0 - 0.05, "lock lost after %.3f s, before its TTL" % lost)
    check(st["delay_left_ms"] > 0, "no lock-delay after expiry: %r" % st)
    eq(st["held"], 0, "held")
    v = c.try_call("LOCK.ACQUIRE", "expiring", b)
    if (time.monotonic() - opened) * 1000 < ttl + delay - 100:
        check(isinstance(v, RespError) and v.message.startswith("HELD in lock-delay"),
              "acquire during the lock-delay: expected HELD in lock-delay, got %r" % (v,))
    expect_error(c.try_call("SESSION.KEEPALIVE", a), "NOSESSION", "keepalive of the expired session")
    t2 = wait_for(lambda: (lambda v: v if isinstance(v, int) else None)(
        c.try_call("LOCK.ACQUIRE", "expiring", b)), 5, "the lock to be grantable after the delay")
    granted = time.monotonic() - opened
    check(granted >= (ttl + delay) / 1000.0 - 0.1,
          "granted %.3f s after the open, before TTL + DELAY (%d ms)" % (granted, ttl + delay))
    check(t2 > t1, "token after expiry %d > %d" % (t2, t1))


def test_expiry_grants_waiter_after_delay(ctx):
    """When a holder's session expires, the server itself grants the lock to
    the first waiter once the lock-delay has passed."""
    srv = ctx.single()
    c = srv.client()
    ttl, delay = 300, 500
    a = c.call("SESSION.OPEN", ttl)
    opened = time.monotonic()
    b = c.call("SESSION.OPEN", 20000)
    t1 = c.call("LOCK.ACQUIRE", "handover", a, "DELAY", delay)
    w = srv.client()
    w.send("LOCK.ACQUIRE", "handover", b, "WAIT", 10000, "REQ", "w1")
    v = w.read(timeout=5.0)
    granted = time.monotonic() - opened
    check(isinstance(v, int) and v > t1, "the waiter's reply: expected a token above %d, got %r" % (t1, v))
    check(granted >= (ttl + delay) / 1000.0 - 0.1,
          "the waiter was granted %.3f s after the open, before TTL + DELAY" % granted)
    st = status(c, "handover")
    eq((st["session"], st["token"]), (b, v), "the lock's holder after the handover")


def test_keepalive_keeps_session(ctx):
    """A session renewed at a third of its TTL outlives the TTL many times
    over and keeps its lock."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 300)
    t = c.call("LOCK.ACQUIRE", "kept-alive", s)
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        eq(c.call("SESSION.KEEPALIVE", s), 300, "keepalive")
        time.sleep(0.1)
    eq(c.call("LOCK.CHECK", "kept-alive", t), 1, "lock still held")
    left = as_map(c.call("SESSION.INFO", s))["lease_left_ms"]
    check(0 < left <= 300, "lease_left_ms %r" % left)


def test_close_session_releases_and_ends_waits(ctx):
    """SESSION.CLOSE releases the session's locks, granting the next waiter
    at once, and ends its own waits with NOSESSION."""
    srv = ctx.single()
    c = srv.client()
    a = c.call("SESSION.OPEN", 20000)
    b = c.call("SESSION.OPEN", 20000)
    c.call("LOCK.ACQUIRE", "x", a)
    c.call("LOCK.ACQUIRE", "y", b)
    wb = srv.client()
    wb.send("LOCK.ACQUIRE", "x", b, "WAIT", 10000)
    wait_waiters(c, "x", 1)
    wa = srv.client()
    wa.send("LOCK.ACQUIRE", "y", a, "WAIT", 10000)
    wait_waiters(c, "y", 1)
    eq(c.call("SESSION.CLOSE", a), "OK", "close")
    v = wb.read(5)
    check(isinstance(v, int), "the waiter on x: expected a token, got %r" % (v,))
    expect_error(wa.read(5), "NOSESSION", "the closed session's own wait")
    eq(status(c, "x")["session"], b, "x's holder")
    eq(status(c, "y")["waiters"], 0, "y's waiters")


# ---- blocking acquires -----------------------------------------------------------


def test_blocking_acquire_fifo(ctx):
    """Three clients waiting on a held lock are granted in the order they
    came, one per release, with growing tokens."""
    srv = ctx.single()
    c = srv.client()
    holder = c.call("SESSION.OPEN", 20000)
    t0 = c.call("LOCK.ACQUIRE", "fifo", holder)
    waiters = []
    for i in range(3):
        s = c.call("SESSION.OPEN", 20000)
        w = srv.client()
        w.send("LOCK.ACQUIRE", "fifo", s, "WAIT", 20000, "REQ", "w%d" % i)
        wait_waiters(c, "fifo", i + 1)
        waiters.append((s, w))
    for _, w in waiters:
        no_reply(w, 0.05)
    prev, releaser = t0, holder
    for i, (s, w) in enumerate(waiters):
        eq(c.call("LOCK.RELEASE", "fifo", releaser), 0, "release")
        tok = w.read(5)
        check(isinstance(tok, int) and tok > prev, "waiter %d: expected a token above %d, got %r" % (i, prev, tok))
        for _, other in waiters[i + 1:]:
            no_reply(other, 0.1)
        st = status(c, "fifo")
        eq((st["session"], st["token"], st["waiters"]), (s, tok, 2 - i), "after grant %d" % i)
        prev, releaser = tok, s
    eq(c.call("LOCK.RELEASE", "fifo", releaser), 0, "last release")


def test_wait_timeout(ctx):
    """A blocking acquire whose WAIT runs out gets TIMEOUT, after about WAIT
    ms, and leaves the queue."""
    srv = ctx.single()
    c = srv.client()
    a = c.call("SESSION.OPEN", 20000)
    b = c.call("SESSION.OPEN", 20000)
    c.call("LOCK.ACQUIRE", "busy", a)
    start = time.monotonic()
    v = c.try_call("LOCK.ACQUIRE", "busy", b, "WAIT", 300, timeout=5.0)
    took = time.monotonic() - start
    expect_error(v, "TIMEOUT", "the wait")
    check(0.25 <= took <= 2.0, "TIMEOUT came after %.3f s for WAIT 300" % took)
    eq(status(c, "busy")["waiters"], 0, "waiters after the timeout")
    eq(status(c, "busy")["session"], a, "holder")


def test_wait_zero_is_try(ctx):
    """WAIT 0 on a held lock does not wait: HELD or TIMEOUT at once."""
    srv = ctx.single()
    c = srv.client()
    a = c.call("SESSION.OPEN", 20000)
    b = c.call("SESSION.OPEN", 20000)
    c.call("LOCK.ACQUIRE", "busy0", a)
    start = time.monotonic()
    v = c.try_call("LOCK.ACQUIRE", "busy0", b, "WAIT", 0, timeout=5.0)
    check(isinstance(v, RespError) and v.code in ("HELD", "TIMEOUT"), "WAIT 0: %r" % (v,))
    check(time.monotonic() - start < 1.0, "WAIT 0 waited")


# ---- reentrancy, retries ------------------------------------------------------------


def test_reentrancy_and_hold_counts(ctx):
    """The same session and owner acquire again (same token, holds count
    up); another owner of the same session, or another session, is HELD;
    only the holder releases, one hold at a time."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 20000)
    other = c.call("SESSION.OPEN", 20000)
    t = c.call("LOCK.ACQUIRE", "re", s, "OWNER", "me")
    for n in (2, 3):
        eq(c.call("LOCK.ACQUIRE", "re", s, "OWNER", "me"), t, "reentrant token")
        eq(status(c, "re")["holds"], n, "holds")
    v = expect_error(c.try_call("LOCK.ACQUIRE", "re", s, "OWNER", "you"), "HELD", "another owner")
    eq(v.message, "HELD by session %d" % s, "message")
    expect_error(c.try_call("LOCK.ACQUIRE", "re", other, "OWNER", "me"), "HELD", "another session")
    expect_error(c.try_call("LOCK.RELEASE", "re", s, "OWNER", "you"), "NOTHELD", "release by another owner")
    expect_error(c.try_call("LOCK.RELEASE", "re", other), "NOTHELD", "release by another session")
    for left in (2, 1, 0):
        eq(c.call("LOCK.RELEASE", "re", s, "OWNER", "me"), left, "holds left")
    expect_error(c.try_call("LOCK.RELEASE", "re", s, "OWNER", "me"), "NOTHELD", "release of a free lock")
    t2 = c.call("LOCK.ACQUIRE", "re", other)
    check(t2 > t, "new grant token %d > %d" % (t2, t))
    eq(as_map(c.call("SESSION.INFO", s))["locks"], 0, "locks of the first session")


def test_retry_safety(ctx):
    """A request repeated with its REQ returns the first outcome and has no
    second effect: open, acquire (also a failed try-lock), release (a retried
    release never releases a later grant), close, and lease locks."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 20000, "REQ", "open-a")
    eq(c.call("SESSION.OPEN", 20000, "REQ", "open-a"), s, "retried open")
    o = c.call("SESSION.OPEN", 20000, "REQ", "open-b")
    check(o != s, "a new REQ opens a new session")
    t1 = c.call("LOCK.ACQUIRE", "r", s, "REQ", "acq-1")
    eq(c.call("LOCK.ACQUIRE", "r", s, "REQ", "acq-1"), t1, "retried acquire")
    eq(status(c, "r")["holds"], 1, "holds after a retried acquire")
    held = expect_error(c.try_call("LOCK.ACQUIRE", "r", o, "REQ", "try-1"), "HELD", "try-lock")
    eq(c.call("LOCK.RELEASE", "r", s, "REQ", "rel-1"), 0, "release")
    eq(c.try_call("LOCK.RELEASE", "r", s, "REQ", "rel-1"), 0, "retried release")
    # The failed try-lock, retried after the lock became free, still failed.
    eq(c.try_call("LOCK.ACQUIRE", "r", o, "REQ", "try-1"), held, "retried try-lock")
    eq(status(c, "r")["session"], 0, "the retried try-lock took nothing")
    # A later grant, then the old release retried: it must not release it.
    t2 = c.call("LOCK.ACQUIRE", "r", s, "REQ", "acq-2")
    check(t2 > t1, "tokens grow")
    eq(c.try_call("LOCK.RELEASE", "r", s, "REQ", "rel-1"), 0, "old release retried")
    st = status(c, "r")
    eq((st["session"], st["token"], st["holds"]), (s, t2, 1), "the later grant after an old release is retried")
    # The retried first acquire returns its own token and adds no hold.
    eq(c.call("LOCK.ACQUIRE", "r", s, "REQ", "acq-1"), t1, "first acquire retried later")
    eq(status(c, "r")["holds"], 1, "holds")
    # Lease locks.
    lt = c.call("LOCK.ACQUIRE", "lease", "TTL", 20000, "REQ", "lease-1")
    eq(c.call("LOCK.ACQUIRE", "lease", "TTL", 20000, "REQ", "lease-1"), lt, "retried lease acquire")
    eq(c.call("LOCK.RELEASE", "lease", "TOKEN", lt, "REQ", "lrel-1"), 0, "lease release")
    eq(c.try_call("LOCK.RELEASE", "lease", "TOKEN", lt, "REQ", "lrel-1"), 0, "retried lease release")
    # Close.
    eq(c.call("SESSION.CLOSE", o, "REQ", "close-1"), "OK", "close")
    eq(c.try_call("SESSION.CLOSE", o, "REQ", "close-1"), "OK", "retried close")
    expect_error(c.try_call("SESSION.CLOSE", o), "NOSESSION", "close without REQ")
    eq(c.call("SESSION.OPEN", 20000, "REQ", "open-b"), o, "an old open retried returns its session")


# ---- lease locks ------------------------------------------------------------------------


def test_lease_lock_extend_release(ctx):
    """A lease lock is held by its token: EXTEND returns the TTL and keeps it
    past its first TTL, RELEASE TOKEN frees it; a wrong token is NOTHELD."""
    srv = ctx.single()
    c = srv.client()
    t = c.call("LOCK.ACQUIRE", "cron", "TTL", 300)
    expect_error(c.try_call("LOCK.ACQUIRE", "cron", "TTL", 300), "HELD", "second lease acquire")
    expect_error(c.try_call("LOCK.EXTEND", "cron", t + 1, 300), "NOTHELD", "extend with a wrong token")
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        eq(c.call("LOCK.EXTEND", "cron", t, 300), 300, "extend")
        time.sleep(0.1)
    eq(c.call("LOCK.CHECK", "cron", t), 1, "held after extends")
    info = as_map(c.call("SESSION.INFO", status(c, "cron")["session"]))
    eq(info["lease_lock"], 1, "the session under a lease lock says so")
    expect_error(c.try_call("LOCK.RELEASE", "cron", "TOKEN", t + 1), "NOTHELD", "release with a wrong token")
    eq(c.call("LOCK.RELEASE", "cron", "TOKEN", t), 0, "release")
    expect_error(c.try_call("LOCK.RELEASE", "cron", "TOKEN", t), "NOTHELD", "second release")
    expect_error(c.try_call("LOCK.EXTEND", "cron", t, 300), "NOTHELD", "extend after release")
    t2 = c.call("LOCK.ACQUIRE", "cron", "TTL", 300)
    check(t2 > t, "next token")


def test_lease_lock_expires(ctx):
    """A lease lock not extended expires after its TTL (and DELAY): another
    caller gets it, and the old token can no longer extend or release."""
    srv = ctx.single()
    c = srv.client()
    start = time.monotonic()
    t = c.call("LOCK.ACQUIRE", "job", "TTL", 300, "DELAY", 0)
    t2 = wait_for(lambda: (lambda v: v if isinstance(v, int) else None)(
        c.try_call("LOCK.ACQUIRE", "job", "TTL", 5000)), 5, "the lease lock to expire")
    took = time.monotonic() - start
    check(took >= 0.25, "the lease lock was taken over after %.3f s, before its TTL" % took)
    check(t2 > t, "token %d > %d" % (t2, t))
    eq(c.call("LOCK.CHECK", "job", t), 0, "old token")
    expect_error(c.try_call("LOCK.EXTEND", "job", t, 300), "NOTHELD", "extend by the expired token")
    expect_error(c.try_call("LOCK.RELEASE", "job", "TOKEN", t), "NOTHELD", "release by the expired token")
    eq(c.call("LOCK.CHECK", "job", t2), 1, "new token")


# ---- connections, protocol --------------------------------------------------------------


def test_pipelining_100_commands(ctx):
    """100 commands in one write (writes, reads, PING) get 100 replies in
    request order."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 20000)
    cmds = []
    for i in range(50):
        cmds.append(("LOCK.ACQUIRE", "pipe-%02d" % i, s))
        cmds.append(("ECHO", "e%d" % i) if i % 2 else ("LOCK.CHECK", "pipe-%02d" % i, 0))
    c.send_many(cmds)
    replies = [c.read(10) for _ in cmds]
    tokens = replies[0::2]
    check(all(isinstance(t, int) for t in tokens), "acquire replies: %r" % tokens[:5])
    check(all(a < b for a, b in zip(tokens, tokens[1:])), "tokens not in request order: %r" % tokens)
    for i in range(50):
        eq(replies[2 * i + 1], "e%d" % i if i % 2 else 0, "reply %d" % (2 * i + 1))
    eq(c.call("PING"), "PONG", "after the pipeline")
    lst = c.call("LOCK.LIST", "pipe-")
    eq(len(lst), 50, "locks listed")


def under_asan(pid):
    """Whether the process runs with AddressSanitizer, whose quarantine
    keeps freed memory resident: its RSS bounds nothing."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def test_unread_replies_pause_reading(ctx):
    """A client that sends 20,000 ECHOs of 1,000 bytes (20 MB of replies)
    without reading: the server stops reading from it once its replies back
    up, stays small and serves others; when the client reads, every reply
    comes, whole and in request order."""
    srv = ctx.single()
    n, size = 20000, 1000
    data = b"".join(dlocktest.encode_command(["ECHO", b"%08d" % i + b"x" * (size - 8)])
                    for i in range(n))
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.setblocking(False)
    sent = 0
    try:
        while sent < len(data):
            try:
                sent += sock.send(data[sent:sent + 65536])
            except BlockingIOError:
                if not select.select([], [sock], [], 2.0)[1]:
                    break  # the server has stopped reading
        check(sent < len(data), "the server read all 20 MB of requests without pausing")
        eq(srv.client().call("PING"), "PONG", "another client while one reads nothing")
        rss = rss_mib(srv.pid)
        check(rss < 64 or under_asan(srv.pid),
              "the server's RSS with the replies backed up: %.1f MiB" % rss)
        got = bytearray()
        reply = 7 + size + 2  # "$1000\r\n" + the bytes + "\r\n"
        deadline = time.time() + 60
        while len(got) < n * reply and time.time() < deadline:
            if sent < len(data) and select.select([], [sock], [], 0)[1]:
                try:
                    sent += sock.send(data[sent:sent + 65536])
                except BlockingIOError:
                    pass
            if select.select([sock], [], [], 0.1)[0]:
                chunk = sock.recv(1 << 20)
                check(chunk, "the server closed the connection after %d bytes" % len(got))
                got += chunk
    finally:
        sock.close()
    eq(len(got), n * reply, "bytes of replies")
    for i in range(0, n, 97):
        at = i * reply
        eq(bytes(got[at:at + 15]), b"$%d\r\n%08d" % (size, i), "reply %d" % i)


def test_reply_amplification_is_bounded(ctx):
    """400 pipelined LOCK.LIST of 1,000 locks (16 KB of requests that ask
    for about 70 MB of replies), left unread: the server serves them only
    as their replies go out, so its memory stays small and other clients
    are served; then the client reads them all, each the same as a LIST
    alone. (Before, the server built every reply at once, then closed the
    connection past --max-output.)"""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 120000)
    c.send_many([("LOCK.ACQUIRE", "amp-%04d" % i, s) for i in range(1000)])
    for i in range(1000):
        check(isinstance(c.read(10), int), "acquire %d" % i)
    one = dlocktest.encode_command(["LOCK.LIST", "amp-", "COUNT", "1000"])
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    try:
        def read_for(n, quiet):
            got = bytearray()
            sock.settimeout(quiet)
            while len(got) < n:
                try:
                    chunk = sock.recv(1 << 20)
                except socket.timeout:
                    break
                check(chunk, "the server closed the connection")
                got += chunk
            return bytes(got)
        sock.sendall(one)
        alone = read_for(1 << 30, 0.5)
        check(len(alone) > 100000, "one LIST of 1,000 locks: %d bytes" % len(alone))
        base = rss_mib(srv.pid)
        sock.sendall(one * 400)
        time.sleep(1.0)
        grew = rss_mib(srv.pid) - base
        check(grew < 24 or under_asan(srv.pid),
              "the server's RSS grew by %.1f MiB with the replies unread" % grew)
        eq(c.call("PING"), "PONG", "another client meanwhile")
        got = read_for(400 * len(alone), 10)
        eq(len(got), 400 * len(alone), "bytes of replies")
        # lease_left_ms counts down (six digits while over 100 s).
        def same(b):
            return re.sub(rb":1\d{5}\r\n", b":lease\r\n", b)
        check(same(got) == same(alone) * 400, "every reply the same as the LIST alone")
    finally:
        sock.close()


def resp2_size(v):
    """The bytes of v (a reply of integers, bulk strings and arrays) in
    RESP2."""
    if isinstance(v, list):
        return len(b"*%d\r\n" % len(v)) + sum(resp2_size(x) for x in v)
    if isinstance(v, int):
        return len(b":%d\r\n" % v)
    b = v.encode("utf-8", "surrogateescape")
    return len(b"$%d\r\n" % len(b)) + len(b) + 2


def list_pages(c, prefix, count):
    """Pages through LOCK.LIST prefix with AFTER the last name of each page
    until an empty page; returns the pages."""
    pages, after = [], ""
    while True:
        page = [as_map(x) for x in c.call("LOCK.LIST", prefix, "COUNT", count, "AFTER", after)]
        if not page:
            return pages
        pages.append(page)
        after = page[-1]["name"]


def test_list_reply_always_fits(ctx):
    """16,000 locks with 256-byte names and 64-byte owners (a LIST of them
    all takes about 8 MB, past what sockets take at once and then past
    --max-output) on a server with --max-output 1 MiB, to a client whose
    socket takes little at a time: LOCK.LIST COUNT 16000 ends
    its reply at a quarter of --max-output and the connection stays open;
    paging with AFTER gives every lock once, in order, with its owner.
    (Before, the server built the whole reply and closed the connection,
    the client reading.)"""
    srv = ctx.single(extra=["--max-output", str(1 << 20)])
    names = dlocktest.hold_maximal_locks(srv.client(timeout=30), "big-", 16000)
    c = srv.client(timeout=30)
    c.sock.close()
    c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.sock.connect(("127.0.0.1", srv.port))
    raw = c.call("LOCK.LIST", "big-", "COUNT", 16000)
    first = [as_map(x) for x in raw]
    check(0 < len(first) < 16000, "one page of %d locks" % len(first))
    size = resp2_size(raw)
    check((1 << 18) - 1000 < size <= (1 << 18), "a page of %d bytes, --max-output / 4 is 262144" % size)
    eq([l["name"] for l in first], names[:len(first)], "the first page")
    pages = list_pages(c, "big-", 16000)
    per_page = len(first)
    check(abs(len(pages) - -(-16000 // per_page)) <= 1,
          "%d pages of about %d locks" % (len(pages), per_page))
    got = [l for page in pages for l in page]
    eq([l["name"] for l in got], names, "every lock once, in name order")
    check(all(l["owner"] == "o" * 64 and l["held"] == 1 for l in got), "owners")
    eq(c.call("PING"), "PONG", "the connection stays open")


def test_list_after_pages_in_name_order(ctx):
    """LOCK.LIST ... AFTER name lists only the locks whose names sort after
    name (byte order, a prefix first), whether or not name is a lock:
    pages of 7 give every lock of the prefix exactly once, in name order,
    as one LIST does; AFTER the last is empty; AFTER alone after the
    command is an option; a missing value is ERR, a name over 256 bytes
    LIMIT."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 60000)
    names = ["pg-%d" % i for i in range(60)] + ["pg-", "pg-1\x00", "pg-\xff"]
    c.send_many([("LOCK.ACQUIRE", n, s) for n in names + ["pf-x", "ph-x"]])
    for n in names + ["pf-x", "ph-x"]:
        check(isinstance(c.read(10), int), "acquire %r" % n)
    whole = [as_map(x)["name"] for x in c.call("LOCK.LIST", "pg-")]
    eq(whole, sorted(names, key=lambda n: n.encode("utf-8", "surrogateescape")), "one LIST, in byte order")
    pages = list_pages(c, "pg-", 7)
    eq([len(p) for p in pages], [7] * 9, "pages of 7")
    eq([l["name"] for p in pages for l in p], whole, "the pages: every lock once, in order")
    after = [as_map(x)["name"] for x in c.call("LOCK.LIST", "pg-", "AFTER", "pg-5")]
    eq(after, [n for n in whole if n.encode("utf-8", "surrogateescape") > b"pg-5"], "AFTER a name that is not a lock")
    eq(c.call("LOCK.LIST", "pg-", "AFTER", whole[-1]), [], "AFTER the last")
    eq([as_map(x)["name"] for x in c.call("LOCK.LIST", "AFTER", "pg-9")], ["pg-\xff", "ph-x"],
       "AFTER as the first argument")
    eq([as_map(x)["name"] for x in c.call("LOCK.LIST", "AFTER", "pg-9", "COUNT", 1)], ["pg-\xff"],
       "AFTER and COUNT")
    expect_error(c.try_call("LOCK.LIST", "pg-", "AFTER"), "ERR", "AFTER without a value")
    expect_error(c.try_call("LOCK.LIST", "pg-", "AFTER", "a" * 257), "LIMIT", "AFTER over 256 bytes")
    expect_error(c.try_call("LOCK.LIST", "pg-", "BEFORE", "x"), "ERR", "an unknown option")


def test_pending_replies_pause_then_serve(ctx):
    """1,100 pipelined blocking acquires that must wait, then an ECHO: the
    server serves 1,024 (its bound on pending replies) and leaves the rest
    read but unserved; as the waits time out it serves the rest, in order,
    and the ECHO last."""
    srv = ctx.single()
    c = srv.client()
    a = c.call("SESSION.OPEN", 60000)
    b = c.call("SESSION.OPEN", 60000)
    c.call("LOCK.ACQUIRE", "x", a)
    w = srv.client(timeout=30)
    w.send_many([("LOCK.ACQUIRE", "x", b, "WAIT", 1500, "OWNER", "o%d" % i) for i in range(1100)]
                + [("ECHO", "after")])
    wait_waiters(c, "x", 1024)
    time.sleep(0.3)
    eq(status(c, "x")["waiters"], 1024, "waiters while 1,024 replies are pending")
    for i in range(1100):
        expect_error(w.read(10), "TIMEOUT", "acquire %d" % i)
    eq(w.read(10), "after", "the ECHO behind them")


def test_resp3_maps(ctx):
    """After HELLO 3 replies are RESP3: maps for HELLO, SESSION.INFO,
    LOCK.STATUS, CLUSTER.INFO (members too), booleans for held; HELLO 2
    goes back to flat arrays; other versions are NOPROTO."""
    srv = ctx.single()
    c = srv.client()
    h = c.call("HELLO", 3)
    check(isinstance(h, dict), "HELLO 3: %r" % (h,))
    eq((h["server"], h["proto"]), ("dlock", 3), "HELLO fields")
    c.proto = 3
    s = c.call("SESSION.OPEN", 20000, "NAME", "r3")
    si = c.call("SESSION.INFO", s)
    check(isinstance(si, dict), "SESSION.INFO: %r" % (si,))
    eq((si["id"], si["name"], si["ttl_ms"]), (s, "r3", 20000), "session fields")
    t = c.call("LOCK.ACQUIRE", "m", s)
    st = c.call("LOCK.STATUS", "m")
    check(isinstance(st, dict), "LOCK.STATUS: %r" % (st,))
    check(st["held"] is True, "held is a RESP3 boolean: %r" % (st["held"],))
    eq(st["token"], t, "token")
    ci = c.call("CLUSTER.INFO")
    check(isinstance(ci, dict) and all(isinstance(m, dict) for m in ci["members"]), "CLUSTER.INFO: %r" % (ci,))
    lst = c.call("LOCK.LIST")
    check(isinstance(lst, list) and isinstance(lst[0], dict), "LOCK.LIST: %r" % (lst,))
    eq(c.call("CLIENT", "GETNAME"), None, "a RESP3 null")
    h2 = c.call("HELLO", 2)
    check(isinstance(h2, list), "HELLO 2 is a flat array: %r" % (h2,))
    check(isinstance(c.call("LOCK.STATUS", "m"), list), "RESP2 again")
    expect_error(c.try_call("HELLO", 4), "NOPROTO", "HELLO 4")
    eq(c.call("PING"), "PONG", "after NOPROTO the connection stays")


def protocol_error_closes(srv, data):
    """Sends data on a new connection; None if the server answered with "ERR
    Protocol error: ..." and closed the connection, else what it did."""
    c = srv.client()
    try:
        c.send_raw(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed before all was sent: the reply may still be there
    try:
        replies = c.read_until_closed()
    except ConnectionResetError:
        return "%r: the connection was reset without a reply" % (data[:40],)
    if replies and isinstance(replies[-1], RespError) and replies[-1].message.startswith("ERR Protocol error"):
        return None
    return "%r: expected ERR Protocol error and a close, got %r" % (
        data[:40], [str(r)[:80] for r in replies])


def test_malformed_resp_closes_connection(ctx):
    """Malformed RESP gets "ERR Protocol error: ..." and the connection is
    closed, and so does a well-formed value that is not a request (an empty
    or null array, a map, a bare integer, an array with an integer), after
    the replies to the requests before it and with nothing after it served;
    the server goes on serving others."""
    srv = ctx.single()
    bad = [b"*1\r\n$abc\r\n", b"*2\r\n$4\r\nPING\r\n:x\r\n", b"*-5x\r\n", b"$3\r\nabcde\r\n",
           b"*1\r\n$4\r\nPINGXX\r\n", b"*1\r\n*1\r\n$4\r\nPING\r\n", b"PING \"unbalanced\r\n"]
    for value in (b"*0\r\n", b"*-1\r\n", b"%1\r\n$1\r\na\r\n$1\r\nb\r\n", b":5\r\n",
                  b"*1\r\n:5\r\n", b"*2\r\n$4\r\nECHO\r\n:5\r\n", b"_\r\n", b"$4\r\nPING\r\n"):
        bad.append(value + b"PING\r\n")
        bad.append(b"PING\r\n*1\r\n$4\r\nPING\r\n" + value + b"*1\r\n$4\r\nPING\r\n")
    wrong = []
    for data in bad:
        why = protocol_error_closes(srv, data)
        if why:
            wrong.append(why)
        check(srv.ping(), "the server answers after %r" % data)
    check(not wrong, "; ".join(wrong))


def test_oversized_requests_close_connection(ctx):
    """A request over the limits of one request is a protocol error: "ERR
    Protocol error" and the connection closed, the server unharmed: 2000
    arguments (over 1,024), one argument announced at 2 MiB, and the first
    1 MiB + 1 KiB of a request of 100 arguments of 15,000 bytes (over
    --max-request, 1 MiB); a request of 1,000 arguments and 900 KiB is
    served."""
    srv = ctx.single()
    arg = b"$15000\r\n" + b"y" * 15000 + b"\r\n"
    big = b"*100\r\n" + arg * 70
    big = big[:(1 << 20) + 1024]
    wrong = []
    for data in (dlocktest.encode_command(["PING"] + ["x"] * 1999),
                 b"*2\r\n$4\r\nECHO\r\n$2097152\r\n" + b"z" * 1000, big):
        why = protocol_error_closes(srv, data)
        if why:
            wrong.append(why)
    check(srv.ping(), "alive")
    check(not wrong, "; ".join(wrong))
    v = srv.try_call(*(["LOCK.LIST", "pre"] + ["p" * 920] * 998))
    expect_error(v, "ERR", "a large LOCK.LIST with bad options")


def test_limits(ctx):
    """Requests over the limits: a 257-byte name (or 65-byte owner, REQ,
    client name, CLIENT SETNAME and HELLO SETNAME) is LIMIT and changes
    nothing; 256 bytes (64) work; TTL, WAIT and
    DELAY out of range, and other bad arguments, are ERR and keep the
    connection; inline commands work."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 20000)
    expect_error(c.try_call("LOCK.ACQUIRE", "n" * 257, s), "LIMIT", "a 257-byte name")
    expect_error(c.try_call("LOCK.ACQUIRE", "n" * 257, "TTL", 1000), "LIMIT", "a 257-byte lease lock name")
    expect_error(c.try_call("LOCK.STATUS", "n" * 257), "LIMIT", "status of a 257-byte name")
    check(c.call("LOCK.ACQUIRE", "n" * 256, s) > 0, "a 256-byte name")
    expect_error(c.try_call("LOCK.ACQUIRE", "o", s, "OWNER", "w" * 65), "LIMIT", "a 65-byte owner")
    check(c.call("LOCK.ACQUIRE", "o", s, "OWNER", "w" * 64) > 0, "a 64-byte owner")
    expect_error(c.try_call("LOCK.ACQUIRE", "q", s, "REQ", "r" * 65), "LIMIT", "a 65-byte REQ")
    expect_error(c.try_call("SESSION.OPEN", 1000, "NAME", "x" * 65), "LIMIT", "a 65-byte client name")
    eq(as_map(c.call("SESSION.INFO", s))["locks"], 2, "nothing changed by the refused requests")
    eq(len(c.call("LOCK.LIST")), 2, "locks listed")
    eq(c.call("CLIENT", "SETNAME", "n" * 64), "OK", "a 64-byte CLIENT SETNAME")
    eq(c.call("CLIENT", "GETNAME"), "n" * 64, "the 64-byte name, whole")
    expect_error(c.try_call("CLIENT", "SETNAME", "m" * 65), "LIMIT", "a 65-byte CLIENT SETNAME")
    expect_error(c.try_call("HELLO", 3, "SETNAME", "m" * 65), "LIMIT", "a 65-byte HELLO SETNAME")
    eq(c.call("CLIENT", "GETNAME"), "n" * 64, "the name kept after the refused ones")
    check(isinstance(c.call("LOCK.STATUS", "o"), list), "RESP2 kept after the refused HELLO")
    for args in (("SESSION.OPEN", 99), ("SESSION.OPEN", 3600001), ("SESSION.OPEN", "x"),
                 ("LOCK.ACQUIRE", "w", s, "WAIT", 86400001), ("LOCK.ACQUIRE", "w", s, "DELAY", 600001),
                 ("LOCK.ACQUIRE", "w", "TTL", 50), ("LOCK.ACQUIRE", "", s), ("LOCK.ACQUIRE", "w", s, "BOGUS", 1),
                 ("LOCK.ACQUIRE", "w"), ("NO.SUCH.COMMAND",), ("LOCK.LIST", "COUNT", 0),
                 ("LOCK.ACQUIRE", "w", s, "AIT", 1), ("LOCK.ACQUIRE", "w", s, "WAIT DELAY", 1),
                 ("SESSION.OPEN", 1000, "AME", "x"), ("LOCK.LIST", "", "OUNT", 5)):
        expect_error(c.try_call(*args), "ERR", " ".join(map(str, args))[:60])
    eq(c.call("PING"), "PONG", "the connection stays after ERR replies")
    # Inline commands, as a telnet user types them.
    c4 = srv.client()
    c4.send_raw(b"PING\r\nECHO \"two words\"\r\n\r\nLOCK.STATUS o\n")
    eq(c4.read(), "PONG", "inline PING")
    eq(c4.read(), "two words", "inline ECHO")
    eq(as_map(c4.read())["session"], s, "inline LOCK.STATUS")
    check(srv.ping(), "alive")


def test_garbage_never_crashes(ctx):
    """A few hundred random byte strings, and mutations of valid requests,
    each on its own connection, never crash the server: it answers PING
    after, and its log has no sanitizer report."""
    srv = ctx.single()
    seed = int(os.environ.get("DLOCKTEST_SEED", "0")) or int(time.time() * 1000) & 0xFFFFFFFF
    srv.note("garbage seed %d (replay: DLOCKTEST_SEED=%d)" % (seed, seed))
    rng = random.Random(seed)
    valid = [dlocktest.encode_command(a) for a in (
        ("SESSION.OPEN", 1000, "REQ", "g"), ("LOCK.ACQUIRE", "g", 3, "WAIT", 10), ("LOCK.STATUS", "g"),
        ("LOCK.RELEASE", "g", "TOKEN", 1), ("HELLO", 3), ("LOCK.LIST", "", "COUNT", 5), ("CLUSTER.INFO",),
        ("SESSION.INFO", 3), ("LOCK.EXTEND", "g", 1, 200), ("COMMAND", "INFO", "PING"))]
    alphabet = b"*$:+-_#,%~>|!=(\r\n0123456789-"
    for i in range(400):
        kind = i % 4
        if kind == 0:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
        elif kind == 1:
            data = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 100)))
        else:
            data = bytearray(rng.choice(valid) * rng.randint(1, 3))
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(len(data))
                op = rng.randrange(3)
                if op == 0:
                    data[pos] = rng.choice(alphabet)
                elif op == 1:
                    del data[pos:pos + rng.randint(1, 8)]
                else:
                    data[pos:pos] = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
            data = bytes(data)
        try:
            with socket.create_connection((dlocktest.HOST, srv.port), timeout=5) as sk:
                sk.sendall(data)
                sk.shutdown(socket.SHUT_WR)
                while sk.recv(65536):
                    pass
        except (ConnectionResetError, BrokenPipeError):
            pass
        except socket.timeout:
            pass  # a request that waits (say a blocking acquire) is fine
        if i % 50 == 49:
            check(srv.alive() and srv.ping(), "the server died after input %d (seed %d): %r" % (i, seed, data))
    check(srv.alive() and srv.ping(), "the server answers PING after the garbage (seed %d)" % seed)


def test_many_connections(ctx):
    """500 connections at once are all served; closing them brings the
    count back down."""
    srv = ctx.single()
    conns = [Client(srv.addr, timeout=10) for _ in range(500)]
    try:
        for i, c in enumerate(conns):
            c.send("ECHO", "c%d" % i)
        for i, c in enumerate(conns):
            eq(c.read(), "c%d" % i, "reply on connection %d" % i)
    finally:
        for c in conns:
            c.close()
    c = srv.client()
    wait_for(lambda: "connected_clients:1\r" in c.call("INFO"), 5, "connected_clients to drop to 1")


def test_max_clients(ctx):
    """Past --max-clients a new connection gets "LIMIT too many clients" and
    is closed; the ones before it keep working."""
    srv = ctx.server(1, extra=["--max-clients", "5"]).start().wait_leader()
    first = srv.client()
    # The connections of the start-up checks close asynchronously.
    wait_for(lambda: "connected_clients:1\r" in first.call("INFO"), 5, "the earlier connections to close")
    conns = [first] + [srv.client() for _ in range(4)]
    for c in conns:
        eq(c.call("PING"), "PONG", "within the limit")
    extra = srv.client()
    replies = extra.read_until_closed()
    check(replies and isinstance(replies[0], RespError) and replies[0].message.startswith("LIMIT too many clients"),
          "the 6th connection: %r" % (replies,))
    eq(conns[0].call("PING"), "PONG", "an earlier connection")


def redis_cli(srv, *args, extra=()):
    r = subprocess.run(["redis-cli", "-p", str(srv.port)] + list(extra) + [str(a) for a in args],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=10, text=True)
    return r.stdout


def test_redis_cli_works(ctx):
    """redis-cli speaks to dlockd: raw output, RESP3 (-3, which sends HELLO
    3), and a session of commands on its standard input."""
    srv = ctx.single()
    eq(redis_cli(srv, "PING"), "PONG\n", "PING")
    s = int(redis_cli(srv, "SESSION.OPEN", 20000))
    eq(redis_cli(srv, "LOCK.ACQUIRE", "cli", s), "1\n", "acquire")
    out = redis_cli(srv, "SESSION.INFO", s, extra=["-3", "--no-raw"])
    check('1# "id" => (integer) %d' % s in out, "RESP3 map from redis-cli -3:\n%s" % out)
    r = subprocess.run(["redis-cli", "-p", str(srv.port)], input="PING\nLOCK.CHECK cli 1\nECHO hi\n",
                       capture_output=True, timeout=10, text=True)
    eq(r.stdout, "PONG\n1\nhi\n", "commands on stdin")


def test_quit_after_pending_replies(ctx):
    """QUIT closes the connection only after every earlier reply: a
    pipelined blocking acquire, still waiting when QUIT arrives, gets its
    answer (here TIMEOUT), then QUIT its OK."""
    srv = ctx.single()
    c = srv.client()
    a = c.call("SESSION.OPEN", 20000)
    b = c.call("SESSION.OPEN", 20000)
    c.call("LOCK.ACQUIRE", "q", a)
    c.send_many([("LOCK.ACQUIRE", "q", b, "WAIT", 300), ("QUIT",)])
    first = c.read(5)
    check(isinstance(first, RespError) and str(first).startswith("TIMEOUT"),
          "the pending acquire's reply before QUIT's: %r" % (first,))
    eq(c.read(5), "OK", "QUIT's reply")


def children_of(pid):
    """The pids of pid's child processes (from /proc)."""
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(d))
    return kids


def test_snapshot_written_by_a_child_process(ctx):
    """Snapshots are written by a forked child, off the loop: with one every
    200 entries the log says each was written (and how long the loop was
    held), the child is gone once it has reported, the log is compacted,
    and after kill -9 the server comes back from the snapshot with every
    lock and token."""
    srv = ctx.single(extra=("--snapshot-entries", "200"))
    c = srv.client()
    s = c.call("SESSION.OPEN", 600000)
    tokens = []
    for r in range(3):
        cmds = [("LOCK.ACQUIRE", "snap-%d" % (i % 150), s) for i in range(300)]
        c.send_many(cmds)
        tokens += [c.read() for _ in cmds]
        wait_for(lambda: srv.log_text().count("snapshot at ") >= r + 1, 10,
                 "snapshot %d written" % (r + 1))
    check(all(isinstance(t, int) for t in tokens), "every acquire granted")
    check("the loop held for" in srv.log_text(), "the log tells the fork's pause")
    check("not written" not in srv.log_text(), "no snapshot lost")
    wait_for(lambda: not children_of(srv.pid), 5, "no snapshot process left")
    snap_index = srv.info()["snapshot_index"]
    check(snap_index >= 600, "the log compacted up to a snapshot (%d)" % snap_index)
    c.close()
    srv.kill()
    srv.start()
    srv.wait_leader()
    check("restored" in srv.log_tail(40), "restored")
    c = srv.client()
    for i in range(150):
        st = status(c, "snap-%d" % i)
        eq(st["held"], 1, "snap-%d held after the restart" % i)
        eq(st["holds"], 6, "snap-%d's hold count" % i)
    check(c.call("LOCK.ACQUIRE", "after", s) > max(tokens), "a token above every earlier one")
    c.close()
