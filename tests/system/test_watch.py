"""test_watch.py - watches (docs/protocol.md §4, "Watches") with real
dlockd processes: RESP3 pushes of every change of a name in order, with
revisions that never go back; a handover as released then granted in one
revision; an election observed through "no leader"; a watch resumed from a
revision, and told when the history is gone; WATCH.NEXT on RESP2, waiting
and timing out; a follower's watch sees what the leader's does."""

import json
import os
import select
import socket
import struct
import subprocess
import time

import dlocktest
from dlocktest import Push, RespError, check, eq, info_fields, wait_for

FIELDS = ("kind", "name", "revision", "event", "session", "owner", "token",
          "exclusive", "shared", "holders", "value")


def change(v):
    check(isinstance(v, (list, Push)) and len(v) == 11 and v[0] == "watch",
          "not a change: %r" % (v,))
    return dict(zip(FIELDS, v))


def pushes(c, n, timeout=5.0):
    out = []
    end = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        v = c.read(max(0.05, end - time.monotonic()))
        check(isinstance(v, Push), "a push, not %r" % (v,))
        out.append(change(v))
    return out


def test_pushes_in_order(ctx):
    """A watcher sees a grant, a reentry, a handover (released and granted
    at one revision), a downgrade and an expiry, in order, revisions never
    going back."""
    srv = ctx.single()
    c = srv.client()
    w = srv.client()
    w.hello(3)
    start = w.call("WATCH", "db")
    check(isinstance(start, int), "WATCH answers the revision it starts from")
    a = c.call("SESSION.OPEN", 300)
    b = c.call("SESSION.OPEN", 60000)
    ta = c.call("LOCK.ACQUIRE", "db", a)
    c.call("LOCK.ACQUIRE", "db", a)
    k = srv.client()
    k.send("LOCK.ACQUIRE", "db", b, "WAIT", 5000)
    wait_for(lambda: c.call("LOCK.STATUS", "db")[13] == 1, 5, "b waits")
    c.call("LOCK.RELEASE", "db", a)
    c.call("LOCK.RELEASE", "db", a)
    tb = k.read(5)
    c.call("LOCK.DOWNGRADE", "db", b)
    got = pushes(w, 5)
    eq([(g["event"], g["session"], g["exclusive"], g["shared"], g["holders"]) for g in got],
       [("granted", a, 1, 0, 1), ("granted", a, 2, 0, 1), ("released", a, 1, 0, 1),
        ("released", a, 0, 0, 0), ("granted", b, 1, 0, 1)], "the changes")
    eq((got[0]["token"], got[4]["token"]), (ta, tb), "the tokens")
    check(all(x["revision"] > start for x in got), "revisions after the start")
    check(all(x["revision"] <= y["revision"] for x, y in zip(got, got[1:])),
          "revisions in order: %r" % [g["revision"] for g in got])
    eq(got[3]["revision"], got[4]["revision"], "a handover is one revision")
    eq(pushes(w, 1)[0]["event"], "downgraded", "the downgrade")
    eq(w.call("UNWATCH", "db"), 1, "unwatched")
    c.call("LOCK.RELEASE", "db", b, "SHARED")
    check(not w.pending(0.3), "no push after UNWATCH")


def test_election_observed_with_no_leader(ctx):
    """Watching an election: a leader with its value, a proclaim, and its
    expiry leaving no leader (holders 0, no value) until the candidate leads
    after the lock-delay."""
    srv = ctx.single()
    c = srv.client()
    w = srv.client()
    w.hello(3)
    w.call("WATCH", "primary")
    a = c.call("SESSION.OPEN", 300)
    b = c.call("SESSION.OPEN", 60000)
    t = c.call("ELECT.CAMPAIGN", "primary", a, "host-a", "DELAY", 500)
    c.call("ELECT.PROCLAIM", "primary", a, t, "host-a:2")
    k = srv.client()
    k.send("ELECT.CAMPAIGN", "primary", b, "host-b", "WAIT", 10000)
    got = pushes(w, 4, timeout=10)
    eq([(g["event"], g["session"], g["holders"], g["value"]) for g in got],
       [("granted", a, 1, "host-a"), ("proclaimed", a, 1, "host-a:2"),
        ("lost", a, 0, ""), ("granted", b, 1, "host-b")], "the election's changes")
    check(isinstance(k.read(5), int), "the candidate leads")


def test_resume_from_a_revision_and_history_gone(ctx):
    """WATCH ... FROM r replays the changes after r, then goes on live; with
    --watch-history 16, a watch from before what is kept is told "gone",
    with the revision from which the history is whole."""
    srv = ctx.single(extra=["--watch-history", "16"])
    c = srv.client()
    s = c.call("SESSION.OPEN", 60000)
    first = None
    for i in range(3):
        c.call("LOCK.ACQUIRE", "r", s)
        c.call("LOCK.RELEASE", "r", s)
    w = srv.client()
    w.hello(3)
    w.call("WATCH", "r", "FROM", 0)
    got = pushes(w, 6)
    eq([g["event"] for g in got], ["granted", "released"] * 3, "the history replayed")
    first = got[0]["revision"]
    c.call("LOCK.ACQUIRE", "r", s)
    eq(pushes(w, 1)[0]["event"], "granted", "then live")
    for i in range(20):  # past the 16 changes kept
        c.call("LOCK.ACQUIRE", "other", s)
        c.call("LOCK.RELEASE", "other", s)
    v = srv.client()
    v.hello(3)
    v.call("WATCH", "r", "FROM", first)
    gone = pushes(v, 1)[0]
    check(gone["event"] == "gone" and gone["revision"] > first,
          "told the history is gone: %r" % gone)


def changes(v):
    """The answer of WATCH.NEXT: the changes of one revision."""
    check(isinstance(v, list) and len(v) > 0, "not a list of changes: %r" % (v,))
    out = [change(x) for x in v]
    eq(len({x["revision"] for x in out}), 1, "one revision: %r" % (out,))
    return out


def waiters(c, name):
    v = c.call("LOCK.STATUS", name)
    return dict(zip(v[::2], v[1::2]))["waiters"]


def test_watch_next_on_resp2(ctx):
    """WATCH.NEXT name r returns the changes of the first revision after r
    at once from the history, waits for one with WAIT, and is null when
    none comes; WATCH itself needs RESP3."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 60000)
    c.call("LOCK.ACQUIRE", "n", s)
    [first] = changes(c.call("WATCH.NEXT", "n", 0))
    eq((first["event"], first["session"]), ("granted", s), "from the history")
    eq(c.call("WATCH.NEXT", "n", first["revision"]), None, "nothing after it yet")
    k = srv.client()
    k.send("WATCH.NEXT", "n", first["revision"], "WAIT", 5000)
    check(not k.pending(0.2), "waits")
    c.call("LOCK.RELEASE", "n", s)
    [nxt] = changes(k.read(5))
    check(nxt["event"] == "released" and nxt["revision"] > first["revision"], "%r" % nxt)
    t0 = time.monotonic()
    eq(k.call("WATCH.NEXT", "n", nxt["revision"], "WAIT", 300), None, "timed out")
    check(time.monotonic() - t0 >= 0.25, "waited about WAIT")
    eq(c.try_call("WATCH", "n").code, "ERR", "WATCH on RESP2")


def test_watch_next_reads_every_change_of_a_revision(ctx):
    """A handover is a "released" and a "granted" at one revision: a loop
    on WATCH.NEXT reads both, from the history and while waiting (before,
    it answered only the first, and the grant could never be read)."""
    srv = ctx.single()
    c = srv.client()
    a = c.call("SESSION.OPEN", 60000)
    b = c.call("SESSION.OPEN", 60000)
    c.call("LOCK.ACQUIRE", "h", a)
    [g] = changes(c.call("WATCH.NEXT", "h", 0))
    k = srv.client()
    k.send("WATCH.NEXT", "h", g["revision"], "WAIT", 5000)
    w = srv.client()
    w.send("LOCK.ACQUIRE", "h", b, "WAIT", 5000)
    wait_for(lambda: waiters(c, "h") == 1, 5, "b waits")
    c.call("LOCK.RELEASE", "h", a)
    waited = changes(k.read(5))
    eq([(x["event"], x["session"]) for x in waited],
       [("released", a), ("granted", b)], "both, while waiting")
    kept = changes(c.call("WATCH.NEXT", "h", g["revision"]))
    eq(kept, waited, "both, from the history")
    eq(c.call("WATCH.NEXT", "h", kept[0]["revision"]), None, "then nothing")


def test_watch_next_gone_when_a_revision_is_partly_dropped(ctx):
    """With --watch-history 16, a revision of which only some changes are
    still kept counts as gone: WATCH.NEXT from before it answers "gone"
    with that revision, and from it, what comes after."""
    srv = ctx.single(extra=["--watch-history", "16"])
    c = srv.client()
    holder = c.call("SESSION.OPEN", 60000)
    c.call("LOCK.ACQUIRE", "s", holder)
    readers = [c.call("SESSION.OPEN", 60000) for _ in range(20)]
    ws = []
    for r in readers:
        w = srv.client()
        w.send("LOCK.ACQUIRE", "s", r, "SHARED", "WAIT", 5000)
        ws.append(w)
    wait_for(lambda: waiters(c, "s") == 20, 5, "20 readers wait")
    c.call("LOCK.RELEASE", "s", holder)  # 1 released + 20 granted at once
    for w in ws:
        w.read(5)
    [gone] = changes(c.call("WATCH.NEXT", "s", 0))
    eq(gone["event"], "gone", "the handover's revision is partly dropped")
    eq(c.call("WATCH.NEXT", "s", gone["revision"]), None,
       "nothing after it: the history is whole from there")


def test_history_restarts_at_a_restored_snapshot(ctx):
    """After a restart from a snapshot, the changes up to it were never
    applied by this process: WATCH.NEXT from before the snapshot answers
    "gone" with the snapshot's index, not the first change after it."""
    srv = ctx.single(extra=["--snapshot-entries", "100"])
    c = srv.client()
    s = c.call("SESSION.OPEN", 60000)
    c.call("LOCK.ACQUIRE", "r", s)
    c.call("LOCK.RELEASE", "r", s)
    [granted] = changes(c.call("WATCH.NEXT", "r", 0))
    for i in range(120):  # past --snapshot-entries
        c.call("LOCK.ACQUIRE", "filler-%d" % i, s)
    wait_for(lambda: srv.info()["snapshot_index"] > 0, 10, "a snapshot")
    snap = srv.info()["snapshot_index"]
    c.close()
    srv.term()
    srv.start().wait_leader()
    w = srv.client(proto=3)
    check(w.call("WATCH", "r") >= snap, "a watch from now starts past the snapshot")
    w.call("WATCH", "r", "FROM", granted["revision"])
    [told] = pushes(w, 1)
    check(told["event"] == "gone" and told["revision"] >= snap,
          "gone at once, before anything applies after the restart: %r" % told)
    c = srv.client()
    c.call("LOCK.ACQUIRE", "r", s)
    [gone] = changes(c.call("WATCH.NEXT", "r", granted["revision"]))
    eq(gone["event"], "gone", "the release before the snapshot is not kept")
    check(gone["revision"] >= snap, "whole from the snapshot on: %r" % gone)
    [again] = changes(c.call("WATCH.NEXT", "r", gone["revision"]))
    eq(again["event"], "granted", "then the acquire after the restart")


def test_a_follower_watches_too(ctx):
    """A watch on a follower gets the same changes, with the same
    revisions, as one on the leader."""
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    follower = cl.followers(leader)[0]
    wl, wf = leader.client(), follower.client()
    for w in (wl, wf):
        w.hello(3)
        w.call("WATCH", "shared")
    c = leader.client()
    s = c.call("SESSION.OPEN", 60000)
    c.call("LOCK.ACQUIRE", "shared", s, "SHARED")
    c.call("LOCK.RELEASE", "shared", s, "SHARED")
    a, b = pushes(wl, 2), pushes(wf, 2)
    eq([(x["revision"], x["event"]) for x in b], [(x["revision"], x["event"]) for x in a],
       "the follower's changes")


def test_a_session_is_told_its_locks_are_lost(ctx):
    """SESSION.WATCH pushes every change of the session's holds, of any
    name: a grant, and the moment an administrator revokes it (lost), and
    when the session expires with a lock (lost), named after each lock."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 400)
    w = srv.client()
    w.hello(3)
    w.call("SESSION.WATCH", s)
    t1 = c.call("LOCK.ACQUIRE", "a", s)
    c.call("LOCK.ACQUIRE", "b", s)
    c.call("LOCK.REVOKE", "a", t1, "DELAY", 0)
    got = pushes(w, 3)
    eq([(g["name"], g["event"]) for g in got], [("a", "granted"), ("b", "granted"), ("a", "lost")],
       "the session's changes")
    got = pushes(w, 1, timeout=5)  # the lease ends without keepalives
    eq((got[0]["name"], got[0]["event"], got[0]["session"]), ("b", "lost", s), "lost with the session")
    eq(w.call("SESSION.UNWATCH", s), 1, "unwatched")


def test_a_session_watch_of_losses_only(ctx):
    """SESSION.WATCH id LOST pushes only the session's "lost" changes: not
    its grants and releases; FROM replays only the losses too; UNWATCH
    ends it; and an unknown word is refused with the usage."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 60000)
    w = srv.client()
    w.hello(3)
    start = w.call("SESSION.WATCH", s, "LOST")
    t1 = c.call("LOCK.ACQUIRE", "a", s)
    c.call("LOCK.ACQUIRE", "b", s)
    c.call("LOCK.RELEASE", "b", s)
    c.call("LOCK.REVOKE", "a", t1, "DELAY", 0)
    [lost] = pushes(w, 1)
    eq((lost["name"], lost["event"], lost["session"], lost["token"]), ("a", "lost", s, t1),
       "only the loss")
    check(not w.pending(0.3), "nothing else")
    r = srv.client()
    r.hello(3)
    r.call("SESSION.WATCH", s, "FROM", start, "LOST")
    eq(pushes(r, 1), [lost], "FROM replays the losses only")
    check(not r.pending(0.3), "and nothing else")
    eq(w.call("SESSION.UNWATCH", s), 1, "unwatched")
    eq(w.call("SESSION.UNWATCH", s), 0, "once")
    check("usage" in w.try_call("SESSION.WATCH", s, "LOSS").message, "a bad word")


def test_losses_are_kept_apart(ctx):
    """A watch of a session's losses (LOST) replays from the losses alone:
    with --watch-history 16, a revoke followed by 40 other changes (which
    push it out of the history) is still replayed FROM 0, with no "gone"
    (the history of losses keeps 16 of its own)."""
    srv = ctx.single(extra=["--watch-history", "16"])
    c = srv.client()
    s = c.call("SESSION.OPEN", 60000)
    t = c.call("LOCK.ACQUIRE", "r", s)
    c.call("LOCK.REVOKE", "r", t, "DELAY", 0)
    for i in range(20):
        c.call("LOCK.ACQUIRE", "x", s)
        c.call("LOCK.RELEASE", "x", s)
    w = srv.client(proto=3)
    w.call("SESSION.WATCH", s, "FROM", 0, "LOST")
    [lost] = pushes(w, 1)
    eq((lost["event"], lost["name"], lost["token"]), ("lost", "r", t), "the revoke, not gone")
    check(not w.pending(0.3), "nothing else")


def test_a_keeper_told_gone_watches_again_once(ctx):
    """libdlock's keepalive connection (here under `dlock run`) watches its
    session's losses FROM 0; when the losses kept no longer reach back
    there it is told "gone" and watches again from where they are whole,
    once (before, it asked FROM 0 again and again, each time replaying the
    whole history on the server: a loop), and a revoke still stops CMD."""
    srv = ctx.single(extra=["--watch-history", "16"])
    c = srv.client()
    for i in range(20):  # 20 losses: more than the 16 kept
        s = c.call("SESSION.OPEN", 60000)
        c.call("LOCK.REVOKE", "old-%d" % i, c.call("LOCK.ACQUIRE", "old-%d" % i, s))
    before = int(info_fields(c)["total_commands_processed"])
    env = dlocktest.tool_env(DLOCK_SERVERS=srv.addr)
    p = subprocess.Popen([dlocktest.dlock_path(), "run", "--ttl", "60s", "job", "--", "sh", "-c",
                          'echo "$DLOCK_TOKEN" > %s; sleep 30' % os.path.join(ctx.dir, "token")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env, text=True)
    ctx.defer(lambda: p.poll() is None and p.kill())
    path = os.path.join(ctx.dir, "token")
    wait_for(lambda: os.path.exists(path) and open(path).read().strip(), 10, "CMD to start")
    time.sleep(1)
    used = int(info_fields(c)["total_commands_processed"]) - before
    check(used < 40, "dlock run sent %d commands in about a second" % used)
    c.call("LOCK.REVOKE", "job", int(open(path).read()))
    eq(p.wait(15), 76, "stopped by the revoke (stderr %r)" % p.stderr.read())


def test_a_slow_watcher_is_ended_and_watches_again(ctx):
    """A watcher that does not read (here `dlock watch` writing to a pipe
    nobody reads) has its watch ended by the server past 1 MiB of unsent
    pushes ("gone"); libdlock then watches again from the last change it
    delivered, so the program still gets every change, once, in order, and
    is not told "gone" (before, the watch stayed on its connection and
    heard nothing more)."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 600000)
    env = dlocktest.tool_env(DLOCK_SERVERS=srv.addr)
    p = subprocess.Popen([dlocktest.dlock_path(), "--json", "watch", "busy"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    ctx.defer(lambda: p.poll() is None and p.kill())
    time.sleep(0.5)  # its watch is set
    n = 30000  # pairs of changes: far more than a pipe, the sockets and 1 MiB hold
    for i in range(0, n, 500):
        c.send_many([("LOCK.ACQUIRE", "busy", s), ("LOCK.RELEASE", "busy", s)] * 500)
        for _ in range(1000):
            c.read(30)
    ended = int(info_fields(c).get("watches_ended_slow", -1))
    out, rest, end = [], b"", time.monotonic() + 60
    while len(out) < 2 * n:
        ready, _, _ = select.select([p.stdout], [], [], max(0, end - time.monotonic()))
        chunk = os.read(p.stdout.fileno(), 1 << 16) if ready else b""
        if not chunk:
            p.kill()
            check(False, "dlock watch printed %d lines, then nothing (last %r; stderr %r)"
                  % (len(out), out[-1:], p.stderr.read()))
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        out += [json.loads(l) for l in lines]
    p.terminate()
    events = [o["event"] for o in out]
    check("gone" not in events, "told gone")
    eq(events[:2] + events[-2:], ["granted", "released"] * 2, "in order")
    revs = [o["revision"] for o in out]
    eq(len(set(revs)), len(revs), "each change once")
    check(revs == sorted(revs), "revisions in order")
    check(ended != 0, "the server ended the slow watch (INFO watches_ended_slow %d)" % ended)


def test_watchers_that_vanish_while_served(ctx):
    """Clients that reset their connection while the server replays a
    watch's history, or while their WATCH.NEXT is answered, leave it
    whole (before, the replay read the name's watch after the close had
    freed it: AddressSanitizer saw it)."""
    srv = ctx.single()
    c = srv.client()
    s = c.call("SESSION.OPEN", 60000)
    for _ in range(20):
        c.call("LOCK.ACQUIRE", "x", s)
        c.call("LOCK.RELEASE", "x", s)
    for i in range(200):
        t = srv.client(proto=3)
        if i % 2:
            t.send("WATCH", "x", "FROM", 0)
        else:
            t.send("WATCH.NEXT", "x", 10 ** 9, "WAIT", 5000)
            t.send("WATCH.NEXT", "x", 10 ** 9, "WAIT", 5000)
        t.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))  # a reset, not a close
        t.close()
        if i % 20 == 0:
            c.call("LOCK.ACQUIRE", "x", s)
            c.call("LOCK.RELEASE", "x", s)
    eq(c.call("PING"), "PONG", "the server still answers")
    w = srv.client(proto=3)
    w.call("WATCH", "x", "FROM", 0)
    eq(len(pushes(w, 2 * 30)), 60, "and replays the whole history")
