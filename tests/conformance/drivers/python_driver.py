"""The Python client's conformance driver (tests/conformance/README.md):
each command on a thread of its own, answers in any order."""

import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "clients", "python", "src"))

import dlock  # noqa: E402

out_mu = threading.Lock()
state = {"client": None, "session": None, "locks": {}}

CODES = {dlock.LockHeld: "HELD", dlock.WaitTimeout: "TIMEOUT", dlock.LockLost: "LOST",
         dlock.NoSession: "NOSESSION", dlock.Unavailable: "UNAVAILABLE"}


def say(line):
    with out_mu:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def code_of(e):
    for cls, code in CODES.items():
        if isinstance(e, cls):
            return code
    return getattr(e, "code", type(e).__name__)


def run(tag, verb, args):
    try:
        if verb == "open":
            c = dlock.Client(args[0], timeout=10.0)
            state["client"] = c
            state["session"] = c.session(ttl=int(args[1]) / 1000.0)
            say("%s ok %d" % (tag, state["session"].id))
        elif verb == "acquire":
            name, wait = args[0], int(args[1]) / 1000.0
            lock = state["session"].lock(name, wait=wait or None)
            lock.acquire()
            lock.on_lost(lambda h: say("event lost %s" % h.name))
            state["locks"][name] = lock
            say("%s ok %d" % (tag, lock.token))
        elif verb == "release":
            state["locks"].pop(args[0]).release()
            say("%s ok" % tag)
        elif verb == "safe":
            lock = state["locks"][args[0]]
            left = max(0.0, lock.safe_until - time.monotonic()) if lock.safe_until else 0
            say("%s ok %d" % (tag, int(left * 1000)))
        elif verb == "lost":
            say("%s ok %d" % (tag, 1 if state["locks"][args[0]].lost else 0))
        elif verb == "close":
            state["session"].close()
            state["client"].close()
            say("%s ok" % tag)
        else:
            say("%s err UNKNOWN" % tag)
    except Exception as e:  # noqa: BLE001 - every failure is an answer
        say("%s err %s" % (tag, code_of(e)))


def main():
    for line in sys.stdin:
        words = line.split()
        if len(words) < 2:
            continue
        threading.Thread(target=run, args=(words[0], words[1], words[2:]), daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
