"""test_primitives_cluster.py - shared locks, semaphores, elections,
revokes and watches (docs/protocol.md §4) end to end on a 3-server cluster
whose leader is killed (kill -9): driven through raw RESP by the real
redis-cli, and through the dlock tool (docs/cli.md) given the three
addresses."""

import json
import os
import shutil
import signal
import subprocess

from dlocktest import RespError, Skip, TestFailure, check, eq, split_addr, wait_for
from test_cli import Proc, dlock, elect_cmd, read_file, wait_file


def need_redis_cli():
    if shutil.which("redis-cli") is None:
        raise Skip("no redis-cli (Debian's redis-tools; scripts/deps.sh installs it)")


def redis_cli(addr, *args, flags=("--json",)):
    """Runs redis-cli against addr; returns what it printed, stripped."""
    host, port = split_addr(addr)
    argv = ["redis-cli", "-h", host, "-p", str(port)] + list(flags) + [str(a) for a in args]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=15)
    eq((p.returncode, p.stderr), (0, ""), "redis-cli %s: exit code and stderr" % " ".join(argv[5:]))
    return p.stdout.strip()


def ask(addr, *args):
    """A command through `redis-cli --json` (RESP3): the reply as a Python
    value, an error reply as a RespError."""
    out = redis_cli(addr, *args)
    if out.startswith("error:"):
        return RespError(json.loads(out[len("error:"):]))
    return json.loads(out)


def change_tuple(ch):
    """One change of WATCH.NEXT: (event, session, token, exclusive,
    shared, holders, value)."""
    eq((len(ch), ch[0]), (11, "watch"), "a change's shape: %r" % (ch,))
    return (ch[3], ch[4], ch[6], ch[7], ch[8], ch[9], ch[10])


def history(addr, name):
    """Every change of name from revision 0, by WATCH.NEXT through
    redis-cli: a list of (revision, [changes]); each answer is the changes
    of one revision, and revisions go up."""
    out, rev = [], 0
    while True:
        v = ask(addr, "WATCH.NEXT", name, rev)
        if v is None:
            return out
        check(isinstance(v, list) and v, "WATCH.NEXT %s %d: %r" % (name, rev, v))
        revs = {ch[2] for ch in v}
        check(len(revs) == 1 and revs.pop() > rev, "one revision after %d per answer: %r" % (rev, v))
        rev = v[0][2]
        out.append((rev, [change_tuple(ch) for ch in v]))


def holders(addr, cmd, name):
    return [(h["session"], h["token"], h["exclusive"], h["shared"]) for h in ask(addr, cmd, name)]


def elect_leader(addr, name):
    v = ask(addr, "ELECT.LEADER", name)
    return (v["leader"], v["token"], v["value"], v["candidates"])


def sem_status(addr, name):
    v = ask(addr, "SEM.STATUS", name)
    return (v["permits"], v["used"], v["available"], v["holders"], v["waiters"])


def test_redis_cli_drives_every_primitive_across_a_leader_kill(ctx):
    """redis-cli at the leader of 3: two readers share a lock, a writer is
    refused (HELD), then writes and DOWNGRADEs beside a new reader; a
    semaphore of 2 is full (HELD), refuses another N and a lock command
    (KIND); an election's leader proclaims, resigns and hands over to a
    waiting candidate, whose proclaim stands and the old one's is refused;
    a revoked lock is lost by its holder and stays in its lock-delay;
    WATCH.NEXT answers each revision's changes (a handover: two). A
    follower answers a write and a linearizable read with `LEADER
    host:port`, which redis-cli -c does not follow (it follows MOVED and
    ASK only), and serves WATCH.NEXT. After kill -9 of the leader, redis-cli
    at the new one finds every holder, permit, leader and value, the
    revoke's lock-delay and REQ, and the same histories; the next grants'
    tokens are above every earlier one."""
    need_redis_cli()
    cl = ctx.cluster(3)
    old = cl.wait_leader()
    fol = cl.followers(old)[0]
    a = old.addr
    eq(redis_cli(fol.addr, "SESSION.OPEN", 300000, flags=("--no-raw",)),
       "(error) LEADER %s" % old.addr, "a follower's answer to a write")
    eq(redis_cli(fol.addr, "SESSION.OPEN", 300000, flags=("-c", "--no-raw")),
       "(error) LEADER %s" % old.addr, "redis-cli -c does not follow LEADER")
    eq(ask(fol.addr, "LOCK.STATUS", "price-list"), RespError("LEADER %s" % old.addr),
       "a follower's answer to a linearizable read")
    names = ("reader-1", "reader-2", "writer", "worker-a", "worker-b", "worker-c", "db-1", "db-2",
             "stuck-job")
    s = {n: ask(a, "SESSION.OPEN", 300000, "NAME", n) for n in names}
    check(all(isinstance(v, int) for v in s.values()), "sessions: %r" % s)
    tokens = []

    def grant(v, what):
        check(isinstance(v, int) and v > max(tokens, default=0),
              "%s: a token above every earlier one %r, got %r" % (what, tokens, v))
        tokens.append(v)
        return v

    # A shared lock.
    r1 = grant(ask(a, "LOCK.ACQUIRE", "price-list", s["reader-1"], "SHARED"), "reader-1")
    r2 = grant(ask(a, "LOCK.ACQUIRE", "price-list", s["reader-2"], "SHARED"), "reader-2")
    eq(ask(a, "LOCK.ACQUIRE", "price-list", s["writer"]),
       RespError("HELD by session %d" % s["reader-1"]), "a writer beside two readers")
    st = ask(a, "LOCK.STATUS", "price-list")
    eq((st["held"], st["mode"], st["holders"]), (1, "shared", 2), "two readers at once")
    eq(ask(a, "LOCK.ACQUIRE", "price-list", s["reader-1"]).code, "UPGRADE", "a reader's upgrade")
    eq(ask(a, "LOCK.RELEASE", "price-list", s["reader-1"], "SHARED"), 0, "reader-1's release")
    eq(ask(a, "LOCK.RELEASE", "price-list", s["reader-2"], "SHARED"), 0, "reader-2's release")
    w = grant(ask(a, "LOCK.ACQUIRE", "price-list", s["writer"], "REQ", "w-1"), "the writer")
    eq(ask(a, "LOCK.DOWNGRADE", "price-list", s["writer"], "REQ", "d-1"), w, "DOWNGRADE keeps the token")
    r3 = grant(ask(a, "LOCK.ACQUIRE", "price-list", s["reader-1"], "SHARED"), "a reader beside")
    price = [(s["reader-1"], r3, 0, 1), (s["writer"], w, 0, 1)]
    eq(holders(a, "LOCK.HOLDERS", "price-list"), price, "the lock's holders")
    # A semaphore of 2.
    ta = grant(ask(a, "SEM.ACQUIRE", "render-slots", s["worker-a"], 2), "worker-a's permit")
    tb = grant(ask(a, "SEM.ACQUIRE", "render-slots", s["worker-b"], 2), "worker-b's permit")
    eq(ask(a, "SEM.ACQUIRE", "render-slots", s["worker-c"], 2),
       RespError("HELD by session %d" % s["worker-a"]), "a third permit of 2")
    v = ask(a, "SEM.ACQUIRE", "render-slots", s["worker-c"], 3)
    check(isinstance(v, RespError) and v.code == "KIND" and "semaphore of 2 permits" in v.message,
          "another permit count: %r" % v)
    eq(ask(a, "LOCK.ACQUIRE", "render-slots", s["worker-c"]).code, "KIND", "a lock command")
    eq(sem_status(a, "render-slots"), (2, 2, 0, 2, 0), "SEM.STATUS (permits used available "
       "holders waiters)")
    slots = [(s["worker-a"], ta, 0, 1), (s["worker-b"], tb, 0, 1)]
    eq(holders(a, "SEM.HOLDERS", "render-slots"), slots, "the semaphore's holders")
    # An election, handed over to a waiting candidate.
    e1 = grant(ask(a, "ELECT.CAMPAIGN", "db-primary", s["db-1"], "10.0.0.1:5432"), "db-1 elected")
    eq(ask(a, "ELECT.CAMPAIGN", "db-primary", s["db-2"], "10.0.0.2:5432"),
       RespError("HELD by session %d" % s["db-1"]), "a second candidate's try")
    eq(ask(a, "ELECT.PROCLAIM", "db-primary", s["db-1"], e1, "10.0.0.1:6432"), "OK", "PROCLAIM")
    eq(elect_leader(a, "db-primary"), (s["db-1"], e1, "10.0.0.1:6432", 0), "ELECT.LEADER")
    host, port = split_addr(a)
    with open(os.path.join(ctx.dir, "campaign.out"), "wb") as out:
        bg = subprocess.Popen(["redis-cli", "-h", host, "-p", str(port), "ELECT.CAMPAIGN",
                               "db-primary", str(s["db-2"]), "10.0.0.2:5432", "WAIT", "20000"],
                              stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    ctx.defer(lambda: (bg.kill(), bg.wait()))
    wait_for(lambda: elect_leader(a, "db-primary")[3] == 1, 10, "the candidate to queue")
    eq(ask(a, "ELECT.RESIGN", "db-primary", s["db-1"]), "OK", "RESIGN")
    eq(bg.wait(10), 0, "the waiting campaign's redis-cli")
    e2 = grant(int(read_file(ctx, "campaign.out")), "db-2 elected at the resign")
    eq(ask(a, "ELECT.PROCLAIM", "db-primary", s["db-2"], e2, "10.0.0.2:6432"), "OK", "the new PROCLAIM")
    eq(ask(a, "ELECT.PROCLAIM", "db-primary", s["db-1"], e1, "stale").code, "NOTHELD",
       "the old leader's PROCLAIM")
    elected = (s["db-2"], e2, "10.0.0.2:6432", 0)
    eq(elect_leader(a, "db-primary"), elected, "ELECT.LEADER after the handover")
    # A revoke, with a lock-delay that outlasts the failover.
    x = grant(ask(a, "LOCK.ACQUIRE", "nightly-export", s["stuck-job"]), "the stuck job")
    eq(ask(a, "LOCK.REVOKE", "nightly-export", x, "DELAY", 60000, "REQ", "rv-1"), s["stuck-job"],
       "LOCK.REVOKE answers the holder's session")
    eq(ask(a, "LOCK.CHECK", "nightly-export", x), 0, "the revoked token no longer holds")
    eq(ask(a, "LOCK.RELEASE", "nightly-export", s["stuck-job"]).code, "NOTHELD", "the holder lost it")

    def revoked(addr):
        st = ask(addr, "LOCK.STATUS", "nightly-export")
        eq((st["held"], st["session"]), (0, 0), "the revoked lock is free")
        check(0 < st["delay_left_ms"] <= 60000, "in its lock-delay: %r" % st)
        eq(ask(addr, "LOCK.ACQUIRE", "nightly-export", s["writer"]).code, "HELD",
           "an acquire in the lock-delay")
        eq(ask(addr, "LOCK.REVOKE", "nightly-export", x, "DELAY", 60000, "REQ", "rv-1"),
           s["stuck-job"], "the revoke's retry answers its first outcome")

    revoked(a)
    # The histories: each answer of WATCH.NEXT is one revision's changes.
    want = {
        "price-list": [
            [("granted", s["reader-1"], r1, 0, 1, 1, "")],
            [("granted", s["reader-2"], r2, 0, 1, 2, "")],
            [("released", s["reader-1"], r1, 0, 0, 1, "")],
            [("released", s["reader-2"], r2, 0, 0, 0, "")],
            [("granted", s["writer"], w, 1, 0, 1, "")],
            [("downgraded", s["writer"], w, 0, 1, 1, "")],
            [("granted", s["reader-1"], r3, 0, 1, 2, "")]],
        "render-slots": [
            [("granted", s["worker-a"], ta, 0, 1, 1, "")],
            [("granted", s["worker-b"], tb, 0, 1, 2, "")]],
        "db-primary": [
            [("granted", s["db-1"], e1, 1, 0, 1, "10.0.0.1:5432")],
            [("proclaimed", s["db-1"], e1, 1, 0, 1, "10.0.0.1:6432")],
            [("released", s["db-1"], e1, 0, 0, 0, ""),
             ("granted", s["db-2"], e2, 1, 0, 1, "10.0.0.2:5432")],
            [("proclaimed", s["db-2"], e2, 1, 0, 1, "10.0.0.2:6432")]],
        "nightly-export": [
            [("granted", s["stuck-job"], x, 1, 0, 1, "")],
            [("lost", s["stuck-job"], x, 0, 0, 0, "")]],
    }
    hist = {}
    for name, changes in want.items():
        hist[name] = history(a, name)
        eq([c for _, c in hist[name]], changes, "WATCH.NEXT's history of %s" % name)
        wait_for(lambda: history(fol.addr, name) == hist[name], 5,
                 "the follower's history of %s" % name)
    # The leader dies; everything is at the new one.
    old.kill()
    new = cl.wait_leader(other_than=old.id)
    a = new.addr
    eq(holders(a, "LOCK.HOLDERS", "price-list"), price, "the lock's holders after the failover")
    st = ask(a, "LOCK.STATUS", "price-list")
    eq((st["mode"], st["holders"]), ("shared", 2), "the lock's mode after the failover")
    eq(sem_status(a, "render-slots"), (2, 2, 0, 2, 0), "SEM.STATUS after the failover")
    eq(holders(a, "SEM.HOLDERS", "render-slots"), slots, "the permits' holders after the failover")
    eq(elect_leader(a, "db-primary"), elected, "ELECT.LEADER after the failover")
    revoked(a)
    for name in want:
        eq(history(a, name), hist[name], "the history of %s at the new leader" % name)
    other = cl.followers(new)[0]
    eq(redis_cli(other.addr, "LOCK.ACQUIRE", "x", s["writer"], flags=("-c", "--no-raw")),
       "(error) LEADER %s" % new.addr, "the follower names the new leader")
    eq(ask(a, "SEM.RELEASE", "render-slots", s["worker-a"]), 0, "a permit back")
    tc = grant(ask(a, "SEM.ACQUIRE", "render-slots", s["worker-c"], 2), "a permit after the failover")
    eq(ask(a, "ELECT.RESIGN", "db-primary", s["db-2"]), "OK", "RESIGN after the failover")
    e3 = grant(ask(a, "ELECT.CAMPAIGN", "db-primary", s["db-1"], "10.0.0.1:7432"),
               "an election after the failover")
    grant(ask(a, "LOCK.ACQUIRE", "price-list", s["reader-2"], "SHARED"), "a reader after the failover")
    eq(elect_leader(a, "db-primary"), (s["db-1"], e3, "10.0.0.1:7432", 0), "the new leader")
    last = hist["render-slots"][-1][0]
    eq(ask(a, "WATCH.NEXT", "render-slots", last, "WAIT", 1000)[0][3:7],
       ["released", s["worker-a"], "", ta], "the next change of the semaphore")
    eq([ch for _, chs in history(a, "render-slots")[2:] for ch in chs],
       [("released", s["worker-a"], ta, 0, 0, 1, ""), ("granted", s["worker-c"], tc, 0, 1, 2, "")],
       "the semaphore's changes after the failover")


# ---- the dlock tool ------------------------------------------------------------


def span_cmd(tag, seconds):
    """A CMD that writes DLOCK_TOKEN and its start time (TAG.token,
    TAG.start), holds for seconds, then writes its end time (TAG.end)."""
    return ["sh", "-c", 'echo "$DLOCK_TOKEN" > %s.token; date +%%s.%%N > %s.start.tmp; '
            'mv %s.start.tmp %s.start; sleep %s; date +%%s.%%N > %s.end'
            % (tag, tag, tag, tag, seconds, tag)]


def span(ctx, tag):
    return float(read_file(ctx, tag + ".start")), float(read_file(ctx, tag + ".end"))


def most_at_once(spans):
    """The most spans (start, end) that overlap at one time."""
    edges = sorted([(t0, 1) for t0, _ in spans] + [(t1, -1) for _, t1 in spans])
    n = most = 0
    for _, d in edges:
        n += d
        most = max(most, n)
    return most


def watch_port(pid):
    """The server port of the newest established TCP connection of pid
    (its highest descriptor): a `dlock watch`'s own, which its thread
    opens after the connection of the probe that starts it."""
    socks = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            socks[link[8:-1]] = int(fd)
    conns = []
    with open("/proc/%d/net/tcp" % pid) as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and fields[9] in socks:
                conns.append((socks[fields[9]], int(fields[2].split(":")[1], 16)))
    return max(conns)[1] if conns else None


def watch_at(ctx, servers, srv, lines, *args, tag):
    """A `dlock watch` (args) that reads from srv: started again until its
    watch connects there (libdlock starts at a random server of the list),
    once it printed lines lines."""
    for i in range(30):
        p = Proc(ctx, servers, *args, tag="%s-%d" % (tag, i))
        wait_for(lambda: len(p.out().splitlines()) >= lines, 10, "%s's first lines" % p.tag)
        if watch_port(p.pid) == srv.port:
            return p
        p.kill()
    raise TestFailure("%s never read from %s" % (tag, srv.addr))


def test_dlock_run_shared_overlaps_on_a_cluster(ctx):
    """Two `dlock run --shared` given the three servers hold the lock at
    once (each CMD started before the other ended), each with a token of
    its own; `dlock holders` lists both dlock processes with a shared
    hold."""
    cl = ctx.cluster(3)
    servers = ",".join(cl.addrs())
    readers = [Proc(ctx, servers, "run", "--shared", "prices", "--", *span_cmd("r%d" % i, 2),
                    tag="r%d" % i) for i in range(2)]
    for i in range(2):
        wait_file(ctx, "r%d.start" % i)
    hs = dlock(servers, "--json", "holders", "prices").json()["holders"]
    eq(sorted(h["owner"].split(":")[-1] for h in hs), sorted(str(p.pid) for p in readers),
       "the holders are the two dlock processes")
    eq([(h["exclusive"], h["shared"]) for h in hs], [(0, 1), (0, 1)], "a shared hold each")
    for p in readers:
        eq(p.wait(), 0, "%s's exit (stderr %r)" % (p.tag, p.err()))
    spans = [span(ctx, "r%d" % i) for i in range(2)]
    check(max(t0 for t0, _ in spans) < min(t1 for _, t1 in spans),
          "the readers' CMDs overlap: %r" % spans)
    toks = sorted(int(read_file(ctx, "r%d.token" % i)) for i in range(2))
    eq(toks, sorted(h["token"] for h in hs), "the CMDs' tokens are the holds'")
    check(toks[0] < toks[1], "a token each: %r" % toks)
    eq(dlock(servers, "--json", "status", "prices").json()["held"], False, "free at the end")


def test_dlock_run_semaphore_2_of_3_across_a_leader_kill(ctx):
    """Three `dlock run --semaphore 2` given the three servers: two CMDs
    run, the third waits; kill -9 of the cluster's leader meanwhile, and
    `dlock sem-status` at the new one still shows 2 used and 1 waiting;
    never more than 2 CMDs at once (from the times they wrote), the third
    starts after one ended, with a token above the first two's; all exit
    0 and the semaphore is forgotten at the end."""
    cl = ctx.cluster(3)
    servers = ",".join(cl.addrs())
    procs = [Proc(ctx, servers, "run", "--semaphore", "2", "slots", "--", *span_cmd("s%d" % i, 3),
                  tag="s%d" % i) for i in range(3)]

    def started():
        return [i for i in range(3) if read_file(ctx, "s%d.start" % i)]

    first = wait_for(lambda: started() if len(started()) == 2 else None, 15, "two CMDs to start")
    o = wait_for(lambda: dlock(servers, "--json", "sem-status", "slots").json(), 10, "sem-status")
    eq((o["permits"], o["used"], o["waiters"]), (2, 2, 1), "sem-status before the kill")
    old = cl.wait_leader()
    old.kill()
    cl.wait_leader(other_than=old.id)
    o = dlock(servers, "--json", "sem-status", "slots").json()
    eq((o["permits"], o["used"]), (2, 2), "sem-status at the new leader")
    check(o["waiters"] in (0, 1), "the third waits (or is asking again): %r" % o)
    check(len(started()) == 2, "no third CMD while two run")
    for p in procs:
        eq(p.wait(), 0, "%s's exit (stderr %r)" % (p.tag, p.err()))
        eq(p.err(), "", "%s's stderr" % p.tag)
    spans = [span(ctx, "s%d" % i) for i in range(3)]
    eq(most_at_once(spans), 2, "CMDs at once, from %r" % spans)
    third = next(i for i in range(3) if i not in first)
    check(spans[third][0] >= min(spans[i][1] for i in first),
          "the third started after one of the first two ended: %r" % spans)
    toks = [int(read_file(ctx, "s%d.token" % i)) for i in range(3)]
    check(toks[third] > max(toks[i] for i in first), "the third's token: %r" % toks)
    o = dlock(servers, "--json", "sem-status", "slots").json()
    eq((o["permits"], o["used"], o["holders"]), (0, 0, 0), "the semaphore at the end (forgotten)")


def test_dlock_elect_across_a_leader_kill(ctx):
    """Two `dlock elect` given the three servers: the first elected runs
    CMD, the other waits; kill -9 of the cluster's leader while CMD runs
    does not cost the elected its leadership (its CMD runs on, it exits 0
    and says nothing), and `dlock leader` at the new cluster leader shows
    it (session, token = CMD's DLOCK_TOKEN, value) and the candidate
    queued again; when its CMD ends the other leads, its CMD starting
    after the first's ended, with a greater token, and `dlock leader`
    shows it."""
    cl = ctx.cluster(3)
    servers = ",".join(cl.addrs())
    ea = Proc(ctx, servers, "elect", "primary", "10.0.0.1:5432", "--", *elect_cmd("a"), tag="a")
    wait_file(ctx, "a.start")
    eb = Proc(ctx, servers, "elect", "primary", "10.0.0.2:5432", "--", *elect_cmd("b"), tag="b")

    def leader():
        return dlock(servers, "--json", "leader", "primary").json()

    wait_for(lambda: leader()["candidates"] == 1, 10, "the second to queue")
    before = leader()
    ta = int(read_file(ctx, "a.token"))
    eq((before["token"], before["value"], before["owner"].split(":")[-1]),
       (ta, "10.0.0.1:5432", str(ea.pid)), "the first leads")
    old = cl.wait_leader()
    old.kill()
    new = cl.wait_leader(other_than=old.id)
    wait_for(lambda: leader()["candidates"] == 1, 10, "the candidate to queue at the new leader")
    after = leader()
    eq((after["leader"], after["token"], after["value"], after["owner"]),
       (before["leader"], ta, "10.0.0.1:5432", before["owner"]),
       "dlock leader after the kill (new cluster leader %d)" % new.id)
    r = dlock(servers, "leader", "primary")
    check(("token:       %d\n" % ta) in r.out and "value:       10.0.0.1:5432\n" in r.out,
          "dlock leader:\n%s" % r.out)
    check(read_file(ctx, "a.end") is None and read_file(ctx, "b.start") is None,
          "the first's CMD runs on, the second's has not started")
    open(os.path.join(ctx.dir, "a.stop"), "w").close()
    eq(ea.wait(), 0, "the first's exit (stderr %r)" % ea.err())
    eq(ea.err(), "", "the first's stderr")
    wait_file(ctx, "b.start")
    check(float(read_file(ctx, "b.start")) >= float(read_file(ctx, "a.end")),
          "the second's CMD started after the first's ended")
    tb = int(read_file(ctx, "b.token"))
    check(tb > ta, "the second's token %d above the first's %d" % (tb, ta))
    o = leader()
    eq((o["token"], o["value"], o["owner"].split(":")[-1], o["candidates"]),
       (tb, "10.0.0.2:5432", str(eb.pid), 0), "the second leads")
    open(os.path.join(ctx.dir, "b.stop"), "w").close()
    eq(eb.wait(), 0, "the second's exit (stderr %r)" % eb.err())
    eq(leader()["leader"], 0, "no leader at the end")


def test_dlock_watch_across_a_leader_kill(ctx):
    """`dlock watch NAME --from 0`, as text with --count and as JSON,
    given the three servers and reading from the cluster's leader: kill -9
    of the leader between changes; they go on from another server and print
    every change once, in order: the same revisions, events and tokens
    as redis-cli's WATCH.NEXT at the new leader."""
    need_redis_cli()
    cl = ctx.cluster(3)
    old = cl.wait_leader()
    servers = ",".join(cl.addrs())

    def lease(verb, *args):
        r = dlock(servers, verb, "jobs", *args)
        eq(r.rc, 0, "dlock %s (stderr %r)" % (verb, r.err))
        return r.out

    t1 = int(lease("acquire", "--ttl", "30s"))
    lease("release", t1)
    t2 = int(lease("acquire", "--ttl", "30s"))
    wc = watch_at(ctx, servers, old, 3, "watch", "jobs", "--from", "0", "--count", "6", tag="wc")
    wj = watch_at(ctx, servers, old, 3, "--json", "watch", "jobs", "--from", "0", tag="wj")
    old.kill()
    cl.wait_leader(other_than=old.id)
    live = {srv.port for srv in cl.live()}
    for w in (wc, wj):
        wait_for(lambda: watch_port(w.pid) in live, 10, "%s to read from another server" % w.tag)
    lease("release", t2)
    t3 = int(lease("acquire", "--ttl", "30s"))
    lease("release", t3)
    eq(wc.wait(), 0, "watch --count 6's exit (stderr %r)" % wc.err())
    wait_for(lambda: len(wj.out().splitlines()) >= 6, 10, "six JSON lines")
    wj.proc.send_signal(signal.SIGTERM)
    eq(wj.wait(), 0, "watch --json's exit on SIGTERM (stderr %r)" % wj.err())
    new = cl.wait_leader()
    hist = [(rev, ch[0], ch[2]) for rev, chs in history(new.addr, "jobs") for ch in chs]
    eq([(e, t) for _, e, t in hist],
       [("granted", t1), ("released", t1), ("granted", t2), ("released", t2), ("granted", t3),
        ("released", t3)], "WATCH.NEXT's history")
    text = [l.split() for l in wc.out().splitlines()]
    eq([(int(l[0]), l[1], int(l[5])) for l in text], hist, "dlock watch --count 6's lines")
    objs = [json.loads(l) for l in wj.out().splitlines()]
    eq([(o["revision"], o["event"], o["token"]) for o in objs], hist, "dlock watch --json's lines")
