"""check - the checker of a fault campaign's run directory (campaign.py
writes it): the worker's history and the fenced registers' logs.

    python3 tests/faults/check.py DIR     checks a kept run again

What it proves (each a kind of violation):
  register-regressed   a register accepted a write with a token lower than
                       one it had accepted for the same key before
  token-order          of two grants of a lock reported ok, the one that
                       completed before the other was invoked has the
                       higher (or an equal) token
  token-duplicate      two grants of one lock reported ok with one token
Standard library only.
"""

import collections
import os
import re
import sys

ACCEPTED = re.compile(r"^accepted token (\d+): (\S+) = (.*)$")
REFUSED = re.compile(r"^refused  token (\d+) \(highest (\d+)\): (\S+) = (.*)$")


class Op:
    __slots__ = ("worker", "op", "lock", "token", "t_inv", "t_done", "outcome", "detail",
                 "server", "safe")

    def __init__(self, worker, op, lock, t_inv):
        self.worker, self.op, self.lock, self.t_inv = worker, op, lock, t_inv
        self.token, self.t_done, self.outcome, self.detail = 0, None, "unknown", ""
        self.server, self.safe = "-", 0


def read_history(path):
    """The operations of the history, each with its invocation and its
    completion; one never completed (the run ended) is unknown."""
    ops, open_op = [], {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 9:
                continue  # a line cut by a kill -9
            t, worker, what, op, lock, token = int(parts[0]), int(parts[1]), parts[2], \
                parts[3], parts[4], int(parts[5])
            server, safe = parts[6], int(parts[7])
            if what == "invoke":
                o = Op(worker, op, lock, t)
                o.token, o.safe = token, safe
                open_op[worker] = o
                ops.append(o)
                continue
            o = open_op.pop(worker, None)
            if o is None or o.op != op:
                continue
            o.t_done, o.outcome, o.detail = t, what, " ".join(parts[8:])
            o.server = server
            if token:
                o.token = token
            if safe:
                o.safe = safe
    return ops


def read_register(path):
    """(accepted [(token, key, value)], refused count) from a register's log."""
    accepted, refused = [], 0
    try:
        with open(path) as f:
            for line in f:
                m = ACCEPTED.match(line.rstrip("\n"))
                if m:
                    accepted.append((int(m.group(1)), m.group(2), m.group(3)))
                elif REFUSED.match(line.rstrip("\n")):
                    refused += 1
    except OSError:
        pass
    return accepted, refused


def check_registers(paths, violations):
    stale = 0
    for path in paths:
        accepted, refused = read_register(path)
        stale += refused
        highest = {}
        for token, key, value in accepted:
            if token < highest.get(key, 0):
                violations.append(("register-regressed", "%s: accepted token %d for %s after %d"
                                   % (os.path.basename(path), token, key, highest[key])))
            highest[key] = max(token, highest.get(key, 0))
    return stale


def check_grants(ops, violations):
    """Tokens of the grants of one lock follow real-time order: a grant
    that completed before another was invoked has a lower token."""
    grants = collections.defaultdict(list)
    for o in ops:
        if o.op == "acquire" and o.outcome == "ok":
            grants[o.lock].append(o)
    for lock, gs in grants.items():
        seen = {}
        for g in gs:
            if g.token in seen:
                violations.append(("token-duplicate", "%s: token %d granted to worker %d and %d"
                                   % (lock, g.token, seen[g.token].worker, g.worker)))
            seen[g.token] = g
        by_done = sorted(gs, key=lambda g: g.t_done)
        best, i = None, 0
        for g in sorted(gs, key=lambda g: g.t_inv):
            while i < len(by_done) and by_done[i].t_done < g.t_inv:
                if best is None or by_done[i].token > best.token:
                    best = by_done[i]
                i += 1
            if best is not None and best.token >= g.token:
                violations.append(("token-order", "%s: token %d (worker %d, invoked %.3f s) after "
                                   "token %d (worker %d, completed %.3f s)"
                                   % (lock, g.token, g.worker, g.t_inv / 1e9, best.token,
                                      best.worker, best.t_done / 1e9)))
    return grants


def check_dir(d):
    """(summary dict, violations [(kind, text)]) of a run directory."""
    violations = []
    ops = []
    for f in sorted(os.listdir(d)):
        if f.startswith("history"):
            ops += read_history(os.path.join(d, f))
    stores = os.path.join(d, "stores")
    logs = sorted(os.path.join(stores, f) for f in os.listdir(stores) if f.endswith(".log"))
    stale = check_registers(logs, violations)
    grants = check_grants(ops, violations)
    outcomes = collections.Counter("%s %s" % (o.op, o.outcome) for o in ops)
    summary = {
        "operations": len(ops),
        "outcomes": dict(sorted(outcomes.items())),
        "grants": sum(len(g) for g in grants.values()),
        "writes accepted": sum(len(read_register(p)[0]) for p in logs),
        "stale writes fenced off": stale,
        "max token": {l: max(g.token for g in gs) for l, gs in sorted(grants.items())},
    }
    return summary, violations


def print_report(summary, violations):
    for k, v in summary.items():
        print("%s: %s" % (k, v))
    kinds = collections.Counter(k for k, _ in violations)
    print("violations by kind: %s" % (dict(kinds) or "none"))
    for k, text in violations[:50]:
        print("  VIOLATION %s: %s" % (k, text))


def main():
    if len(sys.argv) != 2:
        print("usage: check.py RUN_DIR", file=sys.stderr)
        return 2
    summary, violations = check_dir(sys.argv[1])
    print_report(summary, violations)
    print("violations: %d" % len(violations))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
