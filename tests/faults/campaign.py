"""campaign - a fault campaign on real processes (issue 5, first slice).

    make faults [DURATION=180] [SEED=N]
    python3 tests/faults/campaign.py --duration S [--seed N] [--build DIR]

Starts a fenced register per lock (examples/fenced-store, its own process),
a 3-node dlockd cluster (tests/system/dlocktest.py) and the workload driver
(build/faults-worker, two processes), then a nemesis whose schedule is drawn from the seed:
kill -9 and restart of the leader, of a follower, of a majority, of every
node; SIGSTOP/SIGCONT of the leader and of the driver for longer than the
session TTL. Every fault heals before the quiet tail of the run. Then the
driver stops, every lock must become available to a fresh client within
TTL + lock-delay + election + margin, and check.py checks the history and
the registers. Every process started here is stopped by its pid at the end,
on failure too. The last line is "violations: N"; the exit code is 1 on any.
Standard library only.
"""

import argparse
import collections
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "system"))
sys.path.insert(0, HERE)

import check  # noqa: E402
import dlocktest  # noqa: E402

KINDS = ("kill-leader", "kill-follower", "kill-majority", "kill-all",
         "pause-leader", "pause-driver")
LOCK_DELAY_MS = 300  # the driver's delay_ms


class Run:
    def __init__(self, args, d):
        self.args = args
        self.dir = d
        self.ctx = dlocktest.Context("faults", d)
        self.cluster = None
        self.stores = []
        self.drivers = []
        self.paused = set()  # servers stopped with SIGSTOP
        self.faults = collections.Counter()
        self.fault_log = open(os.path.join(d, "faults"), "w")
        self.problems = []

    def note(self, text):
        line = "%.3f %s" % (time.monotonic(), text)
        self.fault_log.write(line + "\n")
        self.fault_log.flush()
        if self.args.verbose:
            print(line, flush=True)

    # -- processes
    def spawn(self, argv, log):
        with open(log, "ab") as f:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                 preexec_fn=dlocktest._die_with_parent)
        dlocktest._all_procs[p.pid] = p
        return p

    def start_stores(self):
        sd = os.path.join(self.dir, "stores")
        os.makedirs(sd)
        for i in range(self.args.locks):
            sock = os.path.join(sd, "l%d.sock" % i)
            self.stores.append(self.spawn([os.path.join(self.args.build, "faults-fenced-store"),
                                           "serve", sock], os.path.join(sd, "l%d.log" % i)))
            dlocktest.wait_for(lambda: os.path.exists(sock), 5, "register %d" % i)

    def start_drivers(self):
        """Two driver processes, each with half the workers: a paused one
        outlives its leases while the other takes the locks over."""
        per = max(1, self.args.workers // 2)
        for i in range(2):
            self.drivers.append(self.spawn([
                os.path.join(self.args.build, "faults-worker"),
                "--servers", ",".join(self.cluster.addrs()),
                "--stores", os.path.join(self.dir, "stores"),
                "--history", os.path.join(self.dir, "history.%d" % i),
                "--workers", str(per), "--first-id", str(i * per),
                "--locks", str(self.args.locks),
                "--ttl-ms", str(self.args.ttl_ms)], os.path.join(self.dir, "driver%d.log" % i)))

    def stop_proc(self, p, what, grace=8.0):
        """SIGCONT, SIGTERM, then SIGKILL after grace seconds, by pid."""
        if p is None or p.poll() is not None:
            return
        for sig in (signal.SIGCONT, signal.SIGTERM):
            try:
                os.kill(p.pid, sig)
            except OSError:
                pass
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            self.problems.append("%s (pid %d) did not stop on SIGTERM in %.0f s; killed"
                                 % (what, p.pid, grace))
            os.kill(p.pid, signal.SIGKILL)
            p.wait(5)
        dlocktest._all_procs.pop(p.pid, None)

    # -- the nemesis
    def leader(self):
        """The leader the unpaused live servers agree on, or None in 5 s."""
        among = [s for s in self.cluster.live() if s.id not in self.paused]
        try:
            return self.cluster.wait_leader(among=among, timeout=5.0)
        except dlocktest.TestFailure:
            return None

    def restart(self, servers):
        for s in servers:
            s.start(wait=False)
        for s in servers:
            s.wait_ping()

    def fault(self, kind, rng):
        """Injects one fault and heals it. Every draw from rng happens
        whatever the cluster's state, so a seed replays the same schedule."""
        down = rng.uniform(0.3, 3.0)
        pause = self.args.ttl_ms / 1000.0 + rng.uniform(0.3, 2.0)
        pick = rng.random()
        majority = rng.sample(self.cluster.servers, 2)
        servers = self.cluster.servers
        if kind in ("kill-leader", "kill-follower", "pause-leader"):
            leader = self.leader()
            if leader is None:
                self.note("%s: no leader agreed on; a random server instead" % kind)
                leader = servers[int(pick * len(servers))]
            target = leader
            if kind == "kill-follower":
                others = [s for s in servers if s.id != leader.id]
                target = others[int(pick * len(others))]
            if kind == "pause-leader":
                self.note("%s: SIGSTOP dlockd %d for %.2f s" % (kind, target.id, pause))
                target.pause()
                self.paused.add(target.id)
                time.sleep(pause)
                target.resume()
                self.paused.discard(target.id)
            else:
                self.note("%s: kill -9 dlockd %d, down %.2f s" % (kind, target.id, down))
                target.kill()
                time.sleep(down)
                self.restart([target])
        elif kind in ("kill-majority", "kill-all"):
            targets = majority if kind == "kill-majority" else servers
            self.note("%s: kill -9 dlockd %s, down %.2f s"
                      % (kind, ",".join(str(s.id) for s in targets), down))
            for s in targets:
                s.kill()
            time.sleep(down)
            self.restart(targets)
        elif kind == "pause-driver":
            driver = self.drivers[int(pick * len(self.drivers))]
            self.note("%s: SIGSTOP driver pid %d for %.2f s" % (kind, driver.pid, pause))
            os.kill(driver.pid, signal.SIGSTOP)
            time.sleep(pause)
            os.kill(driver.pid, signal.SIGCONT)
        self.faults[kind] += 1
        self.note("%s: healed" % kind)

    def heal(self):
        """Undoes whatever fault is still in place (after an exception)."""
        for s in self.cluster.servers if self.cluster else []:
            try:
                if s.alive():
                    s.resume()
                else:
                    s.start(wait=False)
            except Exception as e:
                self.problems.append("healing dlockd %d: %r" % (s.id, e))
        self.paused.clear()
        for p in self.drivers:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)

    def nemesis(self, rng, until):
        while True:
            gap = rng.uniform(0.5, 2.5)
            kind = rng.choice(KINDS)
            if time.monotonic() + gap + 6.0 > until:
                return
            time.sleep(gap)
            self.fault(kind, rng)
            ended = [p for p in self.drivers if p.poll() is not None]
            if ended:
                self.problems.append("a driver exited during the run (code %d)"
                                     % ended[0].returncode)
                return

    # -- availability after the last fault
    def availability(self, since, violations):
        """Each lock, acquired by a fresh client, within the budget counted
        from since (when driver 0 was killed with kill -9, after the last
        fault healed)."""
        budget = (self.args.ttl_ms + LOCK_DELAY_MS + dlocktest.ELECTION_MS) / 1000.0 \
            + self.args.margin
        dlock = os.path.abspath(os.environ.get("DLOCK", os.path.join(self.args.build, "dlock")))
        servers = ",".join(self.cluster.addrs())
        worst = 0.0
        for i in range(self.args.locks):
            left = since + budget - time.monotonic()
            name = "l%d" % i
            r = None
            if left > 0:
                try:
                    r = subprocess.run([dlock, "acquire", name, "--ttl", "5s",
                                        "--wait", "%dms" % int(left * 1000), "--timeout",
                                        "%dms" % max(1000, int(left * 1000)),
                                        "--servers", servers],
                                       capture_output=True, text=True, timeout=left + 10)
                except subprocess.TimeoutExpired:
                    r = None
            took = time.monotonic() - since
            if r is None or r.returncode != 0 or took > budget + 0.5:
                violations.append(("unavailable", "%s not acquired within %.1f s of the end "
                                   "(%s)" % (name, budget, r and (r.stderr or "").strip())))
                continue
            worst = max(worst, took)
            token = int(r.stdout.strip())
            subprocess.run([dlock, "release", name, str(token), "--servers", servers],
                           capture_output=True, timeout=15)
            self.avail_tokens[name] = token
        return budget, worst


def run(args):
    d = tempfile.mkdtemp(prefix="dlock-faults-")
    r = Run(args, d)
    r.avail_tokens = {}
    rng = random.Random(args.seed)
    violations = []
    t0 = time.monotonic()
    healed_at = None
    try:
        r.start_stores()
        r.cluster = r.ctx.cluster(3)
        r.start_drivers()
        r.note("start: seed %d, duration %d s" % (args.seed, args.duration))
        try:
            r.nemesis(rng, t0 + args.duration)
        finally:
            r.heal()
        healed_at = time.monotonic()
        r.note("all faults healed")
        for s in r.cluster.servers:
            s.wait_ping()
        # The quiet tail: the workload runs on a healthy cluster.
        time.sleep(max(0.0, t0 + args.duration - time.monotonic()))
        # Driver 0 crashes (kill -9): its locks are freed only when its
        # sessions expire. Driver 1 stops gracefully and releases.
        os.kill(r.drivers[0].pid, signal.SIGKILL)
        killed_at = time.monotonic()
        r.drivers[0].wait(5)
        r.note("driver 0 killed (kill -9)")
        for p in r.drivers:
            r.stop_proc(p, "a driver")
        budget, worst = r.availability(killed_at, violations)
    except Exception as e:
        violations.append(("campaign-error", "%s: %s" % (type(e).__name__, e)))
        budget, worst = 0, 0
    finally:
        r.heal()
        for p in r.drivers:
            r.stop_proc(p, "a driver")
        for i, p in enumerate(r.stores):
            r.stop_proc(p, "register %d" % i)
        problems = r.ctx.finish()
        r.fault_log.close()
    for p in problems + r.problems:
        violations.append(("process", p))
    summary, checked = check.check_dir(d)
    violations += checked
    for lock, token in r.avail_tokens.items():
        top = summary["max token"].get(lock, 0)
        if token <= top:
            violations.append(("token-order", "%s: the fresh client's token %d is not above "
                               "the workload's highest %d" % (lock, token, top)))
    print("faults by kind: %s" % (dict(r.faults) or "none"))
    check.print_report(summary, violations)
    if healed_at is not None:
        print("availability: every lock acquired by %.2f s after the kill -9 of a driver "
              "(budget %.1f s)"
              % (worst, budget))
    keep = violations or args.keep
    print("run directory: %s%s" % (d, "" if keep else " (removed)"))
    if violations:
        print("FAILED with seed %d; replay the schedule with: make faults DURATION=%d SEED=%d"
              % (args.seed, args.duration, args.seed))
    print("violations: %d" % len(violations))
    if not keep:
        shutil.rmtree(d, ignore_errors=True)
    return 1 if violations else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=180)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--build", default="build")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--locks", type=int, default=3)
    ap.add_argument("--ttl-ms", type=int, default=1500)
    ap.add_argument("--margin", type=float, default=5.0,
                    help="seconds added to TTL + lock-delay + election for availability")
    ap.add_argument("--keep", action="store_true", help="keep the run directory")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each fault")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1 << 31)
    args.build = os.path.abspath(args.build)
    print("seed: %d (replay: make faults DURATION=%d SEED=%d)"
          % (args.seed, args.duration, args.seed), flush=True)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
