"""test_expiry.py - many sessions whose leases end together (docs/design.md
§12, docs/operations.md): the leader expires them in batches, all within
their bound, and logs one summary line per batch, not a line per session
and per lost lock."""

import time

from dlocktest import check, eq, info_fields, wait_for

SESSIONS = 5000
TTL_MS = 2000
MARGIN_S = 5.0  # generous: sanitizers and a loaded machine


def open_holding(c, n, ttl):
    """Opens n sessions with ttl, each holding the lock exp-<i> with no
    lock-delay (pipelined); returns the session ids."""
    ids = []
    for at in range(0, n, 1000):
        part = range(at, min(n, at + 1000))
        c.send_many([("SESSION.OPEN", ttl) for _ in part])
        ids += [c.read(30) for _ in part]
    for at in range(0, n, 1000):
        part = range(at, min(n, at + 1000))
        c.send_many([("LOCK.ACQUIRE", "exp-%d" % i, ids[i], "DELAY", 0) for i in part])
        for i in part:
            check(isinstance(c.read(30), int), "acquire exp-%d" % i)
    return ids


def expiry_lines(srv):
    with open(srv.log_path, errors="replace") as f:
        return [l for l in f if "expired" in l]


def test_many_sessions_expire_in_batches(ctx):
    """5,000 sessions with a 2 s TTL, each holding a lock, are not kept
    alive: every lock is free within the TTL (from the last open) plus a
    generous margin, every session is gone, and the log has a few summary
    lines (at most one per 100 sessions), each naming example sessions and
    locks. Before, each session and each lost lock was a line of its own."""
    srv = ctx.single()
    c = srv.client()
    ids = open_holding(c, SESSIONS, TTL_MS)
    opened = time.monotonic()
    eq(int(info_fields(c)["held"]), SESSIONS, "held locks")
    wait_for(lambda: int(info_fields(c)["held"]) == 0, TTL_MS / 1000.0 + MARGIN_S,
             "every lock to be free after its session's TTL", interval=0.1)
    took = time.monotonic() - opened
    check(took >= TTL_MS / 1000.0 - 0.5, "locks free after %.2f s, before the TTL" % took)
    eq(int(info_fields(c)["sessions"]), 0, "sessions left")
    lines = expiry_lines(srv)
    check(0 < len(lines) <= SESSIONS // 100,
          "%d expiry lines in the log for %d sessions" % (len(lines), SESSIONS))
    total = 0
    for line in lines:
        text = line.split("expired ", 1)[1]
        n = int(text.split(" ", 1)[0])
        total += n
        check("%d locks lost; e.g. session " % n in text or "1 lock lost; e.g. session " in text,
              "an expiry line without its count of lost locks or examples: %r" % line)
    eq(total, SESSIONS, "sessions counted by the expiry lines")
    check(("'exp-" in lines[0]) and ("session %d" % ids[0]) in "".join(lines),
          "the first session and its lock named as examples: %r" % lines[0])


def test_expiry_without_locks_names_sessions(ctx):
    """A session that held nothing expires with a line that names it."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 200)
    wait_for(lambda: int(info_fields(c)["sessions"]) == 0, 5, "the session to expire")
    wait_for(lambda: expiry_lines(srv), 5, "the expiry line")
    line = expiry_lines(srv)[0]
    check("expired 1 session, 0 locks lost; sessions %d" % s in line,
          "the expiry line: %r" % line)


def test_leases_ending_together_after_a_restart(ctx):
    """10,000 sessions with a 4 s TTL, each holding a lock; the server is
    restarted, and so gives each a fresh lease at once: all end together,
    more than one turn of the loop proposes (8,192). Every lock is free
    within the TTL plus the margin from when it serves again, with at most
    one log line per 100 sessions."""
    srv = ctx.single()
    c = srv.client()
    ttl = 2 * TTL_MS  # time to open them all, even under sanitizers
    open_holding(c, 2 * SESSIONS, ttl)
    eq(int(info_fields(c)["held"]), 2 * SESSIONS, "held locks")
    c.close()
    srv.term()
    srv.note("restarted")
    srv.start()
    srv.wait_leader()
    c = srv.client()
    served = time.monotonic()
    wait_for(lambda: int(info_fields(c)["held"]) == 0, ttl / 1000.0 + MARGIN_S,
             "every lock to be free after its session's TTL", interval=0.1)
    eq(int(info_fields(c)["sessions"]), 0, "sessions left")
    took = time.monotonic() - served
    check(took >= ttl / 1000.0 - 0.5, "locks free %.2f s after the restart, before the TTL" % took)
    with open(srv.log_path, errors="replace") as f:
        after = f.read().split("restarted", 1)[1]
    lines = [l for l in after.splitlines() if "expired" in l]
    check(len(lines) <= 2 * SESSIONS // 100, "%d expiry lines for %d sessions" % (len(lines), 2 * SESSIONS))
    total = sum(int(l.split("expired ", 1)[1].split(" ", 1)[0]) for l in lines)
    eq(total, 2 * SESSIONS, "sessions counted by the expiry lines after the restart")
