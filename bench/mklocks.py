#!/usr/bin/python3
"""mklocks.py - RESP commands that fill a fresh dlockd with held locks, for
`redis-cli --pipe` (bench/locks.sh measures memory and restart time with it).

  mklocks.py sessions SESSIONS       SESSION.OPEN commands (TTL one hour)
  mklocks.py locks N SESSIONS FIRST  N LOCK.ACQUIREs spread over SESSIONS
                                     sessions whose ids start at FIRST
  mklocks.py lease N                 N lease locks (each its own session)
"""
import sys

from rawresp import cmd


def main():
    out = sys.stdout.buffer
    what = sys.argv[1]
    if what == "sessions":
        for _ in range(int(sys.argv[2])):
            out.write(cmd("SESSION.OPEN", 3600000))
    elif what == "locks":
        n, sessions, first = (int(x) for x in sys.argv[2:5])
        for i in range(n):
            out.write(cmd("LOCK.ACQUIRE", "lock:%08d" % i, first + i % sessions))
    elif what == "lease":
        for i in range(int(sys.argv[2])):
            out.write(cmd("LOCK.ACQUIRE", "lease:%08d" % i, "TTL", 3600000))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
