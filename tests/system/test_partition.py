"""test_partition.py - three dlockd, each on a loopback address of its own,
with the network between them cut by nftables rules (tests/faults/netfault.py):
an isolated leader stops granting while the majority elects a new one and
keeps every lock; a one-way cut; a bridge. These need root and nft: without
them each test reports SKIPPED and why."""

import os
import sys
import time

import dlocktest
from dlocktest import KeepAlive, LeaderClient, RespError, check, eq, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "faults"))
import netfault  # noqa: E402


def cut_network(ctx):
    ok, why = netfault.available()
    if not ok:
        raise dlocktest.Skip(why)
    net = netfault.Net()
    ctx.defer(net.close)
    return net


def test_isolated_leader_stops_granting_and_majority_keeps_locks(ctx):
    """The leader, cut off from both followers, steps down within about an
    election timeout and grants nothing; the other two elect a leader that
    keeps the lock granted before, with its token, and grants with higher
    tokens. After the heal the old leader follows and redirects."""
    net = cut_network(ctx)
    cl = ctx.cluster(3, own_hosts=True)
    old = cl.wait_leader()
    others = [s for s in cl.servers if s is not old]
    addrs = cl.addrs()
    lc = LeaderClient(addrs)
    sess = lc.call("SESSION.OPEN", 4000)
    t1 = lc.call("LOCK.ACQUIRE", "kept", sess, "REQ", "p-1")
    ka = KeepAlive(addrs, [sess])
    ctx.defer(ka.stop)
    net.partition([[old.host], [s.host for s in others]])
    new = cl.wait_leader(among=others, other_than=old.id)
    # The old leader cannot commit: within two election timeouts it no
    # longer answers as leader, and a write there is never granted.
    wait_for(lambda: old.info()["role"] != "leader", 2 * dlocktest.ELECTION_MS / 1000.0 + 2,
             "the isolated leader to step down")
    r = old.try_call("LOCK.ACQUIRE", "minority", sess, timeout=5.0)
    check(isinstance(r, RespError) and r.code in ("NOLEADER", "LEADER"),
          "a write at the isolated server: %r" % (r,))
    eq(new.call("LOCK.CHECK", "kept", t1), 1, "the lock granted before the cut")
    s2 = new.call("SESSION.OPEN", 4000)
    t2 = new.call("LOCK.ACQUIRE", "during", s2)
    check(t2 > t1, "a token granted during the cut (%d) above the one before (%d)" % (t2, t1))
    net.heal()
    wait_for(lambda: old.info()["leader"] == new.id, 10, "the old leader to follow")
    eq(old.try_call("LOCK.ACQUIRE", "x", sess), RespError("LEADER " + new.addr),
       "a write at the old leader after the heal")
    eq(lc.call("LOCK.CHECK", "kept", t1), 1, "the lock still held after the heal")
    ka.check()


def test_one_way_cut_from_the_leader(ctx):
    """Only the leader's packets to the followers are lost: they elect a new
    leader; the old one must not keep granting, and the cluster serves on
    and agrees again after the heal."""
    net = cut_network(ctx)
    cl = ctx.cluster(3, own_hosts=True)
    old = cl.wait_leader()
    others = [s for s in cl.servers if s is not old]
    for s in others:
        net.drop(old.host, s.host)
    new = cl.wait_leader(among=others, other_than=old.id)
    lc = LeaderClient([s.addr for s in others])
    sess = lc.call("SESSION.OPEN", 4000)
    t = lc.call("LOCK.ACQUIRE", "one-way", sess, "REQ", "w-1")
    check(t > 0, "a grant during the one-way cut")
    wait_for(lambda: old.info()["role"] != "leader", 2 * dlocktest.ELECTION_MS / 1000.0 + 2,
             "the cut-off leader to step down")
    net.heal()
    leader = cl.wait_leader(timeout=20)
    eq(leader.call("LOCK.CHECK", "one-way", t), 1, "the grant after the heal")
    commit = leader.info()["commit_index"]
    for s in cl.servers:
        wait_for(lambda s=s: s.info()["applied_index"] >= commit, 10,
                 "dlockd %d to catch up" % s.id)


def test_bridge_keeps_serving(ctx):
    """Servers 1 and 3 cannot reach each other; 2 reaches both. A majority
    is connected through 2, so writes keep succeeding throughout."""
    net = cut_network(ctx)
    cl = ctx.cluster(3, own_hosts=True)
    a, b, c = cl.servers
    net.partition([[a.host], [c.host]])
    lc = LeaderClient(cl.addrs(), timeout=15.0)
    sess = lc.call("SESSION.OPEN", 4000)
    ka = KeepAlive(cl.addrs(), [sess])
    ctx.defer(ka.stop)
    tokens = []
    end = time.monotonic() + 4.0
    i = 0
    while time.monotonic() < end:
        i += 1
        t = lc.call("LOCK.ACQUIRE", "bridge", sess, "REQ", "b-%d" % i)
        tokens.append(t)
        eq(lc.call("LOCK.RELEASE", "bridge", sess, "REQ", "r-%d" % i), 0, "release")
    check(len(tokens) >= 10, "only %d grants in 4 s across a bridge" % len(tokens))
    check(all(x < y for x, y in zip(tokens, tokens[1:])), "tokens not growing")
    net.heal()
    ka.check()
