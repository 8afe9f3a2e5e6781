"""test_auth.py - users, authentication and permissions (docs/security.md):
the users a cluster starts with, AUTH and HELLO's AUTH, what a client may
send before it logs in, failures answered late, permissions by category and
by name with NOPERM and nothing changed, sessions and lease locks that
belong to their user, users that every server agrees on and that survive
restarts and a leader kill, a user named by a client certificate, redis-py
with a password, and a server that refuses to listen off loopback without
TLS and authentication."""

import os
import socket
import subprocess
import time

import dlocktest
from dlocktest import RespError, Skip, check, eq, start_fails, wait_for

# Fast hashes for tests; the default (600,000) is for production.
ITER = ["--password-iterations", "1000"]

USERS = """# name, then its definition (docs/security.md)
admin PASSWORD adminpw ALLOW all ADMIN *
cron PASSWORD cronpw ALLOW sessions,locks,reads ACQUIRE jobs/* READ *
alice PASSWORD alicepw ALLOW sessions,locks,reads ACQUIRE shared/* READ shared/*
bob PASSWORD bobpw ALLOW sessions,locks,reads ACQUIRE shared/* READ shared/*
"""

ADMIN = ("admin", "adminpw")


def users_file(ctx, text=USERS):
    path = os.path.join(ctx.dir, "users")
    with open(path, "w") as f:
        f.write(text)
    return path


def single(ctx, extra=(), **kw):
    """One server with the users of USERS; its clients log in as admin."""
    srv = ctx.server(1, extra=["--users-file", users_file(ctx)] + ITER + list(extra),
                     auth=ADMIN, **kw)
    srv.start()
    return srv.wait_leader()


def login(srv, user, password, **kw):
    c = dlocktest.Client(srv.addr, auth=(user, password), **kw)
    srv.ctx.clients.append(c)
    return c


def anon(srv):
    c = dlocktest.Client(srv.addr, auth=False)
    srv.ctx.clients.append(c)
    return c


def err(v, word):
    check(isinstance(v, RespError) and v.message.startswith(word),
          "expected a %s error, got %r" % (word, v))
    return v.message


def test_bootstrap_and_login(ctx):
    """The users of --users-file are the cluster's first. Before logging in
    a client may PING, HELLO and AUTH, and nothing else (NOAUTH); a wrong
    password is WRONGPASS; AUTH user password, AUTH password (the user
    "default") and HELLO 3 AUTH log in; USER.WHOAMI says who."""
    srv = single(ctx)
    c = anon(srv)
    eq(c.call("PING"), "PONG", "PING before login")
    err(c.try_call("LOCK.STATUS", "jobs/a"), "NOAUTH")
    err(c.try_call("SESSION.OPEN", 10000), "NOAUTH")
    err(c.try_call("CLUSTER.INFO"), "NOAUTH")
    err(c.try_call("USER.WHOAMI"), "NOAUTH")
    err(c.try_call("AUTH", "cron", "wrong"), "WRONGPASS")
    err(c.try_call("AUTH", "nobody", "cronpw"), "WRONGPASS")
    err(c.try_call("AUTH", "cronpw"), "WRONGPASS")  # no user "default"
    eq(c.call("AUTH", "cron", "cronpw"), "OK", "AUTH user password")
    eq(c.call("USER.WHOAMI"), "cron", "WHOAMI")
    eq(c.call("LOCK.STATUS", "jobs/a")[0:2], ["name", "jobs/a"], "a read after login")
    # HELLO 3 AUTH: refused whole when AUTH fails, then logs in.
    h = anon(srv)
    err(h.try_call("HELLO", "3", "AUTH", "alice", "nope", "SETNAME", "x"), "WRONGPASS")
    err(h.try_call("CLIENT", "GETNAME"), "NOAUTH")
    reply = h.call("HELLO", "3", "AUTH", "alice", "alicepw", "SETNAME", "x")
    eq(dlocktest.as_map(reply)["proto"], 3, "HELLO 3 AUTH")
    eq(h.call("USER.WHOAMI"), "alice", "WHOAMI after HELLO AUTH")
    eq(h.call("CLIENT", "GETNAME"), "x", "HELLO's SETNAME")
    # The user "default", when there is one.
    a = login(srv, *ADMIN)
    eq(a.call("USER.SET", "default", "PASSWORD", "dpw", "ALLOW", "reads", "READ", "*"),
       "OK", "USER.SET default")
    d = anon(srv)
    eq(d.call("AUTH", "dpw"), "OK", "AUTH password")
    eq(d.call("USER.WHOAMI"), "default", "the user default")
    info = dlocktest.info_fields(srv)
    eq(info["auth"], "on", "INFO auth")
    check(int(info["auth_failed"]) >= 4, "INFO auth_failed: %r" % info["auth_failed"])
    check(int(info["auth_refused"]) >= 3, "INFO auth_refused: %r" % info["auth_refused"])


def test_before_login_limits(ctx):
    """Before login a request is held to small limits: a large one is a
    protocol error and the connection is closed; a connection that does not
    log in within --request-timeout-ms is answered NOAUTH and closed."""
    srv = single(ctx, extra=["--request-timeout-ms", "600"])
    c = anon(srv)
    c.send("AUTH", "cron", "x" * 5000)
    v = c.read(5)
    check(isinstance(v, RespError), "a 5,000-byte AUTH before login: %r" % (v,))
    c.read_until_closed()
    # After login, the port's own limits.
    ok = login(srv, "cron", "cronpw")
    eq(ok.call("ECHO", "y" * 100000), "y" * 100000, "a large request after login")
    idle = anon(srv)
    t0 = time.monotonic()
    v = idle.read(5)
    err(v, "NOAUTH")
    check("--request-timeout-ms" in v.message, "says why: %r" % v.message)
    check(time.monotonic() - t0 >= 0.3, "not before its time")
    idle.read_until_closed()


def test_failures_are_slowed(ctx):
    """Each failed AUTH from one address is answered later than the one
    before (100 ms, 200 ms, 400 ms...): no password is guessed fast; a
    right password after them still logs in."""
    srv = single(ctx)
    c = anon(srv)
    took = []
    for _ in range(4):
        t0 = time.monotonic()
        err(c.try_call("AUTH", "admin", "guess"), "WRONGPASS")
        took.append(time.monotonic() - t0)
    for i, want in enumerate([0.1, 0.2, 0.4, 0.8]):
        check(took[i] >= want * 0.95, "failure %d answered after %.3f s, before %.1f s"
              % (i + 1, took[i], want))
    # Another connection from the same address is slowed as much.
    t0 = time.monotonic()
    err(anon(srv).try_call("AUTH", "admin", "guess"), "WRONGPASS")
    check(time.monotonic() - t0 >= 1.5, "a new connection is not a fresh start")
    eq(c.call("AUTH", *ADMIN), "OK", "the right password still logs in")


def test_permissions_by_category_and_name(ctx):
    """cron may acquire under jobs/ and read everything, nothing more: each
    refusal is NOPERM and changes nothing, for every kind of name."""
    srv = single(ctx)
    cron = login(srv, "cron", "cronpw")
    admin = login(srv, *ADMIN)
    s = cron.call("SESSION.OPEN", 30000)
    eq(cron.call("LOCK.ACQUIRE", "jobs/nightly", s), 1, "acquire under jobs/")
    for args in (["LOCK.ACQUIRE", "other", s],
                 ["LOCK.ACQUIRE", "jobs", s],
                 ["SEM.ACQUIRE", "slots", s, 2],
                 ["ELECT.CAMPAIGN", "leader", s, "me"],
                 ["LOCK.ACQUIRE", "other", "TTL", 10000],
                 ["LOCK.REVOKE", "jobs/nightly", 1]):
        m = err(cron.try_call(*args), "NOPERM")
        check("cron" in m, "NOPERM names the user: %r" % m)
    for args in (["CLUSTER.ADD", 9, "127.0.0.1:1"], ["CLUSTER.REMOVE", 1],
                 ["CONFIG", "GET", "*"], ["SERVER.TRACE"], ["SERVER.TRACE", "RESET"],
                 ["USER.LIST"], ["USER.SET", "x", "ALLOW", "all"],
                 ["USER.DEL", "admin"]):
        m = err(cron.try_call(*args), "NOPERM")
        check("category" in m, "says the category: %r" % m)
    # Nothing changed: other is free, slots and leader unknown.
    eq(dlocktest.as_map(admin.call("LOCK.STATUS", "other"))["held"], 0, "other is free")
    names = [dlocktest.as_map(x)["name"] for x in admin.call("LOCK.LIST")]
    eq(names, ["jobs/nightly"], "the only name known")
    # Reads: cron reads all; alice only shared/, and LOCK.LIST only there.
    eq(dlocktest.as_map(cron.call("LOCK.STATUS", "anything"))["held"], 0, "cron reads")
    alice = login(srv, "alice", "alicepw")
    err(alice.try_call("LOCK.STATUS", "jobs/nightly"), "NOPERM")
    err(alice.try_call("LOCK.LIST"), "NOPERM")
    err(alice.try_call("LOCK.LIST", "jobs/"), "NOPERM")
    eq(alice.call("LOCK.LIST", "shared/"), [], "LOCK.LIST under shared/")
    err(alice.try_call("WATCH.NEXT", "jobs/nightly", 0), "NOPERM")
    # A script's keys: each must be allowed (node-redlock's acquire over two).
    take = '''
  -- Return 0 if an entry already exists.
  for i, key in ipairs(KEYS) do
    if redis.call("exists", key) == 1 then
      return 0
    end
  end

  -- Create an entry for each provided key.
  for i, key in ipairs(KEYS) do
    redis.call("set", key, ARGV[1], "PX", ARGV[2])
  end

  -- Return the number of entries added.
  return #KEYS
'''
    m = err(cron.try_call("EVAL", take, 2, "jobs/a", "other", "v", 5000), "NOPERM")
    check("'other'" in m, "names the key refused: %r" % m)
    eq(admin.call("EXISTS", "jobs/a"), 0, "nothing taken")
    eq(cron.call("EVAL", take, 2, "jobs/a", "jobs/b", "v", 5000), 2, "both allowed")
    # The admin ends cron's hold.
    eq(admin.call("LOCK.REVOKE", "jobs/nightly", 1), s, "REVOKE by the admin")


def test_sessions_belong_to_their_user(ctx):
    """Another user with the same rights cannot use, renew, read, watch or
    close alice's session, nor release or extend her lease lock by its
    token: NOPERM, and nothing changes."""
    srv = single(ctx)
    alice = login(srv, "alice", "alicepw")
    bob = login(srv, "bob", "bobpw")
    s = alice.call("SESSION.OPEN", 30000)
    eq(alice.call("LOCK.ACQUIRE", "shared/a", s), 1, "alice acquires")
    for args in (["LOCK.ACQUIRE", "shared/b", s], ["LOCK.RELEASE", "shared/a", s],
                 ["SESSION.KEEPALIVE", s], ["SESSION.INFO", s], ["SESSION.CLOSE", s],
                 ["LOCK.ACQUIRE", "shared/c", s, "SHARED"]):
        err(bob.try_call(*args), "NOPERM")
    b3 = login(srv, "bob", "bobpw", proto=3)
    err(b3.try_call("SESSION.WATCH", s), "NOPERM")
    t = alice.call("LOCK.ACQUIRE", "shared/lease", "TTL", 30000)
    err(bob.try_call("LOCK.RELEASE", "shared/lease", "TOKEN", t), "NOPERM")
    err(bob.try_call("LOCK.EXTEND", "shared/lease", t, 60000), "NOPERM")
    st = dlocktest.as_map(alice.call("LOCK.STATUS", "shared/a"))
    eq((st["held"], st["session"]), (1, s), "shared/a still alice's")
    eq(dlocktest.as_map(alice.call("LOCK.STATUS", "shared/b"))["held"], 0, "shared/b free")
    eq(alice.call("SESSION.KEEPALIVE", s) > 0, True, "alice renews hers")
    eq(alice.call("LOCK.RELEASE", "shared/lease", "TOKEN", t), 0, "alice releases hers")
    eq(alice.call("SESSION.CLOSE", s), "OK", "alice closes hers")


def test_user_changes(ctx):
    """USER.SET changes a password (the old one fails), turns a user off
    (its connections are told NOAUTH at their next command), and keeps the
    password when none is given; USER.DEL deletes; USER.GET and USER.LIST
    show users without their passwords' records."""
    srv = single(ctx)
    admin = login(srv, *ADMIN)
    cron = login(srv, "cron", "cronpw")
    eq(admin.call("USER.SET", "cron", "PASSWORD", "new", "ALLOW", "reads", "READ", "*"),
       "OK", "new password")
    err(anon(srv).try_call("AUTH", "cron", "cronpw"), "WRONGPASS")
    eq(anon(srv).call("AUTH", "cron", "new"), "OK", "the new password")
    err(cron.try_call("SESSION.OPEN", 10000), "NOPERM")  # sessions taken away
    eq(admin.call("USER.SET", "cron", "OFF", "ALLOW", "all"), "OK", "OFF")
    err(cron.try_call("LOCK.STATUS", "x"), "NOAUTH")
    err(anon(srv).try_call("AUTH", "cron", "new"), "WRONGPASS")
    eq(admin.call("USER.SET", "cron", "ON", "ALLOW", "reads", "READ", "*"), "OK", "ON again")
    eq(anon(srv).call("AUTH", "cron", "new"), "OK", "the password was kept")
    g = dlocktest.as_map(admin.call("USER.GET", "cron"))
    eq(g, {"name": "cron", "on": 1, "password": 1, "categories": ["reads"],
           "rules": ["read *"]}, "USER.GET")
    eq(admin.call("USER.LIST"), ["admin", "alice", "bob", "cron"], "USER.LIST")
    eq(admin.call("USER.DEL", "cron"), 1, "USER.DEL")
    eq(admin.call("USER.DEL", "cron"), 0, "USER.DEL again")
    err(anon(srv).try_call("AUTH", "cron", "new"), "WRONGPASS")
    for bad in (["USER.SET", "bad name", "ALLOW", "all"],
                ["USER.SET", "x", "ALLOW", "everything"],
                ["USER.SET", "x", "READ"],
                ["USER.SET", "x", "PASSWORD", "a", "NOPASSWORD"]):
        err(admin.try_call(*bad), "ERR")
    eq(admin.call("USER.LIST"), ["admin", "alice", "bob"], "nothing set by the bad ones")


def test_users_replicated_across_restarts_and_leader_kill(ctx):
    """Users live in the replicated state: a user set at the leader logs in
    at every server, after all servers restart, and after the leader is
    killed; the bootstrap applies once, whichever server proposes it."""
    path = users_file(ctx)
    cl = ctx.cluster(3, extra=["--users-file", path] + ITER, auth=ADMIN)
    leader = cl.wait_leader()
    eq(login(leader, *ADMIN).call("USER.SET", "dave", "PASSWORD", "davepw", "ALLOW",
                                  "sessions,locks,reads", "ACQUIRE", "*", "READ", "*"),
       "OK", "USER.SET at the leader")

    def everywhere():
        for s in cl.live():
            with dlocktest.Client(s.addr, auth=("dave", "davepw")) as c:
                if c.call("USER.WHOAMI") != "dave":
                    return False
        return True
    wait_for(everywhere, 15, "dave at every server")
    s = login(leader, "dave", "davepw").call("SESSION.OPEN", 60000)
    for srv in cl.servers:
        srv.term()
    for srv in cl.servers:
        srv.start(wait=False)
    for srv in cl.servers:
        srv.wait_ping()
    leader = cl.wait_leader()
    wait_for(everywhere, 15, "dave at every server after restarts")
    leader.kill()
    new = cl.wait_leader(among=cl.live(), other_than=leader.id)
    d = login(new, "dave", "davepw")
    eq(d.call("LOCK.ACQUIRE", "x", s), 1, "dave's session, at the new leader")
    err(login(new, *ADMIN).try_call("LOCK.RELEASE", "x", s), "NOPERM")
    log = "".join(open(x.log_path).read() for x in cl.servers)
    eq(log.count("set from --users-file or DLOCK_USERS"), 1, "bootstrapped once")


def test_users_from_the_environment(ctx):
    """DLOCK_USERS, lines separated by ';', bootstraps like a file."""
    srv = ctx.server(1, extra=ITER, auth=("ops", "opspw"))
    srv.env["DLOCK_USERS"] = "ops PASSWORD opspw ALLOW all ADMIN *; ro PASSWORD r ALLOW reads"
    srv.start()
    srv.wait_leader()
    eq(srv.call("USER.LIST"), ["ops", "ro"], "users from DLOCK_USERS")
    eq(dlocktest.info_fields(srv)["auth"], "on", "auth on")


def test_bad_users_file(ctx):
    """A users file that does not parse stops the server with the line."""
    bad = users_file(ctx, "admin PASSWORD x ALLOW all\ncron ALLOW sessions,nothing\n")
    out = start_fails(ctx, "bad-users", "--users-file", bad)
    check("users:2" in out and "unknown category 'nothing'" in out, out)
    out = start_fails(ctx, "no-users", "--users-file", os.path.join(ctx.dir, "missing"))
    check("cannot open" in out, out)


def test_auth_yes_without_users_refuses_all(ctx):
    """--auth yes on a cluster without users: every client is refused (no
    user can log in), never served unauthenticated."""
    srv = ctx.server(1, extra=["--auth", "yes"] + ITER)
    srv.start()
    c = anon(srv)
    err(c.try_call("SESSION.OPEN", 10000), "NOAUTH")
    err(c.try_call("AUTH", "admin", "x"), "WRONGPASS")


def test_secure_by_default(ctx):
    """dlockd refuses a client or peer address off loopback unless TLS and
    authentication are configured, or --insecure is given (then it warns
    loudly)."""
    port = dlocktest.free_port()
    out = start_fails(ctx, "open", "--listen", "0.0.0.0:%d" % port, code=2)
    check("not a loopback address" in out and "--insecure" in out, out)
    out = start_fails(ctx, "open-peer", "--listen", "127.0.0.1:%d" % port,
                      "--raft", "0.0.0.0:%d" % dlocktest.free_port(), code=2)
    check("peer address" in out and "not a loopback address" in out, out)
    out = start_fails(ctx, "auth-only", "--listen", "0.0.0.0:%d" % port,
                      "--auth", "yes", "--insecure=no", code=2)
    check("TLS" in out, out)
    srv = ctx.server(1, port=port, host="127.0.0.1",
                     extra=["--listen", "0.0.0.0:%d" % port, "--insecure"])
    srv.start()
    wait_for(lambda: "INSECURE (--insecure)" in open(srv.log_path).read(), 5,
             "the warning")


def test_certificate_names_the_user(ctx):
    """With --tls-cert-user yes, a client whose certificate's name is a
    user's is that user without AUTH."""
    pki = dlocktest.Pki(os.path.join(ctx.dir, "pki"))
    srv = ctx.server(1, extra=["--users-file", users_file(ctx)] + ITER + pki.server_args() +
                     ["--tls-cert-user", "yes"], tls=pki.client_ctx(), auth=False)
    srv.start()
    wait_for(lambda: login(srv, *ADMIN).call("USER.WHOAMI") == "admin", 10, "users")
    c = dlocktest.Client(srv.addr, auth=False)
    ctx.clients.append(c)
    eq(c.call("USER.WHOAMI"), "alice", "alice by her certificate")
    eq(c.call("LOCK.ACQUIRE", "shared/x", "TTL", 10000), 1, "with alice's rights")
    err(c.try_call("LOCK.ACQUIRE", "jobs/x", "TTL", 10000), "NOPERM")


REDIS_PY = r"""
import sys, redis
port = int(sys.argv[1])
try:
    redis.Redis(port=port, username="cron", password="wrong").ping()
    redis.Redis(port=port, username="cron", password="wrong").get("x")
    print("accepted")
except redis.exceptions.RedisError as e:
    print("refused:", type(e).__name__, str(e).split()[0])
r = redis.Redis(port=port, username="cron", password="cronpw", decode_responses=True)
s = r.execute_command("SESSION.OPEN", 10000)
print("token:", r.execute_command("LOCK.ACQUIRE", "jobs/py", s))
try:
    r.execute_command("LOCK.ACQUIRE", "py", s)
except redis.exceptions.RedisError as e:
    print("refused:", type(e).__name__, str(e).split()[0])
"""


def test_redis_py_logs_in(ctx):
    """redis-py with username and password (it sends AUTH as it connects)
    logs in; a wrong password raises its authentication error."""
    exe = dlocktest.redis_py_python()
    if exe is None:
        raise Skip("redis-py is not installed (python3-redis)")
    srv = single(ctx)
    r = subprocess.run([exe, "-c", REDIS_PY, str(srv.port)], capture_output=True,
                       text=True, timeout=30)
    eq(r.returncode, 0, "redis-py script (stderr %r)" % r.stderr)
    lines = r.stdout.splitlines()
    # redis-py 4 and 5 raise AuthenticationError on WRONGPASS; older ones a
    # ResponseError with the server's words.
    check(lines[0].startswith("refused: AuthenticationError") or
          lines[0].startswith("refused: ResponseError WRONGPASS"),
          "wrong password: %r" % lines[0])
    eq(lines[1], "token: 1", "logged in")
    check(lines[2] in ("refused: NoPermissionError user", "refused: ResponseError NOPERM"),
          "NOPERM: %r" % lines[2])


def test_tool_logs_in(ctx):
    """The dlock tool: --user with --password-file or DLOCK_PASSWORD logs
    in; a wrong password or a name outside the rules exits 77 at once
    (error "denied" in --json); a user without a password is a usage
    error."""
    srv = single(ctx)
    pw = os.path.join(ctx.dir, "pw")
    with open(pw, "w") as f:
        f.write("cronpw\n")

    def tool(*args, **env):
        e = dlocktest.tool_env(DLOCK_SERVERS=srv.addr, **env)
        for k in ("DLOCK_USER", "DLOCK_PASSWORD"):
            if k not in env:
                e.pop(k, None)
        return subprocess.run([dlocktest.dlock_path()] + list(args), capture_output=True,
                              text=True, timeout=30, env=e)
    r = tool("--user", "cron", "--password-file", pw, "run", "jobs/a", "--", "echo", "ran")
    eq((r.returncode, r.stdout), (0, "ran\n"), "run with --password-file (%r)" % r.stderr)
    r = tool("run", "jobs/b", "--", "echo", "ran", DLOCK_USER="cron", DLOCK_PASSWORD="cronpw")
    eq((r.returncode, r.stdout), (0, "ran\n"), "run with the environment (%r)" % r.stderr)
    r = tool("run", "other", "--", "echo", "ran", DLOCK_USER="cron", DLOCK_PASSWORD="cronpw")
    eq(r.returncode, 77, "a name outside the rules (%r)" % r.stderr)
    check("DLOCK_EPERM" in r.stderr and r.stdout == "", r.stderr)
    r = tool("--json", "status", "jobs/a", DLOCK_USER="cron", DLOCK_PASSWORD="bad")
    eq(r.returncode, 77, "a wrong password (%r)" % r.stderr)
    check('"error":"denied"' in r.stdout and "DLOCK_EAUTH" in r.stdout, r.stdout)
    r = tool("status", "jobs/a")
    eq(r.returncode, 77, "no login (%r)" % r.stderr)
    check("NOAUTH" in r.stderr, r.stderr)
    r = tool("--user", "cron", "status", "jobs/a")
    eq(r.returncode, 64, "a user without a password (%r)" % r.stderr)
    check("without a password" in r.stderr, r.stderr)


def test_join_logs_in(ctx):
    """A server started with --join on a cluster with users logs in with
    DLOCK_USER and DLOCK_PASSWORD: with a user allowed the cluster category
    it is added; with a wrong password it is not, and its log says why."""
    path = users_file(ctx)
    cl = ctx.cluster(1, extra=["--users-file", path] + ITER, auth=ADMIN)
    leader = cl.wait_leader()
    bad = ctx.server(3, join=leader.addr, extra=ITER, auth=ADMIN)
    bad.env.update(DLOCK_USER="admin", DLOCK_PASSWORD="wrong")
    bad.start()
    wait_for(lambda: "WRONGPASS" in open(bad.log_path).read(), 10, "the refusal in the log")
    check(3 not in [m["id"] for m in leader.info()["members"]], "not added")
    bad.kill()
    s2 = ctx.server(2, join=leader.addr, extra=ITER, auth=ADMIN)
    s2.env.update(DLOCK_USER="admin", DLOCK_PASSWORD="adminpw")
    s2.start()
    wait_for(lambda: 2 in [m["id"] for m in leader.info()["members"]], 15, "server 2 added")
    wait_for(lambda: login(s2, "cron", "cronpw").call("USER.WHOAMI") == "cron", 15,
             "the users at the new server")
