"""test_datadir.py - what two servers must never share (docs/operations.md,
"What is never shared"): a second dlockd on a data directory in use is
refused at once and the first goes on unharmed; a directory made for one
server id is refused to another; a second process under a cluster member's
id, or a member whose data directory was replaced, is refused by its peers
and stops, and the cluster goes on."""

import os
import shutil
import subprocess

from dlocktest import TestFailure, check, eq


def refused(srv, within=10.0):
    """Starts srv, which must exit by itself within the time given; returns
    its exit code and its log."""
    srv.start(wait=False)
    srv.expect_exit = True
    try:
        srv.proc.wait(within)
    except subprocess.TimeoutExpired:
        srv.kill()
        raise TestFailure("dlockd %d (%s) was not refused within %.0f s; log:\n%s"
                          % (srv.id, srv.dir, within, srv.log_tail()))
    return srv._ended("refused"), srv.log_text()


def grant_some(c, sess, names):
    tokens = []
    for n in names:
        tokens.append(c.call("LOCK.ACQUIRE", n, sess))
    return tokens


def test_second_server_on_a_used_directory_is_refused(ctx):
    """A second dlockd started on the data directory of a running one (other
    ports, as after "port busy") exits at once with an error naming the
    holder's pid; the first one keeps serving, hands out tokens above every
    earlier one, and restarts cleanly on its data."""
    first = ctx.single()
    c = first.client()
    sess = c.call("SESSION.OPEN", 30000)
    before = grant_some(c, sess, ["a", "b", "c"])
    second = ctx.server(1, name="second")
    second.data = first.data
    rc, log = refused(second, within=5.0)
    check(rc != 0, "the second server exited with code 0")
    check("is in use by another dlockd" in log and "pid %d" % first.pid in log,
          "the refusal names the directory's holder (pid %d):\n%s" % (first.pid, log))
    check(first.alive(), "the first server died")
    after = grant_some(c, sess, ["d", "e"])
    check(after[0] > before[-1] and after[1] > after[0],
          "tokens after the refusal %r follow those before %r" % (after, before))
    eq(c.call("LOCK.STATUS", "a")[9], before[0], "the token of lock a")
    c.close()
    eq(first.term(), 0, "the first server's exit code on SIGTERM")
    first.start()
    first.wait_leader()
    c = first.client()
    eq(c.call("LOCK.CHECK", "e", after[1]), 1, "lock e still held after a restart")
    check(c.call("LOCK.ACQUIRE", "f", sess) > after[1], "a token after the restart")


def test_directory_of_another_id_is_refused(ctx):
    """A data directory used by server 1 is refused to --id 2 (a copy of a
    server's directory started as another member would carry its votes and
    log), naming the id it belongs to; server 1 still starts on it."""
    one = ctx.single()
    one.call("SESSION.OPEN", 10000)
    eq(one.term(), 0, "exit code on SIGTERM")
    copy = os.path.join(ctx.dir, "copy")
    shutil.copytree(one.data, copy)
    for data in (one.data, copy):
        two = ctx.server(2, name="two-%s" % os.path.basename(data))
        two.data = data
        rc, log = refused(two, within=5.0)
        check(rc != 0, "--id 2 on server 1's directory exited with code 0")
        check("belongs to server 1" in log and "not to --id 2" in log,
              "the refusal names the owner:\n%s" % log)
    one.start()
    one.wait_leader()


def test_second_process_under_a_member_id_is_refused(ctx):
    """A copy of member 3's data directory started as server 3 on other
    ports (a second process under one id) is refused by the peers and stops
    with exit code 2, saying so; the original three go on, and a write
    commits."""
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    sess = leader.call("SESSION.OPEN", 30000)
    three = cl.by_id(3)
    twin = ctx.server(3, peers=three.peers, name="twin")
    shutil.copytree(three.data, twin.data, ignore=shutil.ignore_patterns("LOCK"))
    rc, log = refused(twin, within=20.0)
    eq(rc, 2, "the twin's exit code")
    check("two servers run with id 3" in log and "stopping" in log,
          "the twin says why it stops:\n%s" % log)
    others = "".join(s.log_text() for s in cl.servers)
    check("two servers run with id 3" in others, "a peer logged the duplicate")
    check(all(s.alive() for s in cl.servers), "a member of the cluster died")
    leader = cl.wait_leader()
    check(leader.call("LOCK.ACQUIRE", "after-twin", sess) > 0, "a grant after the twin")


def test_member_with_a_replaced_directory_is_refused(ctx):
    """Member 3 restarted on an empty data directory (it has forgotten its
    vote and its log) is refused by its peers and stops; restarted on its
    own directory it is taken back (a crash and restart is not refused)."""
    cl = ctx.cluster(3)
    three = cl.by_id(3)
    three.kill()
    three.start()  # a crash and restart on its own data: taken back
    cl.wait_leader()
    kept = three.data + ".kept"
    three.kill()
    os.rename(three.data, kept)
    rc, log = refused(three, within=20.0)
    eq(rc, 2, "exit code of member 3 on a new directory")
    check("now runs on data directory" in log, "member 3 says why it stops:\n%s" % log)
    shutil.rmtree(three.data)
    os.rename(kept, three.data)
    three.start()
    leader = cl.wait_leader()
    sess = leader.call("SESSION.OPEN", 10000)
    check(leader.call("LOCK.ACQUIRE", "back", sess) > 0, "a grant with member 3 back")
