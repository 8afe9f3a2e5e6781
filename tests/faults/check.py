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
  lease-overlap        a grant completed while an earlier holder of the lock,
                       which had not yet begun to release it, was still
                       within a safe-until deadline it had been given: two
                       holders at once, each with its service's promise
                       (two readers, shared grants of the op "share", may
                       hold together; a writer with anyone may not; the
                       election's leaders, op "lead", are writers)
  permits-exceeded     a permit of the semaphore (op "permit") granted while
                       PERMITS earlier holders of it were still within
                       their safe-until, with no release begun
                       (one that began during a window of a server clock
                       run fast on purpose, fast-clock, is reported apart:
                       the clock-rate assumption was broken there)
  tail-unserved        in the quiet tail of a run (the file "tail": from
                       when the last fault's sessions have ended to the end
                       of the workload), an acquire that was not granted:
                       waiters must be served once the cluster is healthy
and, over the replicated state each server's data gives back (replay.ID,
written by faults-replay):
  replica-invalid      a server's state breaks the state machine's
                       invariants, or its snapshot does not restore
  replica-token-order  a server's log grants a token not above the last
  replica-divergence   two servers disagree on a grant or a release in the
                       part of the log both hold
  grant-lost           a grant acknowledged to a client is missing from the
                       replicated state (in the range a server's log covers)
  release-lost         an acknowledged release is missing likewise
Standard library only.
"""

import collections
import os
import re
import sys

ACQUIRES = ("acquire", "share", "permit", "lead")  # every kind of grant
PERMITS = 2  # of the workload's semaphore (worker.h FAULTS_PERMITS)

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
        if o.op in ACQUIRES and o.outcome == "ok":
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


def read_windows(path):
    """[(t0_ns, t1_ns)] of the fast-clock windows of a run."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) >= 2:
                    out.append((int(p[0]), int(p[1])))
    except OSError:
        pass
    return out


def check_leases(ops, windows, violations):
    """Of two holders of a lock, the later one's grant completed before
    the earlier one's safe-until, with no release begun: lease-overlap.
    Returns the number of overlaps inside fast-clock windows."""
    holds = collections.defaultdict(list)  # lock -> [(grant, safe, release t_inv)]
    current = {}  # worker -> [grant, safe, release t_inv]
    for o in sorted(ops, key=lambda o: o.t_inv):
        if o.op in ACQUIRES and o.outcome == "ok":
            h = [o, o.safe, None]
            holds[o.lock].append(h)
            current[o.worker] = h
        elif o.op in ("write", "release") and o.worker in current:
            h = current[o.worker]
            if h[0].token == o.token:
                h[1] = max(h[1], o.safe)
                if o.op == "release":
                    h[2] = o.t_inv
                    del current[o.worker]
    expected = 0
    for lock, hs in holds.items():
        hs.sort(key=lambda h: h[0].token)
        if hs and hs[0][0].op == "permit":
            expected += check_permits(lock, hs, windows, violations)
            continue
        for i, (a, safe, rel) in enumerate(hs):
            for b, _, _ in hs[i + 1:i + 12]:
                if b.worker == a.worker or b.t_done >= safe * 1000000 or \
                        (a.op == "share" and b.op == "share"):
                    continue
                if rel is not None and rel <= b.t_done:
                    continue
                if any(t0 <= b.t_done <= t1 for t0, t1 in windows):
                    expected += 1
                    continue
                violations.append(("lease-overlap", "%s: token %d granted to worker %d at "
                                   "%.3f s, %.0f ms before the safe-until of token %d "
                                   "(worker %d), not released" % (
                                       lock, b.token, b.worker, b.t_done / 1e9,
                                       safe - b.t_done / 1e6, a.token, a.worker)))
    return expected


def check_permits(lock, hs, windows, violations):
    """A semaphore's grants: at each grant, fewer than PERMITS earlier
    holders (of other workers) may still be within their safe-until with no
    release begun. Returns the number of excesses in fast-clock windows."""
    expected = 0
    for i, (b, _, _) in enumerate(hs):
        at = b.t_done
        holding = [a for a, safe, rel in hs[max(0, i - 24):i]
                   if a.worker != b.worker and at < safe * 1000000 and
                   (rel is None or rel > at)]
        if len(holding) < PERMITS:
            continue
        if any(t0 <= at <= t1 for t0, t1 in windows):
            expected += 1
            continue
        violations.append(("permits-exceeded", "%s: token %d granted to worker %d at %.3f s "
                           "while %d others held permits within their safe-until: %s" % (
                               lock, b.token, b.worker, at / 1e9, len(holding),
                               ", ".join("token %d (worker %d)" % (a.token, a.worker)
                                         for a in holding))))
    return expected


def check_tail(d, ops, violations):
    """Every acquire invoked in the quiet tail and completed was granted."""
    try:
        with open(os.path.join(d, "tail")) as f:
            t0, t1 = (int(x) for x in f.read().split()[:2])
    except (OSError, ValueError):
        return 0
    n = 0
    for o in ops:
        if o.op not in ACQUIRES or not t0 <= o.t_inv <= t1 or o.t_done is None:
            continue
        n += 1
        if o.outcome != "ok":
            violations.append(("tail-unserved", "%s: worker %d's acquire at %.3f s in the quiet "
                               "tail ended %s %s" % (o.lock, o.worker, o.t_inv / 1e9, o.outcome,
                                                    o.detail)))
    return n


def read_replay(path):
    """(base token, base index, end index, [(index, kind, lock, token)],
    problems). Events at the base index are the snapshot's holders."""
    base, base_index, end, events, problems = 0, 0, 0, [], []
    with open(path) as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            if p[0] == "base":
                base_index, base = int(p[1]), int(p[2])
            elif p[0] == "end":
                end = int(p[1])
            elif p[0] in ("held", "free"):
                events.append((int(p[1]), p[0], p[2], int(p[3])))
            elif p[0] == "violation":
                problems.append(line.strip())
    return base, base_index, end, events, problems


def check_replicas(d, ops, violations):
    """The replicated state read back from every server against each other
    and against the acknowledged history. Returns a summary dict."""
    files = sorted(f for f in os.listdir(d) if f.startswith("replay."))
    replicas = {}
    for f in files:
        sid = f.split(".", 1)[1]
        try:
            replicas[sid] = read_replay(os.path.join(d, f))
        except (OSError, ValueError) as e:
            violations.append(("replica-invalid", "%s: unreadable (%s)" % (f, e)))
    for sid, (base, base_index, end, events, problems) in replicas.items():
        for p in problems:
            violations.append(("replica-invalid", "dlockd %s: %s" % (sid, p)))
        # One entry may grant several locks (a tick ending two lock-delays),
        # in any order: each grant's token is above every token of an
        # earlier entry, and the tokens of one entry differ.
        last, top, at, seen = base, base, None, set()
        for idx, kind, lock, token in events:
            if kind != "held" or idx <= base_index:
                continue
            if idx != at:
                last, at, seen = top, idx, set()
            if token <= last or token in seen:
                violations.append(("replica-token-order", "dlockd %s: %s granted token %d "
                                   "at %d, not above %d of an earlier entry or not unique"
                                   % (sid, lock, token, idx, last)))
            seen.add(token)
            top = max(top, token)
    # Agreement over the indexes both logs hold.
    ids = sorted(replicas)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            ea, eb = replicas[a][3], replicas[b][3]
            lo = max(replicas[a][1], replicas[b][1])
            hi = min(replicas[a][2], replicas[b][2])
            # One entry's changes may be printed in any order: compare sorted.
            sa = sorted(e for e in ea if lo < e[0] <= hi)
            sb = sorted(e for e in eb if lo < e[0] <= hi)
            if sa != sb:
                diff = next((x, y) for x, y in zip(sa + [None], sb + [None]) if x != y)
                violations.append(("replica-divergence", "dlockd %s and %s differ in (%d, %d]: "
                                   "%r vs %r" % (a, b, lo, hi, diff[0], diff[1])))
    # The acknowledged history against the server with the most history.
    if not replicas:
        return {}
    sid = min(replicas, key=lambda k: replicas[k][0])
    base, _, _, events, _ = replicas[sid]
    held = {(lock, token) for _, kind, lock, token in events if kind == "held"}
    freed = {(lock, token) for _, kind, lock, token in events if kind == "free"}
    top = max((token for _, kind, _, token in events if kind == "held"), default=base)
    checked = 0
    for o in ops:
        # Only the range of tokens this server's log covers.
        if o.outcome != "ok" or not base < o.token <= top or \
                o.op not in ACQUIRES + ("release",):
            continue
        checked += 1
        if o.op in ACQUIRES and (o.lock, o.token) not in held:
            violations.append(("grant-lost", "%s: token %d acknowledged to worker %d is not in "
                               "dlockd %s's state" % (o.lock, o.token, o.worker, sid)))
        if o.op == "release" and (o.lock, o.token) not in freed:
            violations.append(("release-lost", "%s: the release of token %d acknowledged to "
                               "worker %d is not in dlockd %s's state"
                               % (o.lock, o.token, o.worker, sid)))
    return {"servers read back": len(replicas),
            "replicated grants (server %s, tokens above %d)" % (sid, base):
                sum(1 for e in events if e[1] == "held"),
            "acknowledged grants and releases checked against it": checked}


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
    fast = check_leases(ops, read_windows(os.path.join(d, "fast-clock")), violations)
    replicas = check_replicas(d, ops, violations)
    tail = check_tail(d, ops, violations)
    outcomes = collections.Counter("%s %s" % (o.op, o.outcome) for o in ops)
    summary = {
        "operations": len(ops),
        "outcomes": dict(sorted(outcomes.items())),
        "grants": sum(len(g) for g in grants.values()),
        "writes accepted": sum(len(read_register(p)[0]) for p in logs),
        "stale writes fenced off": stale,
        "writes skipped (safe-until passed)": sum(1 for o in ops if o.outcome == "skip"),
        "lease overlaps under a clock run fast on purpose": fast,
        "acquires in the quiet tail, all to be granted": tail,
        "max token": {l: max(g.token for g in gs) for l, gs in sorted(grants.items())},
    }
    summary.update(replicas)
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
