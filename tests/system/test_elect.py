"""test_elect.py - elections (docs/protocol.md §4) with real dlockd
processes: one leader at a time with its value, across a kill -9 of the
cluster's leader; a leader whose session expires leaves no leader for its
lock-delay, then the next candidate leads with its own value; a lost
leader's proclaim with its old token is refused."""

from dlocktest import KeepAlive, LeaderClient, as_map, check, eq, wait_for


def leader(c, name):
    return as_map(c.call("ELECT.LEADER", name))


def test_one_leader_across_a_crash_and_expiry(ctx):
    """Two candidates; kill -9 of the cluster's leader keeps the election's
    leader and value; the leader's session then expires: for its
    lock-delay nobody leads; then the candidate, repeated at the new
    cluster leader with its REQ, leads with its value and a higher token;
    the old leader's proclaim under its token is NOTHELD."""
    cl = ctx.cluster(3)
    old = cl.wait_leader()
    lc = LeaderClient(cl.addrs())
    ctx.defer(lc.close)
    a = lc.call("SESSION.OPEN", 800, "REQ", "open-a")
    b = lc.call("SESSION.OPEN", 5000, "REQ", "open-b")
    ka_a = KeepAlive(cl.addrs(), [a], interval=0.1)
    ka_b = KeepAlive(cl.addrs(), [b], interval=0.2)
    ctx.defer(ka_a.stop)
    ctx.defer(ka_b.stop)
    ta = lc.call("ELECT.CAMPAIGN", "primary", a, "host-a", "DELAY", 1000, "REQ", "c-a")
    eq(lc.call("ELECT.PROCLAIM", "primary", a, ta, "host-a:1"), "OK", "the leader proclaims")
    cb = old.client()
    cb.send("ELECT.CAMPAIGN", "primary", b, "host-b", "WAIT", 30000, "REQ", "c-b")
    wait_for(lambda: leader(lc, "primary")["candidates"] == 1, 5, "the candidate queued")
    old.kill()
    cb.close()
    new = cl.wait_leader(other_than=old.id)
    st = leader(lc, "primary")
    eq((st["leader"], st["token"], st["value"]), (a, ta, "host-a:1"), "the election at the new leader")
    cb = new.client()
    cb.send("ELECT.CAMPAIGN", "primary", b, "host-b", "WAIT", 30000, "REQ", "c-b")
    ka_a.stop()  # the leader's session now expires
    wait_for(lambda: leader(lc, "primary")["leader"] == 0, 5, "no leader after the expiry")
    eq(leader(lc, "primary")["value"], "", "no value without a leader")
    check(not cb.pending(0.3), "the candidate waits for the lock-delay")
    tb = cb.read(5)
    check(isinstance(tb, int) and tb > ta, "the candidate's token %r after %r" % (tb, ta))
    st = leader(lc, "primary")
    eq((st["leader"], st["value"]), (b, "host-b"), "the new leader and its value")
    eq(lc.try_call("ELECT.PROCLAIM", "primary", b, ta, "stale").code, "NOTHELD",
       "a proclaim under the old token")
    eq(lc.try_call("LOCK.ACQUIRE", "primary", b).code, "KIND", "a lock command on an election")
    ka_b.check()
