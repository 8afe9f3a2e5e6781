"""test_trace.py - SERVER.TRACE (docs/protocol.md; docs/operations.md,
"Where a request's time goes"): on 3 servers the leader traces each client
write from its read to its reply and each follower the leader's appends to
its acknowledgement; the steps add up to the totals; a pause of both
followers shows as the time the leader waited for an acknowledgement;
RESET starts over; bad arguments are refused."""

import json
import threading
import time

import dlocktest
from dlocktest import check, eq

WRITE_STAMPS = ["woke", "read", "proposed", "write", "synced", "acked", "committed",
                "applied", "replied"]
APPEND_STAMPS = ["woke", "received", "write", "synced", "acked"]


def trace(server):
    return json.loads(server.call("SERVER.TRACE"))


def check_part(part, stamps, what):
    """A tracer's document: its stamps, quantiles whose bands grow, and
    slowest records whose steps fit in their totals, largest first."""
    eq(part["stamps"], stamps, what + ": stamps")
    qs = part["quantiles"]
    eq([q["q"] for q in qs], [0.5, 0.9, 0.99, 0.999, 1.0], what + ": quantiles")
    for a, b in zip(qs, qs[1:]):
        check(a["total_lo_us"] <= b["total_lo_us"], "%s: bands grow: %r" % (what, qs))
    for q in qs:
        eq(sorted(q["steps_us"]), sorted(stamps[1:]), what + ": steps")
        check(sum(q["steps_us"].values()) < q["total_hi_us"] + 10,
              "%s: a band's mean steps fit in it: %r" % (what, q))
    slow = part["slowest"]
    check(0 < len(slow) <= 16, what + ": slowest kept")
    for r in slow:
        total = sum(r["steps_us"].values())
        check(r["total_us"] - len(stamps) <= total <= r["total_us"],
              "%s: steps add up to the total: %r" % (what, r))
        check(r["index"] > 0 and r["batch"] >= 1, "%s: index and batch: %r" % (what, r))
    totals = [r["total_us"] for r in slow]
    eq(totals, sorted(totals, reverse=True), what + ": largest first")
    eq(part["max_step_us"].keys(), set(stamps[1:]), what + ": max steps")


def test_trace_writes_and_appends(ctx):
    """Writes on the leader and appends on the followers are traced, with
    every step; a follower traces no write; RESET empties; arguments."""
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    for s in cl.servers:
        eq(s.call("SERVER.TRACE", "RESET"), "OK")
        eq(trace(s)["writes"]["count"], 0, "reset")
    c = leader.client()
    sess = c.call("SESSION.OPEN", 60000)
    for i in range(50):
        c.call("LOCK.ACQUIRE", "trace-%d" % i, sess)
        c.call("LOCK.RELEASE", "trace-%d" % i, sess)
    doc = trace(leader)
    eq(doc["leader"], True)
    w = doc["writes"]
    eq(w["count"], 101, "the session and 100 writes, each once")
    check_part(w, WRITE_STAMPS, "leader writes")
    check({r["command"] for r in w["slowest"]} <= {"open", "acquire", "release"},
          "commands named: %r" % w["slowest"])
    check(w["max_step_us"]["synced"] > 0, "the leader's log writes timed")
    followers = [s for s in cl.servers if s is not leader]
    for f in followers:
        d = trace(f)
        eq(d["leader"], False)
        eq(d["writes"]["count"], 0, "a follower proposes nothing")
        check(d["appends"]["count"] >= 1, "appends traced on a follower: %r" % d["appends"])
        check_part(d["appends"], APPEND_STAMPS, "follower appends")
    eq(leader.call("SERVER.TRACE", "RESET"), "OK")
    eq(trace(leader)["writes"]["count"], 0, "RESET empties the leader's")
    eq(trace(leader)["writes"]["slowest"], [], "and its slowest")
    for bad in (["SERVER.TRACE", "NOW"], ["SERVER.TRACE", "RESET", "x"]):
        e = c.try_call(*bad)
        check(isinstance(e, dlocktest.RespError) and str(e).startswith("ERR"), repr(e))


def test_trace_names_the_step_that_waited(ctx):
    """Both followers stopped for 0.4 s while a write waits: the leader's
    trace of that write puts the time in `acked` (a follower's
    acknowledgement), not in its own disk or loop. (Elections take 2 s
    here, so that the leader keeps its place meanwhile.)"""
    cl = ctx.cluster(3, election_ms=2000, heartbeat_ms=100)
    leader = cl.wait_leader()
    followers = [s for s in cl.servers if s is not leader]
    c = leader.client()
    sess = c.call("SESSION.OPEN", 60000)
    c.call("LOCK.ACQUIRE", "warm", sess)
    for s in cl.servers:
        s.call("SERVER.TRACE", "RESET")
    for f in followers:
        f.pause()
    done = {}

    def acquire():
        done["token"] = c.call("LOCK.ACQUIRE", "paused", sess, timeout=30)
    t = threading.Thread(target=acquire)
    t.start()
    time.sleep(0.4)
    for f in followers:
        f.resume()
    t.join(30)
    check(done.get("token", 0) > 0, "the acquire completed once a follower was back")
    w = trace(leader)["writes"]
    slow = w["slowest"][0]
    eq(slow["command"], "acquire", "the slowest write is the paused one: %r" % slow)
    check(slow["total_us"] >= 350000, "it took the pause: %r" % slow)
    check(slow["steps_us"]["acked"] >= 300000,
          "the pause is in acked, a follower's acknowledgement: %r" % slow)
    for k in ("read", "proposed", "write", "synced", "applied", "replied"):
        check(slow["steps_us"][k] < 100000, "not in %s: %r" % (k, slow))
    check(w["max_step_us"]["acked"] >= 300000, "max_step_us shows it")
