"""test_cli.py - dlock, the command-line tool ($DLOCK, default build/dlock)
against real dlockd: `dlock run` (exclusion, crashed, paused and
interrupted holders, a leader crash, exit codes, signals, environment), the
lease-lock verbs, status, list and cluster in human and JSON output, usage
errors, --help, and the examples in examples/ as their READMEs run them."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import dlocktest
from dlocktest import TestFailure, as_map, check, dlock_path, eq, no_sanitizer_report, wait_for

VERBS = ("run", "elect", "acquire", "extend", "release", "status", "holders", "list", "sem-status",
         "leader", "watch", "cluster")


def tool_env(servers):
    return dlocktest.tool_env(DLOCK_SERVERS=servers)


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def json(self):
        """The JSON object: the last line of stdout."""
        lines = self.out.strip().splitlines()
        check(lines, "no JSON on stdout (stderr: %r)" % self.err)
        return json.loads(lines[-1])


def dlock(servers, *args, timeout=30, env=None):
    """Runs dlock to its end; returns a Result."""
    p = subprocess.run([dlock_path()] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout,
                       env=env or tool_env(servers))
    no_sanitizer_report(p.stderr, "dlock %s" % " ".join(map(str, args)))
    return Result(p.returncode, p.stdout, p.stderr)


class Proc:
    """A dlock started in the background, its output in files of the
    test's directory; killed (with what it started) when the test ends."""

    def __init__(self, ctx, servers, *args, tag="dlock"):
        self.ctx = ctx
        self.tag = tag
        self.out_path = os.path.join(ctx.dir, tag + ".out")
        self.err_path = os.path.join(ctx.dir, tag + ".err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([dlock_path()] + [str(a) for a in args],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         cwd=ctx.dir, env=tool_env(servers))
        ctx.defer(self.kill)

    @property
    def pid(self):
        return self.proc.pid

    def wait(self, timeout=30):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s did not end within %.0f s; stderr: %r"
                              % (self.tag, timeout, self.err()))
        no_sanitizer_report(self.err(), self.tag)
        return rc

    def out(self):
        with open(self.out_path) as f:
            return f.read()

    def err(self):
        with open(self.err_path) as f:
            return f.read()

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


def read_file(ctx, name):
    try:
        with open(os.path.join(ctx.dir, name)) as f:
            return f.read()
    except FileNotFoundError:
        return None


def wait_file(ctx, name, timeout=15.0):
    return wait_for(lambda: (read_file(ctx, name) or "").strip(), timeout, "file %s" % name)


def kill_group(pid_text):
    """SIGKILL to the process group CMD leads (CMD wrote its pid)."""
    try:
        os.killpg(int(pid_text), signal.SIGKILL)
    except ProcessLookupError:
        pass


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie counts as gone.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def blocks_sigint(pid):
    """Whether the main thread of pid blocks SIGINT now (a thread in
    sigtimedwait shows the signals it waits for as not blocked)."""
    with open("/proc/%d/task/%d/status" % (pid, pid)) as f:
        for line in f:
            if line.startswith("SigBlk:"):
                return int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)) != 0
    raise TestFailure("no SigBlk for %d" % pid)


def lock_status(addr, name):
    v, _ = dlocktest.call_at_leader(addr, "LOCK.STATUS", name)
    return as_map(v)


def fenced_store(ctx):
    """Builds the fenced store example into the test's directory with its
    own Makefile, starts it, and returns (binary, socket path)."""
    binary = os.path.join(ctx.dir, "fenced-store")
    subprocess.run(["make", "-s", "-C", os.path.join(dlocktest.ROOT, "examples", "fenced-store"),
                    "BIN=" + binary], check=True, capture_output=True, timeout=60)
    # A short directory: a Unix socket's path has at most 107 bytes.
    sock_dir = tempfile.mkdtemp(prefix="dlock-store-")
    ctx.defer(lambda: shutil.rmtree(sock_dir, ignore_errors=True))
    sock = os.path.join(sock_dir, "store.sock")
    log = open(os.path.join(ctx.dir, "store.log"), "wb")
    p = subprocess.Popen([binary, "serve", sock], stdout=log, stderr=log)
    log.close()
    ctx.defer(lambda: (p.kill(), p.wait()))
    wait_for(lambda: os.path.exists(sock), 5, "the fenced store's socket")
    return binary, sock


# ---- dlock run -------------------------------------------------------------------


def test_run_no_wait_only_one_runs(ctx):
    """Two `dlock run --no-wait` started together: exactly one runs CMD and
    exits 0, the other exits 75 without running it and says why on
    stderr."""
    srv = ctx.single()
    cmd = ["sh", "-c", 'echo "$DLOCK_TOKEN" >> ran; sleep 1']
    procs = [Proc(ctx, srv.addr, "run", "--no-wait", "job", "--", *cmd, tag="r%d" % i)
             for i in range(2)]
    rcs = sorted(p.wait() for p in procs)
    eq(rcs, [0, 75], "exit codes of the two")
    eq(len(read_file(ctx, "ran").split()), 1, "times CMD ran")
    loser = next(p for p in procs if p.proc.returncode == 75)
    check("held" in loser.err(), "the message of the one that did not run: %r" % loser.err())
    winner = next(p for p in procs if p.proc.returncode == 0)
    eq(winner.err(), "", "stderr of the one that ran")
    check(not lock_status(srv.addr, "job")["held"], "the lock is released after CMD")


def test_run_holder_killed_waiter_gets_lock_after_ttl(ctx):
    """A holder killed with SIGKILL (dlock and CMD): the waiting `dlock run`
    gets the lock once the lease (1 s) and the kill grace as lock-delay
    (500 ms) have passed, not before, and its CMD sees a higher token."""
    srv = ctx.single()
    holder = Proc(ctx, srv.addr, "run", "--ttl", "1s", "--kill-grace", "500ms", "job", "--",
                  "sh", "-c", 'echo $$ > pid1; echo "$DLOCK_TOKEN" > tok1; exec sleep 60',
                  tag="holder")
    tok1 = int(wait_file(ctx, "tok1"))
    waiter = Proc(ctx, srv.addr, "run", "--wait", "30s", "job", "--",
                  "sh", "-c", 'echo "$DLOCK_TOKEN" > tok2', tag="waiter")
    wait_for(lambda: lock_status(srv.addr, "job")["waiters"] == 1, 10, "the waiter to queue")
    check(read_file(ctx, "tok2") is None, "the waiter ran CMD while the lock was held")
    t0 = time.monotonic()
    os.kill(holder.pid, signal.SIGKILL)
    kill_group(read_file(ctx, "pid1"))
    eq(waiter.wait(30), 0, "the waiter's exit code")
    took = time.monotonic() - t0
    # The last keepalive was at most a third of the TTL before the kill.
    check(took >= 0.6, "the waiter got the lock %.2f s after the kill: before the lease ended" % took)
    check(took < 10, "the waiter got the lock only %.1f s after the kill" % took)
    tok2 = int(read_file(ctx, "tok2"))
    check(tok2 > tok1, "tokens: the holder's %d, the waiter's %d" % (tok1, tok2))
    eq(holder.wait(5), -signal.SIGKILL, "the holder's end")


def test_run_paused_holder_exits_76_and_store_refuses_it(ctx):
    """A holder whose dlock is stopped (SIGSTOP, so its keepalives stop)
    longer than its TTL: another takes the lock with a higher token, the
    fenced store refuses the first CMD's writes from then on (STALE), and
    when the first dlock resumes it stops its CMD (SIGTERM) and exits 76."""
    srv = ctx.single()
    store, sock = fenced_store(ctx)
    script = ('echo $$ > pid1; echo "$DLOCK_TOKEN" > tok1; trap "echo TERM >> h.log; exit 0" TERM; '
              'while :; do "$0" write "$1" "$DLOCK_TOKEN" k first >> h.log; sleep 0.1; done')
    holder = Proc(ctx, srv.addr, "--json", "run", "--ttl", "1s", "--kill-grace", "1s", "job", "--",
                  "sh", "-c", script, store, sock, tag="holder")
    wait_for(lambda: "OK" in (read_file(ctx, "h.log") or ""), 10, "the holder's first write")
    tok1 = int(read_file(ctx, "tok1"))
    cmd1 = int(read_file(ctx, "pid1"))
    os.kill(holder.pid, signal.SIGSTOP)
    second = dlock(srv.addr, "run", "--wait", "30s", "job", "--", "sh", "-c",
                   '"$0" write "$1" "$DLOCK_TOKEN" k second && echo "token $DLOCK_TOKEN"',
                   store, sock)
    eq(second.rc, 0, "the second run's exit code (stderr %r)" % second.err)
    tok2 = int(second.out.split("token ")[1])
    check(tok2 > tok1, "tokens: the paused holder's %d, the second's %d" % (tok1, tok2))
    wait_for(lambda: "STALE" in read_file(ctx, "h.log"), 10, "the paused holder's CMD to be refused")
    check(alive(cmd1), "the paused holder's CMD runs on while dlock is stopped")
    os.kill(holder.pid, signal.SIGCONT)
    eq(holder.wait(10), 76, "the paused holder's exit code after it resumed")
    check("lease" in holder.err(), "the holder says why: %r" % holder.err())
    o = json.loads(holder.out())
    eq((o["ok"], o["exit"], o["error"], o["lost"], o["token"], o["cmd_exit"]),
       (False, 76, "lost", True, tok1, 0), "the holder's JSON result")
    check("TERM" in read_file(ctx, "h.log"), "the holder's CMD got SIGTERM")
    check(not alive(cmd1), "the holder's CMD is gone")
    v = subprocess.run([store, "read", sock, "k"], capture_output=True, text=True).stdout
    eq(v.strip(), "VALUE %d second" % tok2, "what the store holds")


def test_run_unanswered_keepalives_stop_cmd_before_lease_ends(ctx):
    """When keepalives go unanswered (the server is paused), dlock run sends
    SIGTERM to CMD's group before the lease could end (2 s after the last
    keepalive at the latest), SIGKILL after the kill grace (1 s) to a CMD
    that ignores SIGTERM, and exits 76."""
    srv = ctx.single()
    p = Proc(ctx, srv.addr, "--json", "--timeout", "1s", "run", "--ttl", "2s", "--kill-grace", "1s",
             "job", "--",
             "sh", "-c", 'trap "" TERM; echo $$ > pid; while :; do sleep 0.1; done')
    cmd = int(wait_file(ctx, "pid"))
    t0 = time.monotonic()
    srv.pause()
    wait_for(lambda: "no longer be proven" in p.err(), 5, "dlock run to stop CMD")
    t_term = time.monotonic()
    check(t_term - t0 < 2.0, "SIGTERM %.2f s after the server paused: after the lease could end"
          % (t_term - t0))
    check(alive(cmd), "CMD ignores SIGTERM")
    eq(p.wait(10), 76, "exit code")
    t_exit = time.monotonic()
    # Then the session close waits for --timeout.
    check(1.8 <= t_exit - t_term < 5, "dlock exited %.2f s after SIGTERM: expected the kill grace "
          "and the timeout of the unanswered close" % (t_exit - t_term))
    check(not alive(cmd), "CMD is gone")
    o = json.loads(p.out())
    eq((o["ok"], o["exit"], o["cmd_signal"], o["lost"]), (False, 76, 9, True), "the JSON result")
    srv.resume()


def test_run_failed_release_keeps_cmd_status(ctx):
    """A release that fails after CMD ended (CMD paused the server on its
    way out) is a warning on stderr; dlock still exits with CMD's status."""
    srv = ctx.single()
    r = dlock(srv.addr, "--timeout", "1s", "run", "job", "--", "sh", "-c",
              "kill -STOP %d; exit 5" % srv.pid)
    srv.resume()
    eq(r.rc, 5, "exit code (stderr %r)" % r.err)
    check(r.err.startswith("dlock run: job: warning: the release failed"), "stderr: %r" % r.err)
    # While the close waits for the paused server, SIGINT ends dlock. While
    # dlock waits for CMD's end, its main thread takes signals in
    # sigtimedwait, which /proc shows as not blocked: the check is made
    # only once CMD is reaped (its /proc entry gone).
    p = Proc(ctx, srv.addr, "run", "job", "--", "sh", "-c",
             "echo $$ > cmd.pid; kill -STOP %d; touch ended" % srv.pid)
    wait_for(lambda: os.path.exists(os.path.join(ctx.dir, "ended")), 10, "CMD to end")
    cmd_pid = int(read_file(ctx, "cmd.pid"))
    wait_for(lambda: not os.path.exists("/proc/%d" % cmd_pid), 10, "dlock to reap CMD")
    wait_for(lambda: not blocks_sigint(p.pid), 10, "dlock to stop blocking SIGINT after CMD")
    os.kill(p.pid, signal.SIGINT)
    eq(p.wait(5), -signal.SIGINT, "dlock's end")
    srv.resume()


def test_run_leader_crash_cmd_finishes(ctx):
    """A 3-server cluster whose leader is killed while `dlock run` holds a
    lock: the lock stays held (same token, seen at the new leader), CMD
    keeps running and finishes normally, and dlock exits 0."""
    cl = ctx.cluster(3)
    servers = ",".join(cl.addrs())
    p = Proc(ctx, servers, "run", "--ttl", "5s", "job", "--", "sh", "-c",
             'echo "$DLOCK_TOKEN" > tok; sleep 4; echo done > done')
    tok = int(wait_file(ctx, "tok"))
    old = cl.wait_leader()
    old.kill()
    new = cl.wait_leader(other_than=old.id)
    st = dlock(servers, "--json", "status", "job").json()
    eq((st["held"], st["token"]), (True, tok), "the lock at the new leader %d (held, token)" % new.id)
    eq(p.wait(30), 0, "dlock run's exit code (stderr %r)" % p.err())
    eq(read_file(ctx, "done"), "done\n", "CMD's last step")
    eq(p.err(), "", "dlock run's stderr")
    check(not lock_status(new.addr, "job")["held"], "the lock is released after CMD")


def test_run_exit_codes_environment_and_signals(ctx):
    """dlock run exits with CMD's status (128+N for a signal), gives CMD
    DLOCK_NAME, DLOCK_TOKEN and DLOCK_SERVERS, passes SIGTERM and SIGINT on,
    and has codes of its own, each with a message: 127 and 126 (CMD not
    run, the lock not taken), 75 (the wait ran out), 69 (no server), and
    ends by a signal that comes while it waits; --json adds a result object after CMD's
    output."""
    srv = ctx.single()
    a = srv.addr
    eq(dlock(a, "run", "j", "--", "sh", "-c", "exit 3").rc, 3, "CMD's exit status")
    eq(dlock(a, "run", "j", "--", "sh", "-c", "kill -KILL $$").rc, 128 + 9, "CMD killed by SIGKILL")
    r = dlock(a, "run", "j", "--", "sh", "-c", 'echo "$DLOCK_NAME $DLOCK_TOKEN $DLOCK_SERVERS"')
    name, token, servers = r.out.split()
    eq((r.rc, name, servers, r.err), (0, "j", a, ""), "CMD's environment")
    check(int(token) > 0, "DLOCK_TOKEN %r" % token)
    r = dlock(a, "--json", "run", "j", "--", "sh", "-c", "echo hello; exit 4")
    eq(r.out.splitlines()[0], "hello", "CMD's output comes first")
    o = r.json()
    eq((r.rc, o["ok"], o["exit"], o["cmd_exit"], o["lost"], o["name"]), (4, True, 4, 4, False, "j"),
       "the JSON result")
    for sig in (signal.SIGTERM, signal.SIGINT):
        p = Proc(ctx, a, "run", "sig", "--", "sh", "-c",
                 'trap "echo got > sig; exit 7" %s; touch ready; while :; do sleep 0.05; done'
                 % sig.name[3:], tag="sig%d" % sig)
        wait_for(lambda: os.path.exists(os.path.join(ctx.dir, "ready")), 10, "CMD to start")
        os.kill(p.pid, sig)
        eq(p.wait(10), 7, "exit code after %s was passed on" % sig.name)
        eq(read_file(ctx, "sig"), "got\n", "CMD got %s" % sig.name)
        os.unlink(os.path.join(ctx.dir, "ready"))
    r = dlock(a, "run", "j", "--", "no-such-command-here")
    eq(r.rc, 127, "CMD not found")
    check("not found" in r.err, "message: %r" % r.err)
    with open(os.path.join(ctx.dir, "not-executable"), "w") as f:
        f.write("echo hi\n")
    r = dlock(a, "run", "j", "--", os.path.join(ctx.dir, "not-executable"))
    eq(r.rc, 126, "CMD not executable")
    check("ermission denied" in r.err, "message: %r" % r.err)
    check(not lock_status(a, "j")["held"], "the lock is free")
    holder = Proc(ctx, a, "run", "held", "--", "sleep", "30", tag="holder")
    wait_for(lambda: lock_status(a, "held")["held"], 10, "the holder")
    t0 = time.monotonic()
    r = dlock(a, "run", "--wait", "300ms", "held", "--", "touch", "ran")
    eq(r.rc, 75, "the wait ran out")
    check(time.monotonic() - t0 >= 0.3 and "ran out" in r.err, "waited, said so: %r" % r.err)
    r = dlock(a, "--json", "run", "--no-wait", "held", "--", "touch", "ran")
    o = r.json()
    eq((r.rc, o["ok"], o["exit"], o["error"]), (75, False, 75, "held"), "--no-wait, --json")
    waiter = Proc(ctx, a, "run", "held", "--", "touch", "ran", tag="waiter")
    wait_for(lambda: lock_status(a, "held")["waiters"] == 1, 10, "the waiter to queue")
    os.kill(waiter.pid, signal.SIGTERM)
    # dlock ends by the signal itself (a shell shows 143).
    eq(waiter.wait(10), -signal.SIGTERM, "SIGTERM while waiting")
    check("interrupted" in waiter.err(), "message: %r" % waiter.err())
    check(not os.path.exists(os.path.join(ctx.dir, "ran")), "CMD never ran")
    holder.kill()
    port = dlocktest.free_port()
    r = dlock(a, "--timeout", "1s", "--servers", "127.0.0.1:%d" % port, "run", "x", "--",
              "touch", "ran", timeout=60)
    eq(r.rc, 69, "no server reachable (stderr %r)" % r.err)
    check(r.err.startswith("dlock run:"), "message: %r" % r.err)


# ---- the other verbs -----------------------------------------------------------


def test_list_pages_through_many_locks(ctx):
    """dlock list gives up to --max locks however many replies it takes: on
    a server with --max-output 64 KiB, whose LOCK.LIST replies stop at 16
    KiB (about 30 of these locks), 10,000 locks with 256-byte names and
    64-byte owners come out all, once each, in name order (--max 20000),
    the first 1,000 by default, one with --max 1. (Before, dlock asked for
    them in one reply, which the server could not send: the connection was
    closed and dlock gave up.)"""
    srv = ctx.single(extra=["--max-output", "65536"])
    names = dlocktest.hold_maximal_locks(srv.client(timeout=30), "cli-", 10000)
    r = dlock(srv.addr, "--json", "list", "--max", "20000", "cli-")
    eq(r.rc, 0, "list --max 20000 (stderr: %r)" % r.err)
    got = r.json()["locks"]
    eq([l["name"] for l in got], names, "every lock once, in name order")
    check(all(l["owner"] == "o" * 64 for l in got), "the owners")
    r = dlock(srv.addr, "list", "cli-")
    eq(r.rc, 0, "list (stderr: %r)" % r.err)
    eq([l.split()[0] for l in r.out.splitlines()[1:]], names[:1000], "the default --max 1000")
    eq([l["name"] for l in dlock(srv.addr, "--json", "list", "--max", "1").json()["locks"]],
       names[:1], "--max 1")


def test_lease_verbs_and_status_list(ctx):
    """acquire prints a token, extend and release take it; a held lock is
    75, a released or expired one 76; status and list show holder, token,
    waiters and lease left, as text and as JSON; durations like 1m30s are
    read right."""
    srv = ctx.single()
    a = srv.addr
    r = dlock(a, "acquire", "rep", "--ttl", "10s")
    eq((r.rc, r.err), (0, ""), "acquire")
    tok = int(r.out)
    r = dlock(a, "acquire", "rep", "--ttl", "10s")
    eq((r.rc, r.out), (75, ""), "acquire of a held lock")
    check("held" in r.err, "message: %r" % r.err)
    o = dlock(a, "--json", "acquire", "rep", "--ttl", "10s").json()
    eq((o["ok"], o["exit"], o["error"], o["code"]), (False, 75, "held", "DLOCK_EHELD"), "--json")
    t0 = time.monotonic()
    eq(dlock(a, "acquire", "rep", "--ttl", "5s", "--wait", "300ms").rc, 75, "a wait that runs out")
    check(time.monotonic() - t0 >= 0.3, "it waited")
    r = dlock(a, "acquire", "rep", "--ttl", "500ms", "--wait", "5s")
    eq(r.rc, 75, "a wait ended by the lease")
    check("lease" in r.err, "message: %r" % r.err)
    r = dlock(a, "status", "rep")
    eq(r.rc, 0, "status")
    check("held:        yes" in r.out and "token:       %d" % tok in r.out, "status:\n%s" % r.out)
    o = dlock(a, "status", "rep", "--json").json()
    eq((o["ok"], o["name"], o["held"], o["token"], o["waiters"]), (True, "rep", True, tok, 0), "status --json")
    check(0 < o["lease_left_ms"] <= 10000, "lease_left_ms %d" % o["lease_left_ms"])
    r = dlock(a, "extend", "rep", tok, "--ttl", "1m30s")
    eq((r.rc, r.out, r.err), (0, "", ""), "extend")
    check(dlock(a, "--json", "status", "rep").json()["lease_left_ms"] > 60000, "the extended lease")
    o = dlock(a, "--json", "extend", "rep", tok, "--ttl=20s").json()
    eq((o["ok"], o["token"], o["ttl_ms"]), (True, tok, 20000), "extend --json")
    other = int(dlock(a, "acquire", "other", "--ttl", "10s").out)
    r = dlock(a, "list")
    lines = r.out.splitlines()
    check(lines[0].split() == ["NAME", "HOLDER", "TOKEN", "WAITERS", "LEASE", "LEFT"], "header: %r" % lines[0])
    eq([l.split()[0] for l in lines[1:]], ["other", "rep"], "the listed locks")
    check(str(tok) in lines[2].split(), "rep's line: %r" % lines[2])
    o = dlock(a, "list", "--json", "re").json()
    eq([(l["name"], l["token"], l["held"]) for l in o["locks"]], [("rep", tok, True)], "list PREFIX --json")
    eq(len(dlock(a, "--json", "list", "--max", "1").json()["locks"]), 1, "list --max 1")
    eq(dlock(a, "list", "nothing").out, "no locks starting with nothing\n", "an empty list")
    r = dlock(a, "release", "rep", tok)
    eq((r.rc, r.out, r.err), (0, "", ""), "release")
    r = dlock(a, "release", "rep", tok)
    eq((r.rc, r.out), (76, ""), "a second release")
    check("rep" in r.err, "message: %r" % r.err)
    o = dlock(a, "--json", "extend", "rep", tok, "--ttl", "5s").json()
    eq((o["ok"], o["exit"], o["error"]), (False, 76, "lost"), "extend after the release")
    o = dlock(a, "--json", "release", "other", other).json()
    eq((o["ok"], o["name"], o["token"]), (True, "other", other), "release --json")
    o = dlock(a, "--json", "status", "rep").json()
    eq((o["held"], o["waiters"]), (False, 0), "status of a free lock")
    dash = int(dlock(a, "acquire", "--ttl", "5s", "--", "-dash").out)
    o = dlock(a, "--json", "status", "--", "-dash").json()
    eq((o["name"], o["held"], o["token"]), ("-dash", True, dash), "a name after '--'")
    check("held:        no" in dlock(a, "status", "rep").out, "status of a free lock")


# ---- shared locks ------------------------------------------------------------------


def stamp_cmd(tag):
    """A CMD that writes its start time, holds 2 s, then writes its end
    time (clock seconds, in files TAG.start and TAG.end)."""
    return ["sh", "-c", 'date +%%s.%%N > %s.start.tmp && mv %s.start.tmp %s.start; sleep 2; '
            'date +%%s.%%N > %s.end' % (tag, tag, tag, tag)]


def test_run_shared_readers_overlap_writer_waits(ctx):
    """Two `dlock run --shared` hold the lock at once (each started before
    the other ended); `dlock status` shows it shared by 2 and `dlock
    holders` lists both dlock processes (host:pid) with a shared hold
    each; an exclusive `dlock run` started meanwhile waits, a later
    `--shared --no-wait` is refused behind it (exit 75), and the exclusive
    CMD starts only after both readers' CMDs ended, with a token above
    theirs."""
    srv = ctx.single()
    a = srv.addr
    readers = [Proc(ctx, a, "run", "--shared", "prices", "--", *stamp_cmd("r%d" % i), tag="r%d" % i)
               for i in range(2)]
    for i in range(2):
        wait_file(ctx, "r%d.start" % i)
    check(read_file(ctx, "r0.end") is None and read_file(ctx, "r1.end") is None,
          "both readers' CMDs run at once")
    o = dlock(a, "--json", "status", "prices").json()
    eq((o["held"], o["mode"], o["holders"], o["holds"]), (True, "shared", 2, 1), "status --json")
    r = dlock(a, "status", "prices")
    check("mode:        shared\n" in r.out and "holders:     2\n" in r.out, "status:\n%s" % r.out)
    o = dlock(a, "--json", "holders", "prices").json()
    hs = o["holders"]
    eq(o["name"], "prices", "holders --json: the name")
    eq(sorted(h["owner"].split(":")[-1] for h in hs), sorted(str(p.pid) for p in readers),
       "the holders' owners are the dlock processes (host:pid)")
    eq([(h["exclusive"], h["shared"]) for h in hs], [(0, 1), (0, 1)], "holds per mode")
    check(hs[0]["session"] < hs[1]["session"] and hs[0]["token"] != hs[1]["token"], "holders: %r" % hs)
    lines = dlock(a, "holders", "prices").out.splitlines()
    eq(lines[0].split(), ["SESSION", "OWNER", "TOKEN", "EXCLUSIVE", "SHARED", "LEASE", "LEFT"], "header")
    eq([l.split()[:5] for l in lines[1:]],
       [[str(h["session"]), h["owner"], str(h["token"]), "0", "1"] for h in hs], "holders' lines")
    writer = Proc(ctx, a, "--json", "run", "prices", "--", "sh", "-c",
                  'date +%s.%N > w.start; echo "$DLOCK_TOKEN" > w.token', tag="w")
    wait_for(lambda: lock_status(a, "prices")["waiters"] == 1, 10, "the writer to queue")
    r = dlock(a, "run", "--shared", "--no-wait", "prices", "--", "true")
    eq(r.rc, 75, "a later reader's try behind the queued writer (stderr %r)" % r.err)
    for p in readers:
        eq(p.wait(), 0, "a reader's exit")
    eq(writer.wait(), 0, "the writer's exit (stderr %r)" % writer.err())
    ends = [float(read_file(ctx, "r%d.end" % i)) for i in range(2)]
    check(float(read_file(ctx, "w.start")) >= max(ends),
          "the writer started at %s, the readers ended at %r" % (read_file(ctx, "w.start"), ends))
    check(int(read_file(ctx, "w.token")) > max(h["token"] for h in hs), "the writer's token")
    eq(Result(0, writer.out(), "").json()["token"], int(read_file(ctx, "w.token")), "run --json's token")
    o = dlock(a, "--json", "status", "prices").json()
    eq((o["held"], o["mode"], o["holders"]), (False, "none", 0), "the lock after all")
    eq(dlock(a, "--json", "holders", "prices").json()["holders"], [], "no holders --json")
    eq(dlock(a, "holders", "prices").out, "no holders: prices is free\n", "no holders")


# ---- semaphores and elections ------------------------------------------------------


def spans(ctx, tags):
    """The (start, end) clock times stamp_cmd wrote for each tag."""
    return [(float(read_file(ctx, t + ".start")), float(read_file(ctx, t + ".end"))) for t in tags]


def test_run_semaphore_1_serializes_2_overlaps(ctx):
    """Two `dlock run --semaphore 1 NAME` started together do not overlap
    (the second CMD starts after the first ended); two `--semaphore 2` of
    another name do (each started before the other ended), and meanwhile
    `dlock sem-status` shows 2 permits used by 2 holders, as text and
    JSON, `dlock holders` lists both dlock processes with a permit each,
    and a third `--semaphore 2 --no-wait` exits 75; a run naming another
    N for a semaphore in use exits 64 (KIND); CMD sees a token."""
    srv = ctx.single()
    a = srv.addr
    ones = [Proc(ctx, a, "run", "--semaphore", "1", "one", "--", *stamp_cmd("o%d" % i), tag="o%d" % i)
            for i in range(2)]
    twos = [Proc(ctx, a, "run", "--semaphore", "2", "two", "--", *stamp_cmd("t%d" % i), tag="t%d" % i)
            for i in range(2)]
    for i in range(2):
        wait_file(ctx, "t%d.start" % i)
    check(read_file(ctx, "t0.end") is None and read_file(ctx, "t1.end") is None,
          "both --semaphore 2 CMDs run at once")
    o = dlock(a, "--json", "sem-status", "two").json()
    eq((o["name"], o["permits"], o["used"], o["available"], o["holders"], o["waiters"]),
       ("two", 2, 2, 0, 2, 0), "sem-status --json")
    r = dlock(a, "sem-status", "two")
    check("permits:     2\n" in r.out and "used:        2\n" in r.out
          and "available:   0\n" in r.out, "sem-status:\n%s" % r.out)
    hs = dlock(a, "--json", "holders", "two").json()["holders"]
    eq(sorted(h["owner"].split(":")[-1] for h in hs), sorted(str(p.pid) for p in twos),
       "the holders are the dlock processes")
    eq([h["shared"] for h in hs], [1, 1], "a permit each")
    r = dlock(a, "run", "--semaphore", "2", "--no-wait", "two", "--", "touch", "ran3")
    eq(r.rc, 75, "a third run's try (stderr %r)" % r.err)
    r = dlock(a, "run", "--semaphore", "3", "--no-wait", "two", "--", "touch", "ran3")
    eq(r.rc, 64, "another N (stderr %r)" % r.err)
    check("semaphore of 2" in r.err, "the message says the semaphore's N: %r" % r.err)
    check(read_file(ctx, "ran3") is None, "CMD of the refused runs never ran")
    for p in ones + twos:
        eq(p.wait(), 0, "%s's exit (stderr %r)" % (p.tag, p.err()))
    (s0, e0), (s1, e1) = sorted(spans(ctx, ["o0", "o1"]))
    check(s1 >= e0, "--semaphore 1: the second started at %.3f, the first ended at %.3f" % (s1, e0))
    (s0, e0), (s1, e1) = sorted(spans(ctx, ["t0", "t1"]))
    check(s1 < e0, "--semaphore 2: the second started at %.3f, the first ended at %.3f" % (s1, e0))
    o = dlock(a, "--json", "sem-status", "two").json()
    eq((o["permits"], o["used"], o["holders"]), (0, 0, 0), "the semaphore after all (forgotten)")


def elect_cmd(tag):
    """A CMD for dlock elect: writes its start time and DLOCK_TOKEN, then
    waits until the file TAG.stop exists, then writes its end time."""
    return ["sh", "-c", 'echo "$DLOCK_TOKEN" > %s.token; date +%%s.%%N > %s.start; '
            'while [ ! -e %s.stop ]; do sleep 0.05; done; date +%%s.%%N > %s.end'
            % (tag, tag, tag, tag)]


def test_elect_runs_one_cmd_at_a_time_and_hands_over(ctx):
    """`dlock elect NAME VALUE -- CMD` run by two instances: the first
    elected runs CMD, the other waits as a candidate without running it;
    `dlock leader` shows the first's session, token (CMD's DLOCK_TOKEN) and
    value, and 1 candidate, as text and JSON; `--no-wait` of a third exits
    75; when the first CMD ends, it resigns and the second is elected at
    once, runs CMD after the first ended, with a greater token and its own
    value; at the end there is no leader."""
    srv = ctx.single()
    a = srv.addr
    r = dlock(a, "leader", "primary")
    eq((r.rc, r.out), (0, "name:        primary\nleader:      none\ncandidates:  0\n"),
       "no leader yet")
    first = Proc(ctx, a, "elect", "primary", "10.0.0.1:5432", "--", *elect_cmd("a"), tag="a")
    wait_file(ctx, "a.start")
    second = Proc(ctx, a, "--json", "elect", "primary", "10.0.0.2:5432", "--", *elect_cmd("b"),
                  tag="b")
    wait_for(lambda: dlock(a, "--json", "leader", "primary").json()["candidates"] == 1, 10,
             "the second candidate to queue")
    check(read_file(ctx, "b.start") is None, "the candidate's CMD does not run")
    o = dlock(a, "--json", "leader", "primary").json()
    tok = int(read_file(ctx, "a.token"))
    eq((o["name"], o["token"], o["value"], o["candidates"]), ("primary", tok, "10.0.0.1:5432", 1),
       "leader --json")
    check(o["leader"] > 0 and o["owner"].split(":")[-1] == str(first.pid) and
          0 < o["lease_left_ms"] <= 15000, "leader --json: %r" % o)
    r = dlock(a, "leader", "primary")
    check(("leader:      session %d (%s)\n" % (o["leader"], o["owner"])) in r.out and
          ("token:       %d\n" % tok) in r.out and "value:       10.0.0.1:5432\n" in r.out,
          "leader:\n%s" % r.out)
    r = dlock(a, "elect", "--no-wait", "primary", "x", "--", "touch", "ran3")
    eq(r.rc, 75, "a third candidate's try (stderr %r)" % r.err)
    check(read_file(ctx, "ran3") is None, "its CMD never ran")
    time.sleep(0.5)
    check(read_file(ctx, "b.start") is None, "the candidate's CMD still does not run")
    open(os.path.join(ctx.dir, "a.stop"), "w").close()
    eq(first.wait(), 0, "the first's exit (stderr %r)" % first.err())
    wait_file(ctx, "b.start")
    check(float(read_file(ctx, "b.start")) >= float(read_file(ctx, "a.end")),
          "the second CMD started after the first ended")
    o = dlock(a, "--json", "leader", "primary").json()
    eq((o["token"], o["value"], o["candidates"]), (int(read_file(ctx, "b.token")), "10.0.0.2:5432", 0),
       "the second leads")
    check(o["token"] > tok, "a greater token")
    open(os.path.join(ctx.dir, "b.stop"), "w").close()
    eq(second.wait(), 0, "the second's exit (stderr %r)" % second.err())
    eq(Result(0, second.out(), "").json()["token"], o["token"], "elect --json's token")
    eq(dlock(a, "--json", "leader", "primary").json()["leader"], 0, "no leader at the end")


def test_revoke_stops_cmd_at_once(ctx):
    """An administrator's LOCK.REVOKE of the lock of `dlock run`, of the
    permit of `dlock run --semaphore`, or of the leadership of `dlock
    elect` stops CMD at once (SIGTERM; the TTL is a minute, so waiting
    for the lease would take most of it): exit 76, and CMD's group is
    gone (before, the run went on until its session ended)."""
    srv = ctx.single()
    a = srv.addr
    c = srv.client()
    cases = [("run", "--ttl", "60s", "job"), ("run", "--ttl", "60s", "--semaphore", "3", "slots"),
             ("elect", "--ttl", "60s", "ops", "10.0.0.1")]
    for i, args in enumerate(cases):
        tag = "r%d" % i
        p = Proc(ctx, a, *args, "--", *elect_cmd(tag), tag=tag)
        wait_file(ctx, tag + ".start")
        name = args[-1] if args[0] == "run" else args[-2]
        eq(c.call("LOCK.REVOKE", name, int(read_file(ctx, tag + ".token"))) > 0, True,
           "revoked %s" % name)
        eq(p.wait(15), 76, "%s: exit status (stderr %r)" % (args[0], p.err()))
        check("the server ended the hold (an administrator's revoke)" in p.err(),
              "%s: stderr %r" % (args[0], p.err()))
        check(read_file(ctx, tag + ".end") is None, "%s: CMD was stopped, not ended" % args[0])


def test_watch_count_and_leader_watch(ctx):
    """`dlock watch NAME --from 0 --count 3` prints a grant, a release and
    the next grant, one line each with their revisions, and exits 0;
    `--json` prints the same as JSON lines until SIGTERM, then exits 0.
    `dlock leader NAME --watch --count 3` prints no leader, then the
    leader that `dlock elect` makes (its session, token and value), then
    no leader when it resigns, and exits 0; SIGINT ends one without
    --count with exit 0."""
    srv = ctx.single()
    a = srv.addr
    w = Proc(ctx, a, "watch", "jobs", "--from", "0", "--count", "3", tag="w")
    wj = Proc(ctx, a, "--json", "watch", "jobs", "--from", "0", tag="wj")
    lw = Proc(ctx, a, "leader", "ops", "--watch", "--count", "3", tag="lw")
    lj = Proc(ctx, a, "--json", "leader", "ops", "--watch", tag="lj")
    wait_for(lambda: lw.out().startswith("0 no leader\n") or lw.out().split(" ")[1:3] == ["no", "leader\n"],
             10, "leader --watch's first line")
    wait_for(lambda: lj.out().strip(), 10, "leader --watch --json's first line")
    t1 = int(dlock(a, "acquire", "jobs", "--ttl", "30s").out)
    eq(dlock(a, "release", "jobs", t1).rc, 0, "release")
    t2 = int(dlock(a, "acquire", "jobs", "--ttl", "30s").out)
    eq(w.wait(), 0, "watch --count 3's exit (stderr %r)" % w.err())
    lines = w.out().splitlines()
    eq(len(lines), 3, "three lines: %r" % lines)
    pat = r"(\d+) (granted|released) session (\d+) token (\d+) exclusive ([01]) shared 0 holders ([01])$"
    got = [re.match(pat, line) for line in lines]
    check(all(got), "the lines: %r" % lines)
    eq([(m.group(2), int(m.group(4)), m.group(5), m.group(6)) for m in got],
       [("granted", t1, "1", "1"), ("released", t1, "0", "0"), ("granted", t2, "1", "1")],
       "events, tokens, holds, holders")
    revs = [int(m.group(1)) for m in got]
    check(revs[0] < revs[1] < revs[2], "revisions in order: %r" % revs)
    wait_for(lambda: len(wj.out().splitlines()) >= 3, 10, "three JSON lines")
    wj.proc.send_signal(signal.SIGTERM)
    eq(wj.wait(), 0, "watch --json's exit on SIGTERM (stderr %r)" % wj.err())
    objs = [json.loads(x) for x in wj.out().splitlines()]
    eq([(o["revision"], o["event"], o["name"], o["token"], o["holders"]) for o in objs],
       [(revs[0], "granted", "jobs", t1, 1), (revs[1], "released", "jobs", t1, 0),
        (revs[2], "granted", "jobs", t2, 1)], "watch --json")
    e = Proc(ctx, a, "elect", "ops", "10.0.0.1:5432", "--", *elect_cmd("e"), tag="e")
    wait_file(ctx, "e.start")
    tok = int(read_file(ctx, "e.token"))
    open(os.path.join(ctx.dir, "e.stop"), "w").close()
    eq(e.wait(), 0, "elect's exit (stderr %r)" % e.err())
    eq(lw.wait(), 0, "leader --watch --count 3's exit (stderr %r)" % lw.err())
    lines = lw.out().splitlines()
    eq(len(lines), 3, "three lines: %r" % lines)
    m = re.match(r"(\d+) leader session (\d+) owner (\S+) token (\d+) value \"10.0.0.1:5432\"$", lines[1])
    check(lines[0].endswith(" no leader") and m and int(m.group(4)) == tok and
          lines[2].endswith(" no leader"), "leader --watch: %r" % lines)
    check(int(lines[2].split()[0]) > int(m.group(1)), "revisions in order: %r" % lines)
    wait_for(lambda: len(lj.out().splitlines()) >= 3, 10, "three JSON lines of leader --watch")
    lj.proc.send_signal(signal.SIGINT)
    eq(lj.wait(), 0, "leader --watch's exit on SIGINT (stderr %r)" % lj.err())
    objs = [json.loads(x) for x in lj.out().splitlines()]
    eq([(o["name"], o["leader"] != 0, o["token"], o["value"]) for o in objs],
       [("ops", False, 0, ""), ("ops", True, tok, "10.0.0.1:5432"), ("ops", False, 0, "")],
       "leader --watch --json")


def test_kinds_refuse_each_other(ctx):
    """A verb of one kind on a name of another exits 64 and says what the
    name is: dlock run and sem-status on an election, dlock leader and
    elect on a semaphore."""
    srv = ctx.single()
    a = srv.addr
    lead = Proc(ctx, a, "elect", "e", "v", "--", "sleep", "30", tag="lead")
    wait_for(lambda: dlock(a, "--json", "leader", "e").json()["leader"] != 0, 10, "a leader")
    sem = Proc(ctx, a, "run", "--semaphore", "2", "s", "--", "sleep", "30", tag="sem")
    wait_for(lambda: dlock(a, "--json", "sem-status", "s").json()["used"] == 1, 10, "a permit")
    for args in (("run", "--no-wait", "e", "--", "true"), ("sem-status", "e"),
                 ("leader", "s"), ("elect", "--no-wait", "s", "v", "--", "true")):
        r = dlock(a, *args)
        eq((r.rc, r.out), (64, ""), "dlock %s (stderr %r)" % (" ".join(args), r.err))
        check("KIND" in r.err or "not a" in r.err or "is a" in r.err, "the message: %r" % r.err)
    lead.kill()
    sem.kill()


def test_status_and_holders_of_an_exclusive_lock(ctx):
    """A lease lock (exclusive) shows mode exclusive and 1 holder in
    `dlock status`, and one holder with an exclusive hold and no owner in
    `dlock holders`; --max bounds the list."""
    srv = ctx.single()
    a = srv.addr
    tok = int(dlock(a, "acquire", "rep", "--ttl", "10s").out)
    r = dlock(a, "status", "rep")
    check("mode:        exclusive\n" in r.out and "holders:     1\n" in r.out, "status:\n%s" % r.out)
    o = dlock(a, "--json", "status", "rep").json()
    eq((o["mode"], o["holders"], o["token"]), ("exclusive", 1, tok), "status --json")
    hs = dlock(a, "--json", "holders", "rep", "--max", "1").json()["holders"]
    eq([(h["token"], h["owner"], h["exclusive"], h["shared"]) for h in hs], [(tok, "", 1, 0)],
       "holders --json")
    check(0 < hs[0]["lease_left_ms"] <= 10000, "lease_left_ms %d" % hs[0]["lease_left_ms"])


def test_cluster_verb(ctx):
    """dlock cluster shows every member with its role, the leader, the term
    and indexes, and health: all ok on a good cluster; a killed member is
    unreachable and the cluster not healthy, and the exit code stays 0."""
    cl = ctx.cluster(3)
    servers = ",".join(cl.addrs())
    leader = cl.wait_leader()
    r = dlock(servers, "cluster")
    eq(r.rc, 0, "exit code (stderr %r)" % r.err)
    check(("leader %d at %s" % (leader.id, leader.addr)) in r.out, "the leader in:\n%s" % r.out)
    rows = [l.split() for l in r.out.splitlines() if l[:1].isdigit()]
    eq(sorted(int(x[0]) for x in rows), [1, 2, 3], "member rows")
    eq(sorted(x[2] for x in rows), ["follower", "follower", "leader"], "roles")
    check(all(x[-1] == "ok" for x in rows), "health:\n%s" % r.out)
    o = dlock(servers, "--json", "cluster").json()
    eq((o["ok"], o["leader"], o["healthy"], len(o["members"])), (True, leader.id, True, 3), "--json")
    check(o["term"] >= 1 and o["commit_index"] >= 1, "term and indexes: %r" % o)
    f = cl.followers(leader)[0]
    f.kill()
    o = dlock(servers, "--json", "cluster").json()
    health = {m["id"]: m["health"] for m in o["members"]}
    eq((o["healthy"], health[f.id]), (False, "unreachable"), "after killing %d" % f.id)
    check(all(h == "ok" for i, h in health.items() if i != f.id), "the others: %r" % health)


def test_usage_errors_exit_64(ctx):
    """Bad usage exits 64 with a message on stderr and nothing on stdout,
    before any server is asked (none runs here)."""
    bad = [
        [], ["bogus"], ["--bogus", "status", "x"], ["run"], ["run", "L"], ["run", "L", "--"],
        ["run", "L", "true"], ["run", "--ttl", "5", "L", "--", "true"],
        ["run", "--ttl", "10x", "L", "--", "true"], ["run", "--ttl", "500ms", "L", "--", "true"],
        ["run", "--kill-grace", "11m", "L", "--", "true"], ["run", "--wait", "L", "--", "true"],
        ["run", "--no-wait=1", "L", "--", "true"], ["run", "--bogus", "L", "--", "true"],
        ["acquire", "L"], ["acquire", "--ttl", "5s"], ["acquire", "L", "x", "--ttl", "5s"],
        ["extend", "L", "abc", "--ttl", "5s"], ["extend", "L", "1"], ["release", "L"],
        ["release", "L", "1", "2"], ["release", "L", "1", "--ttl", "5s"], ["status"],
        ["status", "a", "b"], ["list", "a", "b"], ["list", "--max", "0"], ["cluster", "x"],
        ["status", "L", "--timeout", "0"], ["--servers"], ["status", "L", "--json=yes"],
        ["help", "bogus"], ["run", "--shared=yes", "L", "--", "true"], ["holders"],
        ["holders", "a", "b"], ["holders", "L", "--max", "0"], ["holders", "L", "--bogus"],
        ["run", "--semaphore", "0", "L", "--", "true"], ["run", "--semaphore", "x", "L", "--", "true"],
        ["run", "--semaphore", "1000001", "L", "--", "true"], ["run", "--semaphore", "L", "--", "true"],
        ["run", "--shared", "--semaphore", "2", "L", "--", "true"], ["elect"], ["elect", "E"],
        ["elect", "E", "--", "true"], ["elect", "E", "v", "true"], ["elect", "E", "v", "--"],
        ["elect", "--shared", "E", "v", "--", "true"], ["elect", "--semaphore", "2", "E", "v", "--", "true"],
        ["elect", "E", "v" * 1025, "--", "true"], ["leader"], ["leader", "a", "b"],
        ["leader", "E", "--max", "3"], ["sem-status"], ["sem-status", "a", "b"],
        ["watch"], ["watch", "a", "b"], ["watch", "L", "--count", "0"], ["watch", "L", "--count"],
        ["watch", "L", "--from", "x"], ["watch", "L", "--watch"], ["watch", "L", "--bogus"],
        ["leader", "E", "--watch", "--from", "3"], ["leader", "E", "--watch=1"],
        ["leader", "--watch"], ["leader", "E", "--watch", "--count", "0"],
    ]
    port = dlocktest.free_port()
    for args in bad:
        r = dlock("127.0.0.1:%d" % port, *args)
        eq((r.rc, r.out), (64, ""), "dlock %s (stderr %r)" % (" ".join(args), r.err))
        check(r.err.startswith("dlock") and "--help" in r.err,
              "dlock %s: the message: %r" % (" ".join(args), r.err))


def test_help_every_verb(ctx):
    """--help on every verb (and `dlock help VERB`) prints its usage on
    stdout and exits 0; `dlock --help` names every verb."""
    for v in VERBS:
        for args in ([v, "--help"], ["help", v], [v, "-h"]):
            r = dlock("127.0.0.1:1", *args)
            eq(r.rc, 0, "dlock %s" % " ".join(args))
            check(r.out.startswith("usage: dlock " + v), "dlock %s: %r" % (" ".join(args), r.out[:80]))
    r = dlock("127.0.0.1:1", "--help")
    eq(r.rc, 0, "dlock --help")
    for v in VERBS:
        check("\n  %s " % v in r.out, "dlock --help names %s" % v)
    r = dlock("127.0.0.1:1", "--version")
    check(r.rc == 0 and r.out.startswith("dlock "), "--version: %r" % r.out)


def test_no_server_refused_at_once(ctx):
    """With no server at any address of the list, every verb says at once
    (not after its 10 s timeout) that the connection was refused, naming
    the addresses: exit 69, DLOCK_EREFUSED with --json; CMD does not run. A
    list with one live server among refused ones works."""
    a1 = "127.0.0.1:%d" % dlocktest.free_port()
    a2 = "127.0.0.1:%d" % dlocktest.free_port()
    both = "%s,%s" % (a1, a2)
    for args in (("status", "x"), ("run", "x", "--", "touch", "ran"),
                 ("run", "--semaphore", "2", "x", "--", "touch", "ran"),
                 ("elect", "x", "v", "--", "touch", "ran"), ("leader", "x"), ("sem-status", "x"),
                 ("acquire", "x", "--ttl", "10s"), ("list",), ("cluster",), ("watch", "x"),
                 ("leader", "x", "--watch")):
        t0 = time.monotonic()
        r = dlock(both, *args)
        took = time.monotonic() - t0
        eq(r.rc, 69, "dlock %s: exit code (stderr %r)" % (args[0], r.err))
        check(took < 3, "dlock %s: refused after %.1f s" % (args[0], took))
        check(r.err.startswith("dlock %s:" % args[0]) and "refused the connection" in r.err
              and a1 in r.err and a2 in r.err, "dlock %s: stderr %r" % (args[0], r.err))
    check(not os.path.exists(os.path.join(ctx.dir, "ran")), "CMD never ran")
    o = dlock(a1, "--json", "status", "x").json()
    eq((o["ok"], o["exit"], o["error"], o["code"]), (False, 69, "unavailable", "DLOCK_EREFUSED"),
       "--json")
    check(a1 in o["message"] and "refused" in o["message"], "--json message %r" % o["message"])
    srv = ctx.single()
    r = dlock("%s,%s" % (a1, srv.addr), "--json", "status", "x")
    eq((r.rc, r.json()["held"]), (0, False), "one live server among refused ones")


# ---- the examples --------------------------------------------------------------


def sample_output(readme, command):
    """The lines printed under "$ command" in an indented block of readme."""
    with open(readme) as f:
        lines = f.read().split("\n")
    i = lines.index("    $ " + command) + 1
    out = []
    while i < len(lines) and lines[i].startswith("    ") and not lines[i].startswith("    $ "):
        out.append(lines[i][4:])
        i += 1
    return out


def vary(lines):
    """The lines with what the nightly-job README says varies replaced:
    times, which instance, session numbers and tokens."""
    subs = ((r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", "TIME "), (r"instance-\d", "instance-N"),
            (r"session \d+", "session N"), (r"token \d+", "token N"))
    for pattern, repl in subs:
        lines = [re.sub(pattern, repl, l) for l in lines]
    return lines


def test_nightly_job_prints_its_readme_sample(ctx):
    """examples/nightly-job/README.md's sample output is what demo.sh prints
    on a fresh server: the same lines, in any order of the instances, up to
    the times, instance numbers, session and token the README says vary;
    its numbers are a fresh server's."""
    ex = os.path.join(dlocktest.ROOT, "examples", "nightly-job")
    sample = sample_output(os.path.join(ex, "README.md"), "DLOCK=../../build/dlock ./demo.sh")
    srv = ctx.single()
    env = tool_env(srv.addr)
    env["DLOCK"] = dlock_path()
    r = subprocess.run(["./demo.sh"], cwd=ex, env=env, capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, "demo.sh:\n%s%s" % (r.stdout, r.stderr))
    got = r.stdout.rstrip("\n").split("\n")
    eq(sorted(vary(got)), sorted(vary(sample)), "demo.sh's lines against the README's")
    eq(vary(got)[-3:], vary(sample)[-3:], "the outbox, last")
    tokens = re.findall(r"token (\d+)", " ".join(got))
    eq(tokens, re.findall(r"token (\d+)", " ".join(sample)), "a fresh server's token")
    held = set(re.findall(r"session (\d+)", r.stdout))
    check(len(held) == 1 and 3 <= int(held.pop()) <= 8, "a fresh server's session: %r" % got)


def test_examples_run_as_written(ctx):
    """examples/nightly-job/demo.sh (three instances at once, one sends)
    and examples/fenced-store/demo.sh (a paused holder's late write is
    refused) run against a server and succeed."""
    srv = ctx.single()
    env = tool_env(srv.addr)
    env["DLOCK"] = dlock_path()
    ex = os.path.join(dlocktest.ROOT, "examples")
    r = subprocess.run([os.path.join(ex, "nightly-job", "demo.sh")], env=env, capture_output=True,
                       text=True, timeout=60)
    eq(r.returncode, 0, "nightly-job/demo.sh:\n%s%s" % (r.stdout, r.stderr))
    no_sanitizer_report(r.stderr, "nightly-job/demo.sh")
    eq(r.stdout.count("greetings sent"), 1, "instances that sent:\n%s" % r.stdout)
    eq(r.stdout.count("nothing to do"), 2, "instances that did not:\n%s" % r.stdout)
    env["FENCED_STORE"] = os.path.join(ctx.dir, "fenced-store")
    subprocess.run(["make", "-s", "-C", os.path.join(ex, "fenced-store"), "BIN=" + env["FENCED_STORE"]],
                   check=True, capture_output=True, timeout=60)
    r = subprocess.run([os.path.join(ex, "fenced-store", "demo.sh")], env=env, capture_output=True,
                       text=True, timeout=60)
    eq(r.returncode, 0, "fenced-store/demo.sh:\n%s%s" % (r.stdout, r.stderr))
    no_sanitizer_report(r.stderr, "fenced-store/demo.sh")
    check("STALE (refused)" in r.stdout, "the late write refused:\n%s" % r.stdout)
