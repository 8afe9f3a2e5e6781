"""test_redis_clients.py - what Redis clients and tools send as they connect
(AUTH, HELLO with AUTH, CLIENT SETINFO, CONFIG GET, INFO with sections), and
what dlockd answers them (docs/protocol.md §6)."""

import shutil
import subprocess

import dlocktest
from dlocktest import RespError, Skip, check, eq

WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
SECTIONS = ["# Server", "# Clients", "# Raft", "# Disk", "# Locks", "# Watches", "# Memory"]


def refusal(v):
    """The message of an error reply that refuses AUTH (fails otherwise)."""
    check(isinstance(v, RespError) and v.message == WRONGPASS,
          "AUTH refused as Redis refuses it: got %r" % (v,))
    return v.message


def test_auth_refused_clearly_and_alike(ctx):
    """On a server without users (authentication off), AUTH, with a user or
    without, and HELLO with AUTH get Redis's refusal of a wrong password: a
    password is never silently accepted. The refused HELLO changes nothing
    (protocol, name), as a HELLO whose AUTH fails in Redis; the connection
    serves on."""
    srv = ctx.single()
    c = srv.client()
    msg = refusal(c.try_call("AUTH", "user", "secret"))
    eq(refusal(c.try_call("AUTH", "secret")), msg, "AUTH password")
    eq(refusal(c.try_call("HELLO", "3", "AUTH", "user", "secret", "SETNAME", "x")),
       msg, "HELLO 3 AUTH")
    eq(refusal(c.try_call("hello", "2", "auth", "default", "")), msg, "hello 2 auth")
    check(isinstance(c.try_call("AUTH"), RespError), "AUTH without arguments is an error")
    eq(c.call("CLIENT", "GETNAME"), None, "the refused HELLO set no name")
    eq(c.call("PING"), "PONG", "the connection serves on")
    # Still RESP2: a map comes as a flat array.
    check(isinstance(c.call("SESSION.INFO", c.call("SESSION.OPEN", 10000)), list),
          "the refused HELLO 3 left the connection on RESP2")
    eq(dlocktest.as_map(c.call("HELLO", "3", "SETNAME", "x"))["proto"], 3,
       "HELLO without AUTH still works")
    eq(c.call("CLIENT", "GETNAME"), "x", "its SETNAME too")
    r = subprocess.run(["redis-cli", "-p", str(srv.port), "--user", "u", "--pass", "p",
                        "--no-auth-warning", "PING"],
                       capture_output=True, text=True, timeout=10)
    check("WRONGPASS" in r.stdout + r.stderr, "redis-cli with a password is told: %r"
          % (r.stdout + r.stderr))


REDIS_PY = r"""
import sys, redis
port = int(sys.argv[1])
try:
    redis.Redis(port=port, username="user", password="secret").ping()
    print("accepted")
except redis.exceptions.RedisError as e:
    print("refused:", str(e).split()[0])
r = redis.Redis(port=port, decode_responses=True)
s = r.execute_command("SESSION.OPEN", 10000)
print("token:", r.execute_command("LOCK.ACQUIRE", "py", s))
"""


def test_redis_py_with_and_without_password(ctx):
    """redis-py given a password that no user has (it sends AUTH user
    password at connect) raises an error; without one, on a server without
    users, it takes a lock."""
    exe = dlocktest.redis_py_python()
    if exe is None:
        raise Skip("redis-py is not installed (python3-redis)")
    srv = ctx.single()
    r = subprocess.run([exe, "-c", REDIS_PY, str(srv.port)], capture_output=True,
                       text=True, timeout=30)
    eq(r.returncode, 0, "redis-py script (stderr %r)" % r.stderr)
    lines = r.stdout.splitlines()
    check(lines[0] in ("refused: WRONGPASS", "refused: invalid"),
          "redis-py with a password: %r" % lines[0])
    eq(lines[1], "token: 1", "redis-py without a password")


def test_client_setinfo(ctx):
    """CLIENT SETINFO LIB-NAME / LIB-VER is accepted as Redis accepts it
    (any case, no blanks in the value); other attributes are refused."""
    c = ctx.single().client()
    eq(c.call("CLIENT", "SETINFO", "lib-name", "redis-py"), "OK", "lib-name")
    eq(c.call("client", "setinfo", "LIB-VER", "5.0.1"), "OK", "LIB-VER")
    eq(c.call("CLIENT", "SETINFO", "lib-name", ""), "OK", "an empty value")
    v = c.try_call("CLIENT", "SETINFO", "lib-ver", "5 0")
    check(isinstance(v, RespError) and "cannot contain spaces" in v.message, "a blank: %r" % v)
    v = c.try_call("CLIENT", "SETINFO", "lib-colour", "red")
    check(isinstance(v, RespError) and "Unrecognized option" in v.message, "attribute: %r" % v)
    check(isinstance(c.try_call("CLIENT", "SETINFO", "lib-name"), RespError), "no value")


def help_options():
    """The option names dlockd --help lists (without --config, --help and
    --reset-term, which are actions rather than settings of a running
    server)."""
    out = subprocess.run([dlocktest.dlockd_path(), "--help"], capture_output=True,
                         text=True, timeout=10).stdout
    names = [l.split()[0][2:] for l in out.splitlines() if l.strip().startswith("--")]
    return [n for n in names if n not in ("config", "help", "reset-term")]


def test_config_get(ctx):
    """CONFIG GET answers glob patterns (any case, several at once) with
    dlockd's settings as it runs and the Redis ones tools read; a pattern
    that matches nothing gets an empty array (RESP2) or map (RESP3); every
    option of --help is there; CONFIG SET is refused; redis-benchmark finds
    what it reads."""
    srv = ctx.single()
    c = srv.client()
    eq(c.call("CONFIG", "GET", "save"), ["save", ""], "save")
    eq(c.call("config", "get", "APPENDONLY"), ["appendonly", "yes"], "appendonly")
    eq(c.call("CONFIG", "GET", "no-such-setting"), [], "unknown")
    got = dlocktest.as_map(c.call("CONFIG", "GET", "listen", "election-*", "raft"))
    eq(got, {"listen": srv.addr, "raft": srv.raft_addr,
             "election-ms": str(dlocktest.ELECTION_MS)}, "several patterns")
    every = dlocktest.as_map(c.call("CONFIG", "GET", "*"))
    for name in help_options():
        check(name in every, "--%s of dlockd --help is not in CONFIG GET * (add it to "
              "settings_of in src/server/infocmd.c): %r" % (name, sorted(every)))
    eq(every["log-level"], "info", "log-level")
    eq(every["data"], srv.data, "data")
    v = c.try_call("CONFIG", "SET", "save", "")
    check(isinstance(v, RespError) and "CONFIG GET and RESETSTAT only" in v.message, "CONFIG SET: %r" % v)
    check(isinstance(c.try_call("CONFIG", "GET"), RespError), "CONFIG GET without a pattern")
    c.hello(3)
    eq(c.call("CONFIG", "GET", "max-clients"), {"max-clients": "10000"}, "RESP3: a map")
    eq(c.call("CONFIG", "GET", "nothing*"), {}, "RESP3: an empty map")
    if shutil.which("redis-benchmark"):
        r = subprocess.run(["redis-benchmark", "-p", str(srv.port), "-n", "20", "-c", "1",
                            "PING"], capture_output=True, text=True, timeout=60)
        out = r.stdout + r.stderr
        check("Could not fetch server CONFIG" not in out, "redis-benchmark warns:\n%s" % out)
        check('host configuration "appendonly": yes' in out, "redis-benchmark:\n%s" % out)


def section_titles(text):
    return [l for l in text.split("\r\n") if l.startswith("# ")]


def test_info_sections(ctx):
    """INFO gives every section; INFO with names gives those sections only
    (any case, in their own order, each once); all, default and everything
    give every one; a name it does not know gives nothing."""
    c = ctx.single().client()
    full = c.call("INFO")
    eq(section_titles(full), SECTIONS, "INFO")
    raft = c.call("INFO", "raft")
    eq(section_titles(raft), ["# Raft"], "INFO raft")
    check(raft.startswith("# Raft\r\nid:1\r\n") and raft.endswith("\r\n"), "INFO raft: %r" % raft)
    eq(section_titles(c.call("INFO", "DISK", "Raft", "raft")), ["# Raft", "# Disk"],
       "INFO DISK Raft raft")
    for word in ("all", "default", "EVERYTHING"):
        eq(section_titles(c.call("INFO", word)), SECTIONS, "INFO %s" % word)
    w = dict(l.split(":", 1) for l in c.call("INFO", "watches").split("\r\n") if ":" in l)
    eq(sorted(w), ["watch_history", "watch_waits", "watch_whole_from", "watches",
                   "watches_ended_slow"], "INFO watches")
    eq(c.call("INFO", "keyspace"), "", "an unknown section")
    eq(section_titles(c.call("INFO", "keyspace", "locks")), ["# Locks"], "unknown and locks")
