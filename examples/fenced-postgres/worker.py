"""worker.py - takes the dlock lock "ledger" and appends entries to a row of
PostgreSQL, each write fenced by the lock's token in the same statement:

    UPDATE ledger SET entries = entries || :'entry'::text, fence = :token
     WHERE id = 1 AND fence <= :token

A holder that lost the lock (paused past its lease, say) and comes back
after a newer holder wrote has a lower token: its UPDATE matches no row,
and the database refuses the write. (<=, not <: a holder writes more than
once with its token.)

    python3 worker.py NAME [--writes N] [--every SECONDS] [--ttl SECONDS]

The lock service is $DLOCK_SERVERS; PostgreSQL is reached with psql and
the usual $PGHOST, $PGPORT, $PGUSER, $PGDATABASE. Prints one line per
step. Exit code 0, or 3 if a write was refused."""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import dlock
except ImportError:  # not installed: the repository's own copy
    sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python", "src"))
    import dlock

WRITE = """UPDATE ledger SET entries = entries || :'entry'::text, fence = :token
 WHERE id = 1 AND fence <= :token;
"""


def fenced_write(token, entry):
    """True if the database took the write, False if it refused it."""
    out = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-v", "token=%d" % token,
                          "-v", "entry=%s" % entry], input=WRITE, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[-2:] == ["UPDATE", "1"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name")
    ap.add_argument("--writes", type=int, default=3)
    ap.add_argument("--every", type=float, default=0.5)
    ap.add_argument("--ttl", type=float, default=2.0)
    args = ap.parse_args()
    client = dlock.Client(session_ttl=args.ttl)
    refused = False
    lock = client.lock("ledger", wait=30)
    lock.acquire()
    print("%s: holds the lock, token %d" % (args.name, lock.token), flush=True)
    for i in range(args.writes):
        if i:
            time.sleep(args.every)
        entry = "%s-%d" % (args.name, i + 1)
        if fenced_write(lock.token, entry):
            print("%s: wrote %s with token %d" % (args.name, entry, lock.token), flush=True)
        else:
            refused = True
            print("%s: write %s with token %d refused by the database (a newer holder "
                  "wrote)" % (args.name, entry, lock.token), flush=True)
    try:
        lock.release()
    except dlock.LockLost:
        print("%s: the lock had been lost" % args.name, flush=True)
    client.close()
    return 3 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
