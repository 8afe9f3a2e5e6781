"""test_reqids.py - a request id names one request (docs/protocol.md §1):
the same REQ on another command, or on the same command with other
arguments, is refused with ERR and changes nothing; repeated as it was, it
answers the first outcome."""

from dlocktest import check, eq
from test_single import expect_error, status

REUSED = "ERR REQ id was used for another request"


def reused(v, what):
    expect_error(v, "ERR", what)
    check(v.message.startswith(REUSED), "%s: %r" % (what, v))


def test_acquire_id_reused_for_another_lock_or_owner(ctx):
    """LOCK.ACQUIRE a S REQ x, then LOCK.ACQUIRE b S REQ x: ERR, b stays
    free (it used to answer a's token); another OWNER, likewise; the same
    acquire again answers a's token."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 60000)
    tok = c.call("LOCK.ACQUIRE", "a", s, "OWNER", "w1", "REQ", "x")
    reused(c.try_call("LOCK.ACQUIRE", "b", s, "OWNER", "w1", "REQ", "x"),
           "another lock")
    eq(status(c, "b")["session"], 0, "b's holder")
    reused(c.try_call("LOCK.ACQUIRE", "a", s, "OWNER", "w2", "REQ", "x"),
           "another owner")
    eq(c.call("LOCK.ACQUIRE", "a", s, "OWNER", "w1", "REQ", "x"), tok,
       "the same acquire again")
    eq(status(c, "a")["holds"], 1, "a's holds")


def test_acquire_id_reused_on_release_and_close(ctx):
    """An acquire's REQ on LOCK.RELEASE or SESSION.CLOSE is ERR: the lock
    stays held and the session open."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 60000)
    c.call("LOCK.ACQUIRE", "a", s, "REQ", "x")
    reused(c.try_call("LOCK.RELEASE", "a", s, "REQ", "x"), "release")
    reused(c.try_call("SESSION.CLOSE", s, "REQ", "x"), "close")
    eq(status(c, "a")["session"], s, "a's holder")
    eq(c.call("LOCK.RELEASE", "a", s, "REQ", "y"), 0, "a release")
    eq(c.call("SESSION.CLOSE", s, "REQ", "z"), "OK", "a close")


def test_open_id_reused_with_another_ttl_and_by_a_lease_lock(ctx):
    """SESSION.OPEN 5000 REQ o, then SESSION.OPEN 7000 REQ o: ERR; a lease
    lock with REQ o too (one table); SESSION.OPEN 5000 REQ o answers the
    first session."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 5000, "REQ", "o")
    reused(c.try_call("SESSION.OPEN", 7000, "REQ", "o"), "another TTL")
    reused(c.try_call("LOCK.ACQUIRE", "l", "TTL", 5000, "REQ", "o"),
           "a lease lock")
    eq(status(c, "l")["session"], 0, "l's holder")
    eq(c.call("SESSION.OPEN", 5000, "REQ", "o"), s, "the same open again")
