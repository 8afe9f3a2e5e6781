"""test_cluster.py - three dlockd started with --peers: redirects, one view
of the cluster, a leader crash with locks held and waiters queued, fencing
tokens across leader changes, catching up after a restart, a paused leader,
membership changes and a graceful handover."""

import time

import dlocktest
from dlocktest import KeepAlive, LeaderClient, RespError, TestFailure, as_map, check, eq, wait_for


def status(c, name):
    return as_map(c.call("LOCK.STATUS", name))


def members_view(info):
    return sorted((m["id"], m["role"], m["raft_addr"]) for m in info["members"])


def no_reply(c, within=0.2):
    if c.pending(within):
        raise TestFailure("an unexpected reply came: %r" % (c.read(0.1),))


def wait_applied(srv, index, timeout=10.0):
    """Waits until srv has applied index."""
    return wait_for(lambda: srv.info()["applied_index"] >= index, timeout,
                    "dlockd %d to apply index %d" % (srv.id, index))


def test_followers_redirect_and_all_agree(ctx):
    """Every server's CLUSTER.INFO names the same leader (its client
    address) and the same members (id, role, peer address; a member's
    client address is right where known, and the leader knows them all); a
    follower answers writes, reads and keepalives with "LEADER host:port" of
    the leader, and the request succeeds there."""
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    expected = sorted((s.id, "voter", s.raft_addr) for s in cl.servers)
    for s in cl.servers:
        info = s.info()
        eq((info["id"], info["leader"], info["leader_addr"]), (s.id, leader.id, leader.addr),
           "CLUSTER.INFO of dlockd %d (id, leader, leader_addr)" % s.id)
        eq(info["role"], "leader" if s is leader else "follower", "role of dlockd %d" % s.id)
        eq(members_view(info), expected, "members as dlockd %d sees them" % s.id)
        for m in info["members"]:
            known = m["client_addr"] != "" or s is not leader
            check(known and m["client_addr"] in ("", cl.by_id(m["id"]).addr),
                  "dlockd %d gives member %d the client address %r" % (s.id, m["id"], m["client_addr"]))
    sess = leader.call("SESSION.OPEN", 5000)
    for f in cl.followers(leader):
        for args in (("SESSION.OPEN", 5000, "REQ", "f"), ("LOCK.ACQUIRE", "x", sess),
                     ("LOCK.STATUS", "x"), ("SESSION.KEEPALIVE", sess), ("LOCK.RELEASE", "x", "TOKEN", 1)):
            v = f.try_call(*args)
            eq(v, RespError("LEADER " + leader.addr), "%s at follower %d" % (args[0], f.id))
        v, at = dlocktest.call_at_leader(f.addr, "LOCK.ACQUIRE", "y-%d" % f.id, sess)
        check(isinstance(v, int) and at == leader.addr, "redirected acquire: %r at %s" % (v, at))


def test_leader_crash_keeps_holders_and_waiter_order(ctx):
    """kill -9 of the leader while a lock is held and three waiters are
    queued: a new leader is elected; the holder keeps the lock (its session,
    kept alive at the new leader, stays valid past its TTL); the waiters,
    re-sent with their REQ to the new leader in reverse order, are served in
    their original order as the lock is released; no token goes backwards;
    the killed server, restarted with its data, catches up."""
    cl = ctx.cluster(3)
    old = cl.wait_leader()
    lc = LeaderClient(cl.addrs())
    ctx.defer(lc.close)
    ttl = 1500
    holder = lc.call("SESSION.OPEN", ttl, "REQ", "open-h")
    ws = [lc.call("SESSION.OPEN", ttl, "REQ", "open-w%d" % i) for i in range(3)]
    ka = KeepAlive(cl.addrs(), [holder] + ws, interval=0.15)
    ctx.defer(ka.stop)
    tokens = [lc.call("LOCK.ACQUIRE", "L", holder, "REQ", "acq-h")]
    waiting = []
    for i, w in enumerate(ws):
        c = old.client()
        c.send("LOCK.ACQUIRE", "L", w, "WAIT", 30000, "REQ", "wait-%d" % i)
        wait_for(lambda: status(lc, "L")["waiters"] == i + 1, 5, "waiter %d queued" % i)
        waiting.append(c)
    old.kill()
    for c in waiting:
        c.close()
    t0 = time.monotonic()
    new = cl.wait_leader(other_than=old.id)
    elected = time.monotonic() - t0
    st = status(lc, "L")
    eq((st["session"], st["token"], st["waiters"]), (holder, tokens[0], 3),
       "the lock at the new leader (holder, token, waiters)")
    # Re-attach the waiters at the new leader, last first.
    waiting = [None] * 3
    for i in reversed(range(3)):
        c = new.client()
        c.send("LOCK.ACQUIRE", "L", ws[i], "WAIT", 30000, "REQ", "wait-%d" % i)
        waiting[i] = c
    for c in waiting:
        no_reply(c, 0.05)
    eq(status(lc, "L")["waiters"], 3, "waiters after the retries (no duplicates)")
    # Past the TTL, the sessions live on through keepalives at the new leader.
    time.sleep(ttl / 1000.0 + 0.3)
    ka.check()
    eq(as_map(lc.call("SESSION.INFO", holder))["locks"], 1, "the holder's locks")
    releaser = holder
    for i in range(3):
        eq(lc.call("LOCK.RELEASE", "L", releaser, "REQ", "rel-%d" % i), 0, "release %d" % i)
        tok = waiting[i].read(5)
        check(isinstance(tok, int), "waiter %d: expected a token, got %r" % (i, tok))
        tokens.append(tok)
        for c in waiting[i + 1:]:
            no_reply(c, 0.1)
        eq(status(lc, "L")["session"], ws[i], "holder after release %d" % i)
        releaser = ws[i]
    check(all(a < b for a, b in zip(tokens, tokens[1:])), "tokens went backwards: %r" % tokens)
    ka.check()
    commit = new.info()["commit_index"]
    old.start()
    wait_applied(old, commit)
    info = old.info()
    eq((info["leader"], info["role"]), (new.id, "follower"), "the restarted server's view")
    check(elected < 5, "election took %.1f s" % elected)


def test_tokens_never_go_back_across_leader_crashes(ctx):
    """Grants through three leader crashes (each followed by a restart of the
    crashed server) give strictly growing fencing tokens, and a retried REQ
    returns its first token."""
    cl = ctx.cluster(3)
    lc = LeaderClient(cl.addrs())
    ctx.defer(lc.close)
    sess = lc.call("SESSION.OPEN", 3000, "REQ", "open")
    ka = KeepAlive(cl.addrs(), [sess], interval=0.2)
    ctx.defer(ka.stop)
    seen, first = [], {}
    n = 0
    for _ in range(3):
        for _ in range(4):
            req = "a-%d" % n
            t = lc.call("LOCK.ACQUIRE", "fence-%d" % (n % 3), sess, "REQ", req)
            first[req] = t
            seen.append(t)
            eq(lc.call("LOCK.RELEASE", "fence-%d" % (n % 3), sess, "REQ", "r-%d" % n), 0, "release")
            n += 1
        leader = cl.wait_leader()
        leader.kill()
        cl.wait_leader(other_than=leader.id)
        eq(lc.call("LOCK.ACQUIRE", "fence-0", sess, "REQ", "a-0"), first["a-0"], "a retried first REQ")
        leader.start()
    check(all(a < b for a, b in zip(seen, seen[1:])), "tokens not strictly growing: %r" % seen)
    t = lc.call("LOCK.ACQUIRE", "fence-new", sess)
    check(t > seen[-1], "a token after the crashes (%d) above those before (%d)" % (t, seen[-1]))
    ka.check()


def test_paused_leader_is_replaced_and_steps_down(ctx):
    """A leader stopped with SIGSTOP is replaced; writes go on at the new
    leader; once resumed, the old leader follows the new one, redirects to
    it, and catches up."""
    cl = ctx.cluster(3)
    old = cl.wait_leader()
    others = [s for s in cl.servers if s is not old]
    old.pause()
    try:
        new = cl.wait_leader(among=others, other_than=old.id)
        sess = new.call("SESSION.OPEN", 5000)
        t = new.call("LOCK.ACQUIRE", "while-paused", sess)
    finally:
        old.resume()
    wait_for(lambda: old.info()["leader"] == new.id, 10, "the old leader to follow the new one")
    eq(old.try_call("LOCK.ACQUIRE", "x", sess), RespError("LEADER " + new.addr), "write at the old leader")
    wait_applied(old, new.info()["commit_index"])
    eq(cl.wait_leader().id, new.id, "the leader after the old one resumed")
    eq(new.call("LOCK.CHECK", "while-paused", t), 1, "the lock granted meanwhile")


def test_join_then_remove(ctx):
    """A 4th server started with --join becomes a voter (as every server
    sees it) and applies the log; CLUSTER.REMOVE takes it out again, and the
    removed server, still running, does not disturb the cluster."""
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    sess = leader.call("SESSION.OPEN", 10000)
    t = leader.call("LOCK.ACQUIRE", "before-join", sess)
    s4 = ctx.server(4, join=leader.addr)
    s4.start()

    def voter_everywhere():
        for s in cl.servers:
            m = [m for m in s.info()["members"] if m["id"] == 4]
            if not m or m[0]["role"] != "voter" or m[0]["raft_addr"] != s4.raft_addr:
                return False
        return True
    wait_for(voter_everywhere, 15, "server 4 to be a voter in every CLUSTER.INFO")
    wait_applied(s4, leader.info()["commit_index"])
    info4 = s4.info()
    eq((info4["leader"], info4["leader_addr"], info4["role"]), (leader.id, leader.addr, "follower"), "server 4's view")
    eq(len(info4["members"]), 4, "members server 4 sees")
    m4 = [m for m in leader.info()["members"] if m["id"] == 4][0]
    eq(m4["client_addr"], s4.addr, "server 4's client address at the leader")
    eq(s4.try_call("LOCK.CHECK", "before-join", t), RespError("LEADER " + leader.addr), "a read at server 4")
    # Server 4 shows as a voter once its promotion is appended, which may be
    # before the leader has committed it; until then a second change is
    # refused (one change at a time), and the test repeats the removal.
    busy = RespError("ERR a membership change is in progress; retry when it has committed")

    def removed():
        v = leader.try_call("CLUSTER.REMOVE", 4)
        check(v in ("OK", busy), "CLUSTER.REMOVE 4: %r" % (v,))
        return v == "OK"
    wait_for(removed, 10, "CLUSTER.REMOVE 4 to be taken")
    for s in cl.servers:
        wait_for(lambda: 4 not in [m["id"] for m in s.info()["members"]], 10,
                 "server 4 to leave dlockd %d's configuration" % s.id)
    term = leader.info()["term"]
    time.sleep(1.0)  # over three election timeouts, server 4 still running
    info = leader.info()
    eq((info["role"], info["term"]), ("leader", term), "the leader's role and term after the removal")
    eq(leader.call("LOCK.CHECK", "before-join", t), 1, "the lock")
    eq(s4.term(), 0, "exit code of the removed server on SIGTERM")


def test_sigterm_leader_hands_over(ctx):
    """SIGTERM of the leader hands leadership over: another server leads
    within a second, sooner than an election timeout (1.5 s here) would
    allow; the stopped server exits 0; a session survives."""
    cl = ctx.cluster(3, election_ms=1500, heartbeat_ms=30)
    old = cl.wait_leader(timeout=20)
    sess = old.call("SESSION.OPEN", 10000)
    t = old.call("LOCK.ACQUIRE", "handed", sess)
    others = [s for s in cl.servers if s is not old]
    start = time.monotonic()
    old.send_term()
    new = cl.wait_leader(among=others, other_than=old.id, timeout=10)
    took = time.monotonic() - start
    eq(old.wait_exit(), 0, "exit code on SIGTERM")
    check(took < 1.0, "the new leader took %.2f s after SIGTERM (no handover?)" % took)
    eq(new.call("LOCK.CHECK", "handed", t), 1, "the lock at the new leader")
    eq(new.call("SESSION.KEEPALIVE", sess), 10000, "the session at the new leader")


def test_snapshot_sent_to_a_new_server(ctx):
    """With snapshots every 100 entries, a server that joins after the log
    was compacted gets the leader's snapshot over TCP in chunks, installs
    it, catches up and holds the same locks; restarted, it comes back from
    that snapshot."""
    extra = ("--snapshot-entries", "100")
    cl = ctx.cluster(3, extra=extra)
    leader = cl.wait_leader()
    sess = leader.call("SESSION.OPEN", 600000)
    cmds = [("LOCK.ACQUIRE", "k%d" % (i % 300), sess) for i in range(7000)]
    with leader.client() as c:
        c.send_many(cmds)
        tokens = [c.read() for _ in cmds]
    check(all(isinstance(t, int) for t in tokens), "every acquire granted")
    s4 = ctx.server(4, join=leader.addr, extra=extra)
    s4.start()
    wait_applied(s4, leader.info()["commit_index"], 20)
    info = s4.info()
    check(info["snapshot_index"] > 1000, "server 4 started from a snapshot "
          "(snapshot_index %d)" % info["snapshot_index"])
    eq(leader.call("LOCK.CHECK", "k299", tokens[299]), 1,
       "a lock after the join")
    with open(s4.log_path) as f:
        check("installed the leader's snapshot" in f.read(),
              "server 4's log says it installed the snapshot")
    s4.kill()
    s4.start()
    wait_applied(s4, leader.info()["commit_index"], 20)
    eq(s4.info()["applied_index"] >= info["applied_index"], True,
       "server 4 applied again after its restart")
