"""redis_campaign - the fault campaign's workload against Redis (issue 5):
the same driver, registers and checker as campaign.py, with the lock service
replaced by one redis-server (--mode redis: SET NX PX and the
compare-and-delete script) or by three (--mode redlock: the Redlock
algorithm); the driver's backends are in redis_ops.c. --mode sentinel: a
primary, its replica and a Sentinel that fails the primary over, and the
workload written with redis-py's Lock (redispy_driver.py: the same code
campaign.py --driver redis-py runs against dlock).

    make faults-redis [DURATION=180] [SEED=N]
    make faults-redis-py [DURATION=180] [SEED=N]
    python3 tests/faults/redis_campaign.py --mode redis|redlock|sentinel
        --duration S [--seed N] [--build DIR] [--appendfsync no|always] [--keep]

Starts a fenced register per lock, 1 or 3 redis-server instances on
127.0.0.1 (or, for sentinel, a primary, a replica and a Sentinel never
faulted itself; data in the run's temporary directory; no persistence, or with
--appendfsync always an fsync'ed append-only file) and the driver (two
processes), then a nemesis whose schedule is drawn from the seed: kill -9 of
an instance and its restart on the same port, SIGSTOP/SIGCONT of an instance
and of a driver for longer than the TTL. Every fault heals before the quiet
tail. Then the drivers stop, every process started here is stopped by its
pid, and check.py checks the histories and the registers.

Redis gives no fencing tokens: the driver's tokens are the times of the
grants, so a register refusing a write means that two holders overlapped.
Violations are the expected finding here: they are printed, and the exit code
is 0; it is 1 only when the campaign itself broke (a process that did not
start, a driver that died). The last line is "violations: N".
Standard library only.
"""

import argparse
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "system"))
sys.path.insert(0, HERE)

import check  # noqa: E402
import dlocktest  # noqa: E402
import procs  # noqa: E402
from procs import StartError  # noqa: E402

KINDS = ("kill-instance", "pause-instance", "pause-driver")
SERVICE = "dlockfaults"  # the name Sentinel knows the primary by
HOST = "127.0.0.1"
QUIET_TAIL_S = 6.0


class Redis:
    """One redis-server: its port, directory and log are fixed when it is
    made, so a restart brings the same instance back (with its append-only
    file, if it has one)."""

    def __init__(self, run, i, replica_of=None, sentinel_of=None):
        self.run = run
        self.id = i
        self.port = dlocktest.free_port()
        self.dir = os.path.join(run.dir, "redis%d" % i)
        self.log = os.path.join(run.dir, "redis%d.log" % i)
        self.proc = None
        self.replica_of = replica_of    # --mode sentinel: the replica's primary
        self.sentinel_of = sentinel_of  # --mode sentinel: the primary it watches
        os.makedirs(self.dir)

    def addr(self):
        return "%s:%d" % (HOST, self.port)

    def argv(self):
        if self.sentinel_of is not None:
            # A Sentinel that fails the primary over after 1 s down (a
            # quorum of one: the test's Sentinel is never faulted). It
            # rewrites its configuration file as it learns.
            conf = os.path.join(self.dir, "sentinel.conf")
            if not os.path.exists(conf):
                with open(conf, "w") as f:
                    f.write("port %d\nbind %s\ndir %s\n"
                            "sentinel monitor %s %s %d 1\n"
                            "sentinel down-after-milliseconds %s 1000\n"
                            "sentinel failover-timeout %s 3000\n"
                            % (self.port, HOST, self.dir, SERVICE, HOST,
                               self.sentinel_of.port, SERVICE, SERVICE))
            return [self.run.args.redis_server, conf, "--sentinel", "--daemonize", "no",
                    "--logfile", ""]
        a = [self.run.args.redis_server, "--port", str(self.port), "--bind", HOST,
             "--dir", self.dir, "--save", "", "--daemonize", "no", "--logfile", ""]
        if self.replica_of is not None:
            a += ["--replicaof", HOST, str(self.replica_of.port)]
        if self.run.args.appendfsync == "always":
            return a + ["--appendonly", "yes", "--appendfsync", "always"]
        return a + ["--appendonly", "no"]

    def start(self):
        self.proc = self.run.spawn(self.argv(), self.log)
        dlocktest.wait_for(self.ping, 10, "redis-server %d on port %d" % (self.id, self.port))

    def ping(self):
        if self.proc.poll() is not None:
            raise StartError("redis-server %d exited (code %d); see %s"
                             % (self.id, self.proc.returncode, self.log))
        with socket.create_connection((HOST, self.port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")

    def kill(self):
        self.run.forget(self.proc, signal.SIGKILL)

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)


class Run(procs.Campaign):
    def __init__(self, args, d):
        super().__init__(args, d)
        self.redis = []
        self.sentinel = None

    def forget(self, p, sig):
        """Sends sig to p (by pid) and reaps it once it has exited."""
        if p is None or p.poll() is not None:
            return
        os.kill(p.pid, sig)
        if sig == signal.SIGKILL:
            p.wait(5)
            dlocktest._all_procs.pop(p.pid, None)

    def start_redis(self):
        if self.args.mode == "sentinel":
            primary = Redis(self, 0)
            self.redis = [primary, Redis(self, 1, replica_of=primary)]
            self.sentinel = Redis(self, 2, sentinel_of=primary)
            for r in self.redis + [self.sentinel]:
                r.start()
            return
        for i in range(1 if self.args.mode == "redis" else 3):
            self.redis.append(Redis(self, i))
            self.redis[-1].start()

    def clients_of(self):
        """The addresses the drivers are given."""
        if self.args.mode == "sentinel":
            return [self.sentinel.addr()]
        return [x.addr() for x in self.redis]

    # -- the nemesis
    def fault(self, kind, rng):
        """Injects one fault and heals it. Every draw from rng happens
        whatever the kind, so a seed replays the same schedule."""
        down = rng.uniform(0.3, 3.0)
        pause = self.args.ttl_ms / 1000.0 + rng.uniform(0.3, 2.0)
        pick = rng.random()
        if kind == "kill-instance":
            r = self.redis[int(pick * len(self.redis))]
            self.note("%s: kill -9 redis-server %d, down %.2f s" % (kind, r.id, down))
            r.kill()
            time.sleep(down)
            r.start()
        elif kind == "pause-instance":
            r = self.redis[int(pick * len(self.redis))]
            self.note("%s: SIGSTOP redis-server %d for %.2f s" % (kind, r.id, pause))
            r.pause()
            try:
                time.sleep(pause)
            finally:
                r.resume()
        elif kind == "pause-driver":
            self.pause_driver(kind, pick, pause)
        self.faults[kind] += 1
        self.note("%s: healed" % kind)

    def heal(self):
        """Undoes whatever fault is still in place (after an exception)."""
        for r in self.redis:
            try:
                if r.proc is not None and r.proc.poll() is None:
                    r.resume()
                elif r.proc is not None:
                    r.start()
            except Exception as e:
                self.problems.append("healing redis-server %d: %r" % (r.id, e))
        self.resume_drivers()



def refused_writes(d):
    """The writes the registers refused: each a holder whose grant was
    older than that of another holder who had written meanwhile."""
    sd, n = os.path.join(d, "stores"), 0
    for f in sorted(os.listdir(sd)) if os.path.isdir(sd) else []:
        if f.endswith(".log"):
            with open(os.path.join(sd, f), errors="replace") as log:
                n += sum(1 for line in log if line.startswith("refused "))
    return n


def run(args):
    d = tempfile.mkdtemp(prefix="dlock-redis-faults-")
    r = Run(args, d)
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    try:
        r.start_stores()
        r.start_redis()
        r.start_drivers(args.mode, r.clients_of())
        r.note("start: mode %s, seed %d, duration %d s, appendfsync %s"
               % (args.mode, args.seed, args.duration, args.appendfsync))
        try:
            r.nemesis(rng, t0 + args.duration, KINDS, QUIET_TAIL_S)
        finally:
            r.heal()
        r.note("all faults healed")
        # The quiet tail: the workload runs on healthy instances.
        time.sleep(max(0.0, t0 + args.duration - time.monotonic()))
    except StartError as e:
        r.problems.append("a process did not start: %s" % e)
    except Exception as e:
        r.problems.append("campaign error: %s: %s" % (type(e).__name__, e))
    finally:
        r.heal()
        r.stop_all()
        for x in r.redis + ([r.sentinel] if r.sentinel is not None else []):
            r.stop_proc(x.proc, "redis-server %d" % x.id)
        r.fault_log.close()
    summary, violations = check.check_dir(d)
    print("faults by kind: %s" % (dict(r.faults) or "none"))
    check.print_report(summary, violations)
    print("two holders seen by the register: %d" % refused_writes(d))
    for p in r.problems:
        print("CAMPAIGN PROBLEM: %s" % p)
    print("run directory: %s%s" % (d, "" if args.keep else " (removed)"))
    print("violations: %d" % len(violations), flush=True)
    if not args.keep:
        shutil.rmtree(d, ignore_errors=True)
    return 1 if r.problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    procs.add_arguments(ap)
    ap.add_argument("--mode", choices=("redis", "redlock", "sentinel"), required=True)
    ap.add_argument("--appendfsync", choices=("no", "always"), default="no",
                    help="always: an append-only file fsync'ed on every write")
    ap.add_argument("--redis-server", default=os.environ.get("REDIS_SERVER", "redis-server"))
    args = procs.parse_arguments(ap)
    if args.mode == "sentinel":
        args.driver = "redis-py"  # Sentinel's clients: redis-py's
    print("%s: seed %d (replay: python3 tests/faults/redis_campaign.py --mode %s "
          "--duration %d --seed %d --appendfsync %s)"
          % (args.mode, args.seed, args.mode, args.duration, args.seed, args.appendfsync),
          flush=True)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
