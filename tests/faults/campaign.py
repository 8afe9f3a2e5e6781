"""campaign - a fault campaign on real processes (issue 5, first slice).

    make faults [DURATION=180] [SEED=N] [FAULTS_ARGS="--tls --auth"]
    python3 tests/faults/campaign.py --duration S [--seed N] [--build DIR] [--tls] [--auth]

Starts a fenced register per lock (examples/fenced-store, its own process),
a dlockd cluster of 3 or 5 servers (tests/system/dlocktest.py), each on a
loopback address of its own, and the workload driver (build/faults-worker,
two processes), then a nemesis whose schedule is drawn from the seed:

  kill-leader, kill-follower, kill-majority, kill-all   kill -9, restart
  pause-leader, pause-driver     SIGSTOP past the session TTL, SIGCONT
  partition-leader, partition-random, bridge, one-way, lossy
                                 nftables rules between the servers'
                                 addresses (netfault.py; root only)
  skew                           a server restarted with its clock (libfaketime,
                                 CLOCK_MONOTONIC too) running x0.5 .. x2
  disk-full                      the server's data directory (a tmpfs of its
                                 own; root only) filled up
  fsync-fail                     fsync/fdatasync fail with EIO (failio.c,
                                 preloaded into every server)

With --driver redis-py the workload is tests/faults/redispy_driver.py:
the same rounds written with redis-py's Lock, given every server's address
(a follower forwards; the register's token is the lock's fencing token,
read with LOCK.STATUS). It cannot be combined with --tls or --auth.

With --tls every port speaks TLS (docs/security.md): certificates made
with openssl for the servers' addresses, client certificates required, the
workers and the checks connecting as a client with its own certificate.
With --auth the cluster starts with users (--users-file): the workers and
dlock log in as a user allowed sessions, locks and reads, the checks as
its administrator, and every write carries its user.

Kinds this machine cannot inject are left out and named at the start. A
server must fail-stop (exit code 2, the reason in its log) on a disk fault,
and is restarted when it heals; any other death is a violation. Every fault
heals before the quiet tail of the run. Then the drivers stop (one with
kill -9), every lock must become available to a fresh client within
TTL + lock-delay + election + margin, the servers catch up and stop, each
one's data is read back with faults-replay, and check.py checks the history,
the registers and the replicated state. Every process started here is stopped
by its pid at the end, on failure too. The last line is "violations: N"; the
exit code is 1 on any. Standard library only.
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
import netfault  # noqa: E402
import procs  # noqa: E402

PROCESS_KINDS = ("kill-leader", "kill-follower", "kill-majority", "kill-all",
                 "pause-leader", "pause-driver")
NET_KINDS = ("partition-leader", "partition-random", "bridge", "one-way", "lossy")
LOCK_DELAY_MS = 300  # the driver's delay_ms
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
SKEW_RATES = (0.5, 0.8, 1.25, 2.0)
TMPFS_MB = 256
FULL_LOG_SNAPSHOT_ENTRIES = 100000000  # server 1 keeps its whole log
SMALL_SNAPSHOT_ENTRIES = 500  # the others snapshot often


def tmpfs_available():
    """(True, "") when a small tmpfs can be mounted here, else (False, why)."""
    if os.geteuid() != 0:
        return False, "not root (a tmpfs per server needs root)"
    d = tempfile.mkdtemp(prefix="dlock-tmpfs-probe-")
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "dlock-probe", d],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return False, "cannot mount a tmpfs: %s" % r.stderr.strip()
        subprocess.run(["umount", d], capture_output=True)
        return True, ""
    finally:
        os.rmdir(d)


def fault_kinds(args):
    """The kinds this machine can inject, and why others are left out."""
    kinds, missing = list(PROCESS_KINDS), []
    ok, why = netfault.available()
    if ok:
        kinds += NET_KINDS
    else:
        missing.append("network faults: %s" % why)
    if os.path.exists(FAKETIME_LIB):
        kinds.append("skew")
    else:
        missing.append("skew: %s missing (Debian package libfaketime)" % FAKETIME_LIB)
    ok, why = tmpfs_available()
    if ok:
        kinds.append("disk-full")
    else:
        missing.append("disk-full: %s" % why)
    kinds.append("fsync-fail")
    if args.kinds:
        wanted = args.kinds.split(",")
        kinds = [k for k in kinds if k in wanted]
    return kinds, missing


class Run(procs.Campaign):
    def __init__(self, args, d, kinds):
        super().__init__(args, d)
        self.kinds = kinds
        self.ctx = dlocktest.Context("faults", d)
        self.cluster = None
        self.net = None
        self.mounts = []
        self.paused = set()  # servers stopped with SIGSTOP
        self.fail_stops = collections.Counter()
        self.fast_windows = open(os.path.join(d, "fast-clock"), "w")

    def start_cluster(self):
        """The servers, each on its own address, server 1 keeping its whole
        log (for faults-replay), every data directory on a tmpfs of its own
        when disk-full is on, failio.so preloaded into every server."""
        own = self.net is not None
        cl = dlocktest.Cluster(self.ctx, self.args.nodes, own_hosts=own)
        if self.args.tls:
            pki = dlocktest.Pki(os.path.join(self.dir, "pki"),
                                sorted({s.host for s in cl.servers}))
            for s in cl.servers:
                s.extra += pki.server_args()
                dlocktest.TLS_BY_ADDR[s.addr] = pki.client_ctx()
            os.environ.update(pki.client_env())  # the workers, dlock
        if self.args.auth:
            users = os.path.join(self.dir, "users")
            with open(users, "w") as f:
                f.write("admin PASSWORD faults-admin ALLOW all ADMIN *\n"
                        "worker PASSWORD faults-worker ALLOW sessions,locks,reads "
                        "ACQUIRE * READ *\n")
            for s in cl.servers:
                s.extra += ["--users-file", users]
                dlocktest.AUTH_BY_ADDR[s.addr] = ("admin", "faults-admin")
            os.environ.update(DLOCK_USER="worker", DLOCK_PASSWORD="faults-worker")
        failio = os.path.join(self.args.build, "faults-failio.so")
        for s in cl.servers:
            every = FULL_LOG_SNAPSHOT_ENTRIES if s.id == 1 else SMALL_SNAPSHOT_ENTRIES
            s.extra += ["--snapshot-entries", str(every)]
            s.failio = os.path.join(s.dir, "fail-fsync")
            s.base_env = {"LD_PRELOAD": failio, "DLOCK_FAILIO_FILE": s.failio}
            s.env = dict(s.base_env)
            if "disk-full" in self.kinds:
                os.makedirs(s.data, exist_ok=True)
                subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % TMPFS_MB,
                                "dlock-faults", s.data], check=True)
                self.mounts.append(s.data)
        self.cluster = cl.start()

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

    def check_alive(self, expected=()):
        """Every server is running, but those in expected (which may have
        stopped on a disk fault). Any other death is a problem; the server
        is restarted so that the run goes on."""
        for s in self.cluster.servers:
            if s.alive() or s in expected:
                continue
            rc = s._ended("found dead")
            self.problems.append("dlockd %d died (exit code %d) outside a disk fault:\n%s"
                                 % (s.id, rc, s.log_tail(15)))
            self.restart([s])

    def fail_stopped(self, s, kind, words):
        """After a disk fault on s: if it stopped, it stopped as designed
        (exit code 2, the reason in its log); then it is started again."""
        if s.alive():
            return
        rc = s._ended("stopped on %s" % kind)
        tail = s.log_tail(5)
        if rc != 2 or "stopping" not in tail or words not in tail:
            self.problems.append("dlockd %d did not fail-stop as designed on %s (exit code "
                                 "%d):\n%s" % (s.id, kind, rc, tail))
        else:
            self.fail_stops[kind] += 1
        self.restart([s])

    def target(self, kind, rng_pick):
        leader = self.leader()
        if leader is None:
            self.note("%s: no leader agreed on; a random server instead" % kind)
            leader = self.cluster.servers[int(rng_pick * len(self.cluster.servers))]
        return leader

    def fault(self, kind, rng):
        """Injects one fault and heals it. The draws from rng are the same
        whatever the cluster's state, so a seed replays the same schedule."""
        down = rng.uniform(0.3, 3.0)
        pause = self.args.ttl_ms / 1000.0 + rng.uniform(0.3, 2.0)
        cut = rng.uniform(1.0, 5.0)
        pick = rng.random()
        servers = self.cluster.servers
        n = len(servers)
        shuffled = rng.sample(servers, n)
        minority = shuffled[:rng.randint(1, (n - 1) // 2)]
        rate = rng.choice(SKEW_RATES)
        loss = rng.randint(20, 60)
        expected_down = ()
        if kind in ("kill-leader", "kill-follower", "pause-leader"):
            leader = self.target(kind, pick)
            t = leader
            if kind == "kill-follower":
                others = [s for s in servers if s.id != leader.id]
                t = others[int(pick * len(others))]
            if kind == "pause-leader":
                self.note("%s: SIGSTOP dlockd %d for %.2f s" % (kind, t.id, pause))
                t.pause()
                self.paused.add(t.id)
                time.sleep(pause)
                t.resume()
                self.paused.discard(t.id)
            else:
                self.note("%s: kill -9 dlockd %d, down %.2f s" % (kind, t.id, down))
                t.kill()
                time.sleep(down)
                self.restart([t])
        elif kind in ("kill-majority", "kill-all"):
            targets = shuffled[:n // 2 + 1] if kind == "kill-majority" else servers
            self.note("%s: kill -9 dlockd %s, down %.2f s"
                      % (kind, ",".join(str(s.id) for s in targets), down))
            for s in targets:
                s.kill()
            time.sleep(down)
            self.restart(targets)
        elif kind == "pause-driver":
            self.pause_driver(kind, pick, pause)
        elif kind in NET_KINDS:
            self.net_fault(kind, cut, pick, shuffled, minority, loss)
        elif kind == "skew":
            t = self.target(kind, pick) if pick < 0.5 else shuffled[0]
            self.note("skew: dlockd %d restarted with its clock at x%.2f for %.2f s"
                      % (t.id, rate, cut))
            t0 = time.monotonic()
            t.kill()
            t.env = dict(t.base_env)
            t.env["LD_PRELOAD"] = FAKETIME_LIB + " " + t.base_env["LD_PRELOAD"]
            t.env["FAKETIME"] = "+0 x%g" % rate
            self.restart([t])
            time.sleep(cut)
            t.kill()
            t.env = dict(t.base_env)
            self.restart([t])
            if rate > 1:
                # Leases it measured may end early until the sessions it
                # served have renewed elsewhere: a TTL and a margin on.
                end = time.monotonic() + self.args.ttl_ms / 1000.0 + 1.0
                self.fast_windows.write("%d %d %d %g\n" % (t0 * 1e9, end * 1e9, t.id, rate))
                self.fast_windows.flush()
        elif kind == "disk-full":
            t = self.target(kind, pick) if pick < 0.5 else shuffled[0]
            filler = os.path.join(t.data, "filler")
            self.note("disk-full: the data directory of dlockd %d filled for %.2f s"
                      % (t.id, cut))
            fill(filler)
            time.sleep(cut)
            os.unlink(filler)
            self.fail_stopped(t, kind, "No space left")
            expected_down = (t,)
        elif kind == "fsync-fail":
            t = self.target(kind, pick) if pick < 0.5 else shuffled[0]
            self.note("fsync-fail: fsync fails on dlockd %d for %.2f s" % (t.id, cut))
            open(t.failio, "w").close()
            time.sleep(cut)
            os.unlink(t.failio)
            self.fail_stopped(t, kind, "Input/output error")
            expected_down = (t,)
        self.check_alive(expected_down)
        self.faults[kind] += 1
        self.note("%s: healed" % kind)

    def net_fault(self, kind, cut, pick, shuffled, minority, loss):
        hosts = [s.host for s in self.cluster.servers]
        if kind == "partition-leader":
            t = self.target(kind, pick)
            self.note("%s: dlockd %d cut off for %.2f s" % (kind, t.id, cut))
            self.net.partition([[t.host], [h for h in hosts if h != t.host]])
        elif kind == "partition-random":
            side = [s.host for s in minority]
            self.note("%s: %s | rest, for %.2f s" % (kind, ",".join(side), cut))
            self.net.partition([side, [h for h in hosts if h not in side]])
        elif kind == "bridge":
            # The first server reaches everyone; the rest are split in two
            # halves that reach only it.
            rest = [s.host for s in shuffled[1:]]
            half = len(rest) // 2
            self.note("%s: through dlockd %d, %s | %s, for %.2f s"
                      % (kind, shuffled[0].id, rest[:half], rest[half:], cut))
            self.net.partition([rest[:half], rest[half:]])
        elif kind == "one-way":
            t = self.target(kind, pick)
            self.note("%s: packets from dlockd %d to the others dropped for %.2f s"
                      % (kind, t.id, cut))
            for h in hosts:
                if h != t.host:
                    self.net.drop(t.host, h)
        elif kind == "lossy":
            self.note("%s: %d%% of the packets between servers lost for %.2f s"
                      % (kind, loss, cut))
            for a in hosts:
                for b in hosts:
                    if a != b:
                        self.net.drop(a, b, loss)
        time.sleep(cut)
        self.net.heal()

    def heal(self):
        """Undoes whatever fault is still in place (after an exception)."""
        if self.net is not None:
            try:
                self.net.heal()
            except Exception as e:
                self.problems.append("healing the network: %r" % e)
        for s in self.cluster.servers if self.cluster else []:
            try:
                for f in (s.failio, os.path.join(s.data, "filler")):
                    if os.path.exists(f):
                        os.unlink(f)
                if s.env != s.base_env and s.alive():
                    s.kill()
                s.env = dict(s.base_env)
                if s.alive():
                    s.resume()
                else:
                    s.start(wait=False)
            except Exception as e:
                self.problems.append("healing dlockd %d: %r" % (s.id, e))
        self.paused.clear()
        self.resume_drivers()

    # -- after the last fault
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

    def caught_up(self):
        """Waits until every server has applied the leader's commit index,
        so that their data read back agrees."""
        leader = self.cluster.wait_leader(timeout=20)
        commit = leader.info()["commit_index"]
        for s in self.cluster.servers:
            dlocktest.wait_for(lambda s=s: s.info()["applied_index"] >= commit, 20,
                               "dlockd %d to apply %d" % (s.id, commit))

    def read_back(self):
        """faults-replay on every stopped server's data: replay.ID files."""
        tool = os.path.join(self.args.build, "faults-replay")
        for s in self.cluster.servers:
            with open(os.path.join(self.dir, "replay.%d" % s.id), "w") as f:
                r = subprocess.run([tool, s.data], stdout=f, stderr=subprocess.PIPE,
                                   text=True, timeout=300)
            if r.returncode == 2:
                self.problems.append("faults-replay on dlockd %d's data: %s"
                                     % (s.id, r.stderr.strip()))

    def unmount(self):
        for m in self.mounts:
            subprocess.run(["umount", "-l", m], capture_output=True)
        self.mounts = []


def fill(path):
    """Writes path until the file system is full (unbuffered: a buffered
    file would fail again when closed)."""
    chunk = b"\0" * (1 << 20)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while os.write(fd, chunk) > 0:
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def run(args):
    d = tempfile.mkdtemp(prefix="dlock-faults-")
    kinds, missing = fault_kinds(args)
    for m in missing:
        print("SKIPPED %s" % m, flush=True)
    print("fault kinds: %s" % ", ".join(kinds), flush=True)
    r = Run(args, d, kinds)
    r.avail_tokens = {}
    rng = random.Random(args.seed)
    violations = []
    t0 = time.monotonic()
    healed_at = None
    problems = []
    try:
        if any(k in NET_KINDS for k in kinds) or netfault.available()[0]:
            r.net = netfault.Net()
        r.start_stores()
        r.start_cluster()
        r.start_drivers("dlock", r.cluster.addrs())
        r.note("start: seed %d, duration %d s, kinds %s" % (args.seed, args.duration, kinds))
        try:
            r.nemesis(rng, t0 + args.duration, r.kinds, 8.0 + args.margin)
        finally:
            r.heal()
        healed_at = time.monotonic()
        r.note("all faults healed")
        for s in r.cluster.servers:
            s.wait_ping()
        # The quiet tail: the workload runs on a healthy cluster. Once the
        # sessions of the last fault have had time to end, every acquire
        # must be served (check.py, tail-unserved).
        settled = healed_at + (args.ttl_ms + LOCK_DELAY_MS + dlocktest.ELECTION_MS) / 1000.0 \
            + args.margin
        time.sleep(max(0.0, t0 + args.duration - time.monotonic()))
        with open(os.path.join(d, "tail"), "w") as f:
            f.write("%d %d\n" % (settled * 1e9, time.monotonic() * 1e9))
        # Driver 0 crashes (kill -9): its locks are freed only when its
        # sessions expire. Driver 1 stops gracefully and releases.
        os.kill(r.drivers[0].pid, signal.SIGKILL)
        killed_at = time.monotonic()
        r.drivers[0].wait(5)
        r.note("driver 0 killed (kill -9)")
        for p in r.drivers:
            r.stop_proc(p, "a driver")
        budget, worst = r.availability(killed_at, violations)
        r.caught_up()
    except Exception as e:
        violations.append(("campaign-error", "%s: %s" % (type(e).__name__, e)))
        budget, worst = 0, 0
    finally:
        # Each step on its own: a failure of one must not leave mounts,
        # nftables rules or processes behind.
        for what, step in (("healing", r.heal), ("stopping the drivers and registers",
                                                 r.stop_all),
                           ("stopping the servers", lambda: problems.extend(r.ctx.finish())),
                           ("reading the servers' data back",
                            lambda: r.cluster is not None and r.read_back()),
                           ("unmounting", r.unmount),
                           ("removing the nftables rules",
                            lambda: r.net is not None and r.net.close())):
            try:
                step()
            except Exception as e:
                r.problems.append("%s: %s: %s" % (what, type(e).__name__, e))
        r.fault_log.close()
        r.fast_windows.close()
    for p in problems + r.problems:
        violations.append(("process", p))
    summary, checked = check.check_dir(d)
    violations += checked
    for lock, token in r.avail_tokens.items():
        top = summary["max token"].get(lock, 0)
        if token <= top:
            violations.append(("token-order", "%s: the fresh client's token %d is not above "
                               "the workload's highest %d" % (lock, token, top)))
    print("faults by kind: %s" % (dict(sorted(r.faults.items())) or "none"))
    print("fail-stops on disk faults (as designed): %s" % (dict(r.fail_stops) or "none"))
    check.print_report(summary, violations)
    if healed_at is not None:
        print("availability: every lock acquired by %.2f s after the kill -9 of a driver "
              "(budget %.1f s)" % (worst, budget))
    keep = violations or args.keep
    print("run directory: %s%s" % (d, "" if keep else " (removed)"))
    if violations:
        print("FAILED with seed %d; replay the schedule with: make faults DURATION=%d SEED=%d%s"
              % (args.seed, args.duration, args.seed,
                 " FAULTS_ARGS='--kinds %s'" % args.kinds if args.kinds else ""))
    print("violations: %d" % len(violations))
    if not keep:
        shutil.rmtree(d, ignore_errors=True)
    return 1 if violations else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    procs.add_arguments(ap)
    ap.add_argument("--nodes", type=int, default=3, choices=(3, 5))
    ap.add_argument("--kinds", default="", help="only these fault kinds (comma-separated)")
    ap.add_argument("--tls", action="store_true",
                    help="TLS on every port, client certificates required")
    ap.add_argument("--auth", action="store_true",
                    help="users: the workers log in, every command is checked")
    ap.add_argument("--margin", type=float, default=5.0,
                    help="seconds added to TTL + lock-delay + election for availability")
    args = procs.parse_arguments(ap)
    if args.driver == "redis-py" and (args.tls or args.auth):
        ap.error("--driver redis-py takes neither --tls nor --auth: a follower "
                 "forwards Redis commands only on a plain port without users")
    print("seed: %d (replay: make faults DURATION=%d SEED=%d)"
          % (args.seed, args.duration, args.seed), flush=True)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
