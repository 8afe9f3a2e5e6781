"""test_redis_locks.py - Redis lock code against dlock (docs/redis-compat.md):
redis-py's Lock (Debian's python3-redis) unchanged on a server and on a
3-node cluster across a leader kill; the Redis commands and the known
scripts by hand, with Redis's replies; the scripts' SHA1s computed again
from the library installed; anything else refused loudly."""

import hashlib
import os
import shutil
import subprocess

import dlocktest
from dlocktest import RespError, Skip, check, eq

REDIS_PY_LOCK = r"""
import sys, time, redis
from redis.exceptions import LockNotOwnedError
r = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]))
out = []
l = r.lock("job", timeout=5)
out.append(("acquire", l.acquire(blocking=False)))
out.append(("locked", l.locked(), l.owned()))
out.append(("other", r.lock("job", timeout=5).acquire(blocking=False)))
out.append(("extend", l.extend(10), 9000 < r.pttl("job") <= 15000))
out.append(("reacquire", l.reacquire(), 4000 < r.pttl("job") <= 5000))
l.release()
out.append(("released", l.locked()))
try:
    l.release()
    out.append(("again", "released"))
except redis.exceptions.LockError as e:
    out.append(("again", type(e).__name__))
other = r.lock("job", timeout=5)
other.acquire()
stolen = r.lock("job", timeout=5)
stolen.local.token = b"not-the-holder"
try:
    stolen.release()
    out.append(("not owner", "released"))
except LockNotOwnedError:
    out.append(("not owner", "refused"))
other.release()
short = r.lock("job", timeout=1)
short.acquire()
t0 = time.monotonic()
waiter = r.lock("job", timeout=5, blocking_timeout=5)
out.append(("blocking", waiter.acquire(), time.monotonic() - t0 > 0.5))
waiter.release()
with r.lock("ctx", timeout=5) as held:
    out.append(("with", r.get("ctx") == held.local.token))
out.append(("after with", r.get("ctx")))
print(repr(out))
"""


def run_py(exe, script, *args):
    r = subprocess.run([exe, "-c", script] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=60)
    eq(r.returncode, 0, "redis-py script (stderr %r)" % r.stderr)
    return eval(r.stdout)  # noqa: S307 - our own script's repr


def need_redis_py():
    exe = dlocktest.redis_py_python()
    if exe is None:
        raise Skip("redis-py is not installed (python3-redis)")
    return exe


def test_redis_py_lock_unchanged(ctx):
    """redis-py's Lock, as its users write it: try-lock, locked(), owned(),
    extend, reacquire, release, release of a lock not owned, a blocking
    acquire that gets the lock when the holder's TTL ends, a with block."""
    exe = need_redis_py()
    srv = ctx.single()
    host, port = dlocktest.split_addr(srv.addr)
    out = run_py(exe, REDIS_PY_LOCK, host, port)
    eq(out, [("acquire", True), ("locked", True, True), ("other", False),
             ("extend", True, True), ("reacquire", True, True), ("released", False),
             ("again", "LockError"), ("not owner", "refused"), ("blocking", True, True),
             ("with", True),
             ("after with", None)], "redis-py Lock")


def test_redis_commands_by_hand(ctx):
    """SET NX PX, GET, PTTL, EXISTS, PEXPIRE, DEL with Redis's replies; a
    grant takes a fencing token LOCK.STATUS shows, and the value is its
    owner; a SET repeated with the value that holds the lock is OK (a SET
    whose answer was lost); keys that are not locks are refused."""
    c = ctx.single().client()
    eq(c.call("SET", "k", "v1", "NX", "PX", 10000), "OK", "SET NX PX")
    eq(c.call("SET", "k", "v2", "NX", "PX", 10000), None, "held: nil")
    eq(c.call("SET", "k", "v1", "NX", "PX", 10000), "OK", "the holder's value again")
    eq(c.call("GET", "k"), "v1", "GET: the value")
    eq(c.call("GET", "nothing"), None, "GET of a free lock")
    check(9000 < c.call("PTTL", "k") <= 10000, "PTTL")
    eq(c.call("TTL", "k"), 10, "TTL")
    eq(c.call("PTTL", "nothing"), -2, "PTTL of a free lock")
    eq((c.call("EXISTS", "k"), c.call("EXISTS", "nothing")), (1, 0), "EXISTS")
    st = dlocktest.as_map(c.call("LOCK.STATUS", "k"))
    eq((st["owner"], st["token"]), ("v1", 1), "the owner and the fencing token")
    eq(c.call("PEXPIRE", "k", 30000), 1, "PEXPIRE")
    check(29000 < c.call("PTTL", "k") <= 30000, "PTTL after PEXPIRE")
    eq(c.call("EXPIRE", "nothing", 5), 0, "EXPIRE of a free lock")
    eq(c.call("DEL", "k"), 1, "DEL")
    eq(c.call("DEL", "k"), 0, "DEL again")
    eq(c.call("SET", "k", "v3", "NX", "EX", 5), "OK", "free at once after DEL")
    eq(dlocktest.as_map(c.call("LOCK.STATUS", "k"))["token"], 2, "a new token")
    eq(c.call("PEXPIRE", "k", 0), 1, "PEXPIRE 0: deleted, as in Redis")
    eq(c.call("EXISTS", "k"), 0, "free after PEXPIRE 0")
    # A session's hold whose owner has the value's bytes is not the value's.
    sess = c.call("SESSION.OPEN", 10000)
    c.call("LOCK.ACQUIRE", "native", sess, "OWNER", "v9")
    eq(c.call("SET", "native", "v9", "NX", "PX", 10000), None, "a session's lock: nil")
    docs = ('if redis.call("get",KEYS[1]) == ARGV[1] then return '
            'redis.call("del",KEYS[1]) else return 0 end')
    eq(c.call("EVAL", docs, 1, "native", "v9"), 0, "nor released by the value")
    eq(dlocktest.as_map(c.call("LOCK.STATUS", "native"))["session"], sess, "still the session's")
    for args in (["SET", "k", "v"], ["SET", "k", "v", "XX"], ["SET", "k", "v", "PX", 10]):
        v = c.try_call(*args)
        check(isinstance(v, RespError) and "dlock is a lock service" in v.message,
              "%r: %r" % (args, v))
    v = c.try_call("SET", "k", "v", "NX", "PX", 0)
    check(isinstance(v, RespError) and "invalid expire time" in v.message, repr(v))


def test_scripts_known_by_sha_and_text(ctx):
    """The SHA1s of redis-py's scripts, computed from the library installed,
    are known (SCRIPT EXISTS), run by EVALSHA and by EVAL (the text, and
    the text indented otherwise); an unknown SHA1 is NOSCRIPT, an unknown
    text an error that names docs/redis-compat.md, never a success."""
    exe = need_redis_py()
    r = subprocess.run([exe, "-c", "import redis.lock as l, json; print(json.dumps("
                        "[l.Lock.LUA_RELEASE_SCRIPT, l.Lock.LUA_EXTEND_SCRIPT, "
                        "l.Lock.LUA_REACQUIRE_SCRIPT]))"],
                       capture_output=True, text=True, timeout=30)
    eq(r.returncode, 0, r.stderr)
    import json
    release, extend, reacquire = json.loads(r.stdout)
    shas = [hashlib.sha1(t.encode()).hexdigest() for t in (release, extend, reacquire)]
    c = ctx.single().client()
    eq(c.call("SCRIPT", "EXISTS", *shas, "0" * 40), [1, 1, 1, 0], "SCRIPT EXISTS")
    eq(c.call("SCRIPT", "LOAD", release), shas[0], "SCRIPT LOAD")
    eq(c.call("SET", "s", "me", "NX", "PX", 10000), "OK", "SET")
    eq(c.call("EVALSHA", shas[2], 1, "s", "someone", 20000), 0, "reacquire, not owner")
    eq(c.call("EVALSHA", shas[2], 1, "s", "me", 20000), 1, "reacquire")
    check(19000 < c.call("PTTL", "s") <= 20000, "TTL set")
    eq(c.call("EVALSHA", shas[1], 1, "s", "me", 5000, "0"), 1, "extend, adding")
    check(24000 < c.call("PTTL", "s") <= 25000, "TTL added")
    eq(c.call("EVAL", "\n".join("  " + x.strip() for x in release.splitlines()), 1, "s",
              "someone"), 0, "release (indented otherwise), not owner")
    eq(c.call("GET", "s"), "me", "still held")
    eq(c.call("EVAL", release, 1, "s", "me"), 1, "release")
    eq(c.call("EXISTS", "s"), 0, "released")
    # The compare-and-delete of Redis's documentation, copied by hand.
    docs = ('if redis.call("get",KEYS[1]) == ARGV[1]\nthen\n    return '
            'redis.call("del",KEYS[1])\nelse\n    return 0\nend')
    eq(c.call("SET", "d", "me", "NX", "PX", 10000), "OK", "SET d")
    eq(c.call("EVAL", docs, 1, "d", "other"), 0, "the docs' script, not owner")
    eq(c.call("EVAL", docs.replace('"', "'"), 1, "d", "me"), 1, "the docs' script")
    v = c.try_call("EVALSHA", "0" * 40, 1, "s", "me")
    eq(v, RespError("NOSCRIPT No matching script. Please use EVAL."), "unknown SHA1")
    for args in (["EVAL", "return redis.call('del', KEYS[1])", 1, "s"],
                 ["SCRIPT", "LOAD", "return 1"]):
        v = c.try_call(*args)
        check(isinstance(v, RespError) and "docs/redis-compat.md" in v.message, repr(v))
    v = c.try_call("EVAL", release, 0)
    check(isinstance(v, RespError) and "one key" in v.message, repr(v))


LEADER_KILL = r"""
import sys, redis
addr, new_addr, step = sys.argv[1], sys.argv[2], sys.argv[3]
host, port = addr.rsplit(":", 1)
r = redis.Redis(host=host, port=int(port))
l = r.lock("held-across", timeout=30)
if step == "take":
    print(l.acquire(blocking=False), l.local.token.decode())
else:
    l.local.token = sys.argv[4].encode()
    print(l.owned(), l.extend(5), l.locked())
    l.release()
    print(l.locked())
"""


def test_redis_py_lock_survives_a_leader_kill(ctx):
    """On a 3-node cluster, a lock taken by redis-py at the leader is still
    its owner's after the leader is killed: the new leader has it, with its
    token, and the owner extends and releases it there (a client pointed at
    the new leader's address)."""
    exe = need_redis_py()
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    out = subprocess.run([exe, "-c", LEADER_KILL, leader.addr, "", "take"],
                         capture_output=True, text=True, timeout=30)
    eq(out.returncode, 0, out.stderr)
    ok, token = out.stdout.split()
    eq(ok, "True", "acquired")
    st = dlocktest.as_map(leader.call("LOCK.STATUS", "held-across"))
    leader.kill()
    new = cl.wait_leader(among=cl.live(), other_than=leader.id)
    st2 = dlocktest.as_map(new.call("LOCK.STATUS", "held-across"))
    eq((st2["held"], st2["owner"], st2["token"]), (1, token, st["token"]),
       "the lock at the new leader")
    out = subprocess.run([exe, "-c", LEADER_KILL, new.addr, "", "use", token],
                         capture_output=True, text=True, timeout=30)
    eq(out.returncode, 0, out.stderr)
    eq(out.stdout.split(), ["True", "True", "True", "False"], "owned, extended, released")


GO_DIR = os.path.join(dlocktest.ROOT, "tests", "redis-libs", "go")


def redsync_check(ctx):
    """tests/redis-libs/go built (go-redsync and go-redis, pinned by its
    go.sum), or Skip when there is no Go or its modules cannot be had."""
    go = shutil.which("go")
    if go is None:
        raise Skip("no go command (go-redsync's test needs Go)")
    exe = os.path.join(ctx.dir, "redsync-check")
    r = subprocess.run([go, "build", "-mod=readonly", "-o", exe, "."], cwd=GO_DIR,
                       capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, GOFLAGS="-mod=readonly"))
    if r.returncode != 0:
        if "requires go >=" in r.stderr or "requires go>=" in r.stderr:
            raise Skip("go-redsync's modules need a newer Go than this one: %s"
                       % r.stderr.strip().splitlines()[-1])
        if "dial tcp" in r.stderr or "proxy" in r.stderr or "lookup" in r.stderr:
            raise Skip("go-redsync's modules cannot be downloaded here: %s"
                       % r.stderr.strip().splitlines()[-1])
        raise AssertionError("go build: %s" % r.stderr)
    return exe


def run_go(exe, *args):
    r = subprocess.run([exe] + list(args), capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, "redsync-check %s (stderr %r)" % (" ".join(args), r.stderr))
    return [line.split(": ", 1) for line in r.stdout.splitlines()]


def test_go_redsync_unchanged(ctx):
    """go-redsync's Mutex (v4, with go-redis v9), as its users write it:
    Lock, a TryLock that fails while it is held, Extend, Unlock, an Unlock
    again (refused), and a Lock that retries until a short-lived holder's
    TTL ends; then across a leader kill on a 3-node cluster."""
    exe = redsync_check(ctx)
    srv = ctx.single()
    eq(run_go(exe, srv.addr, "all"),
       [["lock", "true"], ["other", "false"], ["extend", "true true"], ["ttl", "true"],
        ["unlock", "true true"], ["unlock again", "false true"], ["short", "true"],
        ["waiter", "true"], ["waiter unlock", "true"]], "go-redsync")


def test_go_redsync_survives_a_leader_kill(ctx):
    exe = redsync_check(ctx)
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    out = dict(run_go(exe, leader.addr, "take", "redsync-held"))
    eq(out["lock"], "true", "locked at the leader")
    token = dlocktest.as_map(leader.call("LOCK.STATUS", "redsync-held"))["token"]
    leader.kill()
    new = cl.wait_leader(among=cl.live(), other_than=leader.id)
    st = dlocktest.as_map(new.call("LOCK.STATUS", "redsync-held"))
    eq((st["held"], st["owner"], st["token"]), (1, out["value"], token),
       "the lock at the new leader")
    eq(run_go(exe, new.addr, "use", "redsync-held", out["value"]),
       [["extend", "true true"], ["unlock", "true true"]], "extended and unlocked there")


def test_the_switch_in_the_doc(ctx):
    """The redis-py snippet of docs/redis-compat.md, and the same in the
    README, as printed but for the port (the test's server), takes and
    releases the lock."""
    srv = ctx.single()
    run_switch(srv, os.path.join("docs", "redis-compat.md"), "## The switch", 2)
    run_switch(srv, "README.md", "## Coming from Redis locks", 2)


def run_switch(srv, path, heading, nth):
    """Runs the code block that is paragraph nth after heading in path."""
    exe = need_redis_py()
    text = open(os.path.join(dlocktest.ROOT, path)).read()
    block = text.split(heading, 1)[1].split("\n\n")[nth]
    code = "\n".join(line[4:] for line in block.splitlines())
    check("redis.Redis(" in code and "r.lock(" in code, "the snippet: %r" % code)
    port = dlocktest.split_addr(srv.addr)[1]
    program = ("import redis\n"
               "def send_greetings():\n"
               "    print(r.get('birthday-mails') is not None)\n" +
               code.replace("7411", str(port)) +
               "\nprint(r.get('birthday-mails'))\n")
    r = subprocess.run([exe, "-c", program], capture_output=True, text=True, timeout=30)
    eq((r.returncode, r.stdout), (0, "True\nNone\n"), "the snippet (stderr %r)" % r.stderr)


FOLLOWER = r"""
import sys, time, redis
host, port = sys.argv[1].rsplit(":", 1)
r = redis.Redis(host=host, port=int(port))
l = r.lock("via-follower", timeout=30)
if sys.argv[2] == "take":
    print(l.acquire(blocking=False), r.get("via-follower") == l.local.token,
          r.pttl("via-follower") > 0, l.local.token.decode())
else:
    l.local.token = sys.argv[3].encode()
    # The connection to the killed leader ends: the first try may be told
    # NOLEADER, as a Redis client is told of a failover; it tries again.
    for attempt in range(50):
        try:
            owned = l.owned()
            break
        except redis.exceptions.ResponseError:
            time.sleep(0.2)
    print(owned, l.extend(5), l.locked())
    l.release()
    print(l.locked())
"""


def test_one_address_across_a_leader_kill(ctx):
    """redis-py given one follower's address: the follower sends its
    requests on to the leader, so the lock is taken, read and, after the
    leader is killed, extended and released through the same address."""
    exe = need_redis_py()
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    follower = [s for s in cl.servers if s.id != leader.id][0]
    out = run_py_lines(exe, FOLLOWER, follower.addr, "take")
    eq(out[:3], ["True", "True", "True"], "taken through a follower")
    token = out[3]
    eq(dlocktest.as_map(leader.call("LOCK.STATUS", "via-follower"))["owner"], token,
       "held at the leader")
    # dlock's own commands are not forwarded: the follower names the leader.
    check(isinstance(follower.client().try_call("LOCK.STATUS", "via-follower"), RespError),
          "LOCK.STATUS at a follower is LEADER")
    leader.kill()
    cl.wait_leader(among=cl.live(), other_than=leader.id)
    out = run_py_lines(exe, FOLLOWER, follower.addr, "use", token)
    eq(out, ["True", "True", "True", "False"], "owned, extended, released")


def run_py_lines(exe, script, *args):
    r = subprocess.run([exe, "-c", script] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=60)
    eq(r.returncode, 0, "redis-py script (stderr %r)" % r.stderr)
    return r.stdout.split()


NODE_DIR = os.path.join(dlocktest.ROOT, "tests", "redis-libs", "node")


def node_check(ctx):
    """tests/redis-libs/node's packages (node-redlock 5 and 4, ioredis,
    node-redis, redis-semaphore, pinned by its package-lock.json), installed
    once into the build directory; or Skip. Returns (node, environment)."""
    return dlocktest.npm_packages(NODE_DIR, "redis-libs-node")


def run_node(check_env, *args):
    node, env = check_env
    r = subprocess.run([node, os.path.join(NODE_DIR, "check.js")] + list(args),
                       capture_output=True, text=True, timeout=120, env=env)
    eq(r.returncode, 0, "check.js %s (stderr %r)" % (" ".join(args), r.stderr))
    return [line.split(": ", 1) for line in r.stdout.splitlines()]


def test_node_libraries_unchanged(ctx):
    """node-redlock 5 and 4 over ioredis (a lock on three keys taken all or
    none: one of its keys held keeps a second lock from taking any; extend;
    release; using() kept alive past its TTL), redis-semaphore's Mutex and
    Semaphore (two permits, each a lease of its holder's, refreshed past
    their timeout; a third waits for a release) and MultiSemaphore (three
    permits at once), and node-redis with the documented
    compare-and-delete; the libraries' script SHA1s as installed are known."""
    env = node_check(ctx)
    srv = ctx.single()
    c = srv.client()
    for name, sha in run_node(env, "-", "shas"):
        eq(c.call("SCRIPT", "EXISTS", sha), [1], "%s (%s) known" % (name, sha))
    eq(run_node(env, srv.addr, "all"),
       [["v5 acquire", "rl/a,rl/b,rl/c"], ["v5 values", "true"],
        ["v5 overlap", "ExecutionError 0"], ["v5 extend", "true true"],
        ["v5 released", "0 0"], ["v5 using", "true"], ["v5 using after", "0"],
        ["v5 busy", "true"],
        ["v4 lock", "true"], ["v4 other", "LockError 0"], ["v4 extend", "true true"],
        ["v4 unlocked", "0 0"],
        ["mutex acquire", "true true"], ["mutex other", "false"],
        ["mutex refreshed", "true true"], ["mutex released", "0"],
        ["mutex other now", "true"],
        ["semaphore two", "true true"], ["semaphore third", "false"],
        ["semaphore refreshed", "true true false"], ["semaphore after release", "true"],
        ["semaphore used", "0"],
        ["multi taken", "true 3"], ["multi no room", "false"], ["multi refreshed", "true"],
        ["multi then", "true"],
        ["node-redis set", "OK"], ["node-redis again", "null"],
        ["node-redis not owner", "0"], ["node-redis release", "1"]], "Node.js libraries")


def test_node_redlock_survives_a_leader_kill(ctx):
    """A node-redlock lock on three keys, taken at the leader of a 3-node
    cluster, is its owner's at the new leader after a kill: one lease-lock
    session holds the three, each with its token; node-redlock extends and
    releases it there."""
    env = node_check(ctx)
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    names = ["order/1", "order/2", "stock/9"]
    out = dict(run_node(env, leader.addr, "take", *names))
    eq(out["acquire"], ",".join(names), "taken at the leader")
    before = [dlocktest.as_map(leader.call("LOCK.STATUS", n)) for n in names]
    eq(len({b["session"] for b in before}), 1, "one session for the three")
    leader.kill()
    new = cl.wait_leader(among=cl.live(), other_than=leader.id)
    for n, b in zip(names, before):
        st = dlocktest.as_map(new.call("LOCK.STATUS", n))
        eq((st["held"], st["owner"], st["token"]), (1, out["value"], b["token"]),
           "%s at the new leader" % n)
    eq(run_node(env, new.addr, "use", out["value"], *names),
       [["extend", ",".join(names)], ["released", "0,0,0"]], "extended and released there")


def test_scripts_with_the_wrong_keys_or_arguments(ctx):
    """A known script sent with other keys or too few arguments is refused
    with a clear error, and changes nothing."""
    c = ctx.single().client()
    release = "c3f8721cbb97f72bc19e972846bd7aaf91901658"      # redis-py Lock release
    sem_acquire = "43ebdb49120d170e08af560cb4e46e36f8585936"  # redis-semaphore Semaphore
    redlock = "96da70f7716f27d278a5218544df37fd8b0a5e4c"      # node-redlock 5 acquire
    for args, words in (([release, 2, "a", "b", "me"], "takes one key and 1 arguments"),
                        ([release, 1, "a"], "takes one key and 1 arguments"),
                        ([sem_acquire, 1, "pool", 2, "id"], "takes one key and 3 arguments"),
                        ([redlock, 0, "v", 5000], "takes 1 to 64 keys")):
        v = c.try_call("EVALSHA", *args)
        check(isinstance(v, RespError) and v.message.startswith("ERR ") and words in v.message,
              "%r: %r" % (args, v))
    eq(c.call("EXISTS", "a"), 0, "nothing taken")
    eq(dlocktest.as_map(c.call("SEM.STATUS", "pool"))["permits"], 0, "no semaphore made")
