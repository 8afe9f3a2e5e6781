"""test_sem.py - semaphores (docs/protocol.md §4) with real dlockd
processes: never more than N permits held, across a kill -9 of the leader;
the queue is strictly FIFO; an expired holder's permits come back after
its lock-delay while the others go on being granted."""

import dlocktest
from dlocktest import KeepAlive, LeaderClient, as_map, check, eq, wait_for


def sem_status(c, name):
    return as_map(c.call("SEM.STATUS", name))


def no_reply(c, seconds):
    check(not c.pending(seconds), "an answer came too early")


def test_permits_across_a_leader_crash(ctx):
    """Two permits, three workers: the third waits; after kill -9 of the
    leader the new one has the same holders and waiter (repeated with its
    REQ), and it is granted only when a permit comes back."""
    cl = ctx.cluster(3)
    old = cl.wait_leader()
    lc = LeaderClient(cl.addrs())
    ctx.defer(lc.close)
    ws = [lc.call("SESSION.OPEN", 2000, "REQ", "open-%d" % i) for i in range(3)]
    ka = KeepAlive(cl.addrs(), ws, interval=0.15)
    ctx.defer(ka.stop)
    t0 = lc.call("SEM.ACQUIRE", "slots", ws[0], 2, "REQ", "a-0")
    t1 = lc.call("SEM.ACQUIRE", "slots", ws[1], 2, "REQ", "a-1")
    check(t1 > t0, "tokens %r %r" % (t0, t1))
    c = old.client()
    c.send("SEM.ACQUIRE", "slots", ws[2], 2, "WAIT", 30000, "REQ", "a-2")
    wait_for(lambda: sem_status(lc, "slots")["waiters"] == 1, 5, "the third worker queued")
    old.kill()
    c.close()
    new = cl.wait_leader(other_than=old.id)
    st = sem_status(lc, "slots")
    eq((st["permits"], st["used"], st["holders"], st["waiters"]), (2, 2, 2, 1),
       "the semaphore at the new leader")
    c = new.client()
    c.send("SEM.ACQUIRE", "slots", ws[2], 2, "WAIT", 30000, "REQ", "a-2")
    no_reply(c, 0.2)
    eq(lc.call("SEM.RELEASE", "slots", ws[0], "REQ", "r-0"), 0, "the first worker's release")
    t2 = c.read(5)
    check(isinstance(t2, int) and t2 > t1, "the third worker's token %r after %r" % (t2, t1))
    st = sem_status(lc, "slots")
    eq((st["used"], st["available"], st["waiters"]), (2, 0, 0), "after the grant")
    ka.check()


def test_strict_fifo_and_expired_permits(ctx):
    """Three permits. A holder of two expires: its two are held back for
    its lock-delay, the third is granted meanwhile; a request for two at
    the head makes a later request for one wait although one is free;
    when the delay ends the two are granted, then the one when there is
    room."""
    srv = ctx.single()
    c = srv.client()
    gone = c.call("SESSION.OPEN", 300)
    a, b, d = [c.call("SESSION.OPEN", 60000) for _ in range(3)]
    c.call("SEM.ACQUIRE", "pool", gone, 3, "COUNT", 2, "DELAY", 1500)
    wait_for(lambda: sem_status(c, "pool")["expired"] == 2, 5, "the holder expired")
    st = sem_status(c, "pool")
    check(st["used"] == 0 and st["available"] == 1 and st["delay_left_ms"] > 0,
          "held back: %r" % st)
    check(isinstance(c.call("SEM.ACQUIRE", "pool", a, 3), int), "the free permit")
    cb = srv.client()
    cb.send("SEM.ACQUIRE", "pool", b, 3, "COUNT", 2, "WAIT", 10000)
    wait_for(lambda: sem_status(c, "pool")["waiters"] == 1, 5, "two permits asked for")
    cd = srv.client()
    cd.send("SEM.ACQUIRE", "pool", d, 3, "WAIT", 10000)
    wait_for(lambda: sem_status(c, "pool")["waiters"] == 2, 5, "one permit asked for")
    no_reply(cb, 0.1)
    eq(cd.pending(0.1), False, "the one waits behind the two")
    tb = cb.read(5)
    check(isinstance(tb, int), "the two after the lock-delay: %r" % tb)
    st = sem_status(c, "pool")
    eq((st["used"], st["expired"], st["waiters"]), (3, 0, 1), "after the lock-delay")
    no_reply(cd, 0.1)
    eq(c.call("SEM.RELEASE", "pool", a), 0, "a permit back")
    check(isinstance(cd.read(5), int), "the one")
    eq(c.try_call("LOCK.ACQUIRE", "pool", a).code, "KIND", "a lock command on a semaphore")
