"""test_shared.py - shared locks (a read-write lock, docs/protocol.md §4)
with real dlockd processes: readers share and a queued writer holds back
the readers after it, across a leader crash; every server agrees on the
holds; a reader whose session expires puts the lock in lock-delay for both
modes; a downgrade lets the readers at the head in; the modes survive a
snapshot and a restart."""

import time

import dlocktest
from dlocktest import KeepAlive, LeaderClient, RespError, as_map, check, eq, wait_for


def status(c, name):
    return as_map(c.call("LOCK.STATUS", name))


def holders(c, name):
    return [(h["session"], h["exclusive"], h["shared"], h["token"])
            for h in (as_map(x) for x in c.call("LOCK.HOLDERS", name))]


def no_reply(c, seconds):
    check(not c.pending(seconds), "an answer came too early")


def test_readers_share_writer_waits_across_a_leader_crash(ctx):
    """Two readers share; a writer and then a third reader wait (the reader
    behind the writer, not beside the readers). kill -9 of the leader: the
    new leader has the same holds and FIFO; the waiters, repeated there with
    their REQ, keep their order; the readers' releases grant the writer
    (its token above both readers'), and the writer's release the reader."""
    cl = ctx.cluster(3)
    old = cl.wait_leader()
    lc = LeaderClient(cl.addrs())
    ctx.defer(lc.close)
    r1, r2, w, r3 = [lc.call("SESSION.OPEN", 2000, "REQ", "open-%d" % i) for i in range(4)]
    ka = KeepAlive(cl.addrs(), [r1, r2, w, r3], interval=0.15)
    ctx.defer(ka.stop)
    t1 = lc.call("LOCK.ACQUIRE", "db", r1, "SHARED", "REQ", "a-r1")
    t2 = lc.call("LOCK.ACQUIRE", "db", r2, "SHARED", "REQ", "a-r2")
    check(t2 > t1, "reader tokens %r, %r" % (t1, t2))
    eq(lc.call("LOCK.ACQUIRE", "db", r3, "SHARED", "REQ", "try-r3") > t2, True,
       "a reader joins while no writer waits")
    eq(lc.call("LOCK.RELEASE", "db", r3, "SHARED", "REQ", "rel-r3"), 0, "the third reader leaves")
    cw = old.client()
    cw.send("LOCK.ACQUIRE", "db", w, "WAIT", 30000, "REQ", "wait-w")
    wait_for(lambda: status(lc, "db")["waiters"] == 1, 5, "the writer queued")
    c3 = old.client()
    c3.send("LOCK.ACQUIRE", "db", r3, "SHARED", "WAIT", 30000, "REQ", "wait-r3")
    wait_for(lambda: status(lc, "db")["waiters"] == 2, 5, "the reader queued behind the writer")
    eq(lc.try_call("LOCK.ACQUIRE", "db", r3, "SHARED", "REQ", "try-again").code, "HELD",
       "a reader's try while a writer waits")
    before = holders(lc, "db")
    old.kill()
    cw.close()
    c3.close()
    new = cl.wait_leader(other_than=old.id)
    st = status(lc, "db")
    eq((st["mode"], st["holders"], st["waiters"]), ("shared", 2, 2), "the lock at the new leader")
    eq(holders(lc, "db"), before, "the holds at the new leader")
    # Repeat the waits there, the reader first: the order stays the log's.
    c3 = new.client()
    c3.send("LOCK.ACQUIRE", "db", r3, "SHARED", "WAIT", 30000, "REQ", "wait-r3")
    cw = new.client()
    cw.send("LOCK.ACQUIRE", "db", w, "WAIT", 30000, "REQ", "wait-w")
    no_reply(c3, 0.1)
    no_reply(cw, 0.05)
    eq(lc.call("LOCK.RELEASE", "db", r1, "SHARED", "REQ", "rel-r1"), 0, "reader 1 leaves")
    no_reply(cw, 0.1)
    eq(lc.call("LOCK.RELEASE", "db", r2, "SHARED", "REQ", "rel-r2"), 0, "reader 2 leaves")
    tw = cw.read(5)
    check(isinstance(tw, int) and tw > t2, "the writer's token %r, readers' up to %r" % (tw, t2))
    no_reply(c3, 0.1)
    eq(status(lc, "db")["mode"], "exclusive", "mode while the writer holds")
    eq(lc.call("LOCK.RELEASE", "db", w, "REQ", "rel-w"), 0, "the writer leaves")
    t3 = c3.read(5)
    check(isinstance(t3, int) and t3 > tw, "the last reader's token %r after %r" % (t3, tw))
    ka.check()
    # Every server applies the same holds.
    for s in cl.servers:
        if s is not old:
            wait_for(lambda s=s: s.info()["applied_index"] >= new.info()["commit_index"], 5,
                     "dlockd %d applied" % s.id)


def test_downgrade_lets_the_head_readers_in(ctx):
    """A writer with two readers and then a writer queued downgrades: the
    two readers come in at once, with the writer reading beside them under
    its own token, and the second writer still waits."""
    srv = ctx.single()
    c = srv.client()
    w, a, b, w2 = [c.call("SESSION.OPEN", 60000) for _ in range(4)]
    tw = c.call("LOCK.ACQUIRE", "doc", w)
    waits = []
    for s, shared in ((a, True), (b, True), (w2, False)):
        k = srv.client()
        k.send(*(("LOCK.ACQUIRE", "doc", s) + (("SHARED",) if shared else ()) + ("WAIT", 30000)))
        waits.append(k)
    wait_for(lambda: status(c, "doc")["waiters"] == 3, 5, "three waiters")
    ws = [as_map(x) for x in c.call("LOCK.WAITERS", "doc")]
    eq([(x["session"], x["mode"]) for x in ws], [(a, "shared"), (b, "shared"), (w2, "exclusive")],
       "the waiters in their order, with their modes")
    eq([as_map(x)["session"] for x in c.call("LOCK.WAITERS", "doc", "FROM", ws[1]["index"])],
       [b, w2], "the waiters from the second on")
    eq(c.call("LOCK.DOWNGRADE", "doc", w, "REQ", "dn"), tw, "the downgrade's token")
    ta, tb = waits[0].read(5), waits[1].read(5)
    check(isinstance(ta, int) and isinstance(tb, int) and tw < ta < tb,
          "the readers' tokens %r %r after the writer's %r" % (ta, tb, tw))
    no_reply(waits[2], 0.2)
    eq(holders(c, "doc"), [(w, 0, 1, tw), (a, 0, 1, ta), (b, 0, 1, tb)], "the holders")
    eq(c.call("LOCK.DOWNGRADE", "doc", w, "REQ", "dn"), tw, "a retry of the downgrade")
    eq(c.try_call("LOCK.DOWNGRADE", "doc", w).code, "NOTHELD", "nothing left to downgrade")


def test_expired_reader_puts_both_modes_in_lock_delay(ctx):
    """A reader's session expires while another reader holds: the lock
    stays held shared, and for its lock-delay a new reader's try is HELD;
    after it, the reader is granted."""
    srv = ctx.single()
    c = srv.client()
    gone = c.call("SESSION.OPEN", 300)
    stay, late = c.call("SESSION.OPEN", 60000), c.call("SESSION.OPEN", 60000)
    c.call("LOCK.ACQUIRE", "cache", gone, "SHARED", "DELAY", 1500)
    c.call("LOCK.ACQUIRE", "cache", stay, "SHARED")
    wait_for(lambda: status(c, "cache")["holders"] == 1, 5, "the short session expired")
    st = status(c, "cache")
    check(st["mode"] == "shared" and st["delay_left_ms"] > 0, "status after the expiry: %r" % st)
    eq(c.try_call("LOCK.ACQUIRE", "cache", late, "SHARED").code, "HELD", "a reader in lock-delay")
    wait_for(lambda: status(c, "cache")["delay_left_ms"] == 0, 5, "the lock-delay ended")
    check(isinstance(c.call("LOCK.ACQUIRE", "cache", late, "SHARED"), int), "the reader after it")


def test_modes_survive_snapshot_and_restart(ctx):
    """Shared and exclusive holds and waiters of both modes, written into a
    snapshot (--snapshot-entries 100) and restored by a restart, come back
    as they were."""
    srv = ctx.single(extra=["--snapshot-entries", "100"])
    c = srv.client()
    ss = [c.call("SESSION.OPEN", 60000) for _ in range(4)]
    c.call("LOCK.ACQUIRE", "s", ss[0], "SHARED")
    c.call("LOCK.ACQUIRE", "s", ss[1], "SHARED")
    c.call("LOCK.ACQUIRE", "s", ss[1], "SHARED")
    c.call("LOCK.ACQUIRE", "x", ss[2])
    c.call("LOCK.ACQUIRE", "x", ss[2], "SHARED")
    for i in range(120):  # past --snapshot-entries
        c.call("LOCK.ACQUIRE", "filler-%d" % i, ss[3])
    wait_for(lambda: srv.info()["snapshot_index"] > 0, 10, "a snapshot")
    before = {n: holders(c, n) for n in ("s", "x")}
    c.close()
    srv.term()
    srv.start().wait_leader()
    c = srv.client()
    for n in ("s", "x"):
        eq(holders(c, n), before[n], "the holders of %s after the restart" % n)
    eq(status(c, "x")["mode"], "exclusive", "x's mode")
    eq(c.try_call("LOCK.ACQUIRE", "s", ss[0]).code, "UPGRADE", "an upgrade after the restart")
