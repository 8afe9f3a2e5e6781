"""procs - what the fault campaigns share (campaign.py against dlock,
redis_campaign.py against Redis): the run directory's fault log, processes
started and stopped by their pid, the fenced registers and the two driver
processes. Standard library only."""

import collections
import os
import random
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "system"))

import dlocktest  # noqa: E402


def add_arguments(ap):
    """The options both campaigns take."""
    ap.add_argument("--duration", type=int, default=180)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--build", default="build")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--locks", type=int, default=3)
    ap.add_argument("--ttl-ms", type=int, default=1500)
    ap.add_argument("--keep", action="store_true", help="keep the run directory")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each fault")
    ap.add_argument("--driver", choices=("worker", "redis-py"), default="worker",
                    help="the workload: faults-worker (libdlock), or the same written "
                         "with redis-py's Lock (redispy_driver.py)")


def parse_arguments(ap):
    """Parses them; a seed is drawn when none is given."""
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1 << 31)
    args.build = os.path.abspath(args.build)
    return args


class StartError(Exception):
    """A process of the campaign did not start: the campaign broke."""


class Campaign:
    def __init__(self, args, d):
        self.args = args
        self.dir = d
        self.stores = []
        self.drivers = []
        self.faults = collections.Counter()
        self.fault_log = open(os.path.join(d, "faults"), "w")
        self.problems = []

    def note(self, text):
        line = "%.3f %s" % (time.monotonic(), text)
        self.fault_log.write(line + "\n")
        self.fault_log.flush()
        if self.args.verbose:
            print(line, flush=True)

    def spawn(self, argv, log):
        """Starts argv with its output in log; it dies with the campaign."""
        try:
            with open(log, "ab") as f:
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                     preexec_fn=dlocktest._die_with_parent)
        except OSError as e:
            raise StartError("%s: %s" % (argv[0], e))
        dlocktest._all_procs[p.pid] = p
        return p

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

    def start_stores(self):
        """A fenced register per lock: stores/lN.sock, its log stores/lN.log."""
        sd = os.path.join(self.dir, "stores")
        os.makedirs(sd)
        for i in range(self.args.locks):
            sock = os.path.join(sd, "l%d.sock" % i)
            p = self.spawn([os.path.join(self.args.build, "faults-fenced-store"), "serve", sock],
                           os.path.join(sd, "l%d.log" % i))
            self.stores.append(p)
            dlocktest.wait_for(lambda: os.path.exists(sock) or p.poll() is not None, 5,
                               "register %d" % i)
            if p.poll() is not None:
                raise StartError("register %d exited (code %d)" % (i, p.returncode))

    def start_drivers(self, backend, servers):
        """Two driver processes, each with half the workers: a paused one
        outlives its leases while the other takes the locks over."""
        per = max(1, self.args.workers // 2)
        if self.args.driver == "redis-py":
            exe = dlocktest.redis_py_python()
            if exe is None:
                raise StartError("no Python with redis-py (python3-redis) for --driver redis-py")
            program = [exe, os.path.join(HERE, "redispy_driver.py"), "--mode",
                       "dlock" if backend == "dlock" else "sentinel"]
        else:
            program = [os.path.join(self.args.build, "faults-worker"), "--backend", backend]
        for i in range(2):
            self.drivers.append(self.spawn(program + [
                "--servers", ",".join(servers),
                "--stores", os.path.join(self.dir, "stores"),
                "--history", os.path.join(self.dir, "history.%d" % i),
                "--workers", str(per), "--first-id", str(i * per),
                "--locks", str(self.args.locks),
                "--ttl-ms", str(self.args.ttl_ms)], os.path.join(self.dir, "driver%d.log" % i)))
        time.sleep(0.5)
        for i, p in enumerate(self.drivers):
            if p.poll() is not None:
                raise StartError("driver %d exited at once (code %d); see driver%d.log"
                                 % (i, p.returncode, i))

    def pause_driver(self, kind, pick, pause):
        """SIGSTOP of the driver pick (0..1) draws, for pause seconds: the
        "GC pause" of its workers, past their leases."""
        i = int(pick * len(self.drivers))
        driver = self.drivers[i]
        self.note("%s: SIGSTOP driver %d (pid %d) for %.2f s" % (kind, i, driver.pid, pause))
        os.kill(driver.pid, signal.SIGSTOP)
        try:
            time.sleep(pause)
        finally:
            os.kill(driver.pid, signal.SIGCONT)

    def resume_drivers(self):
        """SIGCONT to every driver still running (healing after an error)."""
        for p in self.drivers:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)

    def nemesis(self, rng, until, kinds, tail):
        """Faults drawn from rng every 0.5-2.5 s (self.fault(kind, rng)),
        the last one healed tail seconds before until."""
        while True:
            gap = rng.uniform(0.5, 2.5)
            kind = rng.choice(kinds)
            if time.monotonic() + gap + tail > until:
                return
            time.sleep(gap)
            self.fault(kind, rng)
            ended = [p for p in self.drivers if p.poll() is not None]
            if ended:
                self.problems.append("a driver exited during the run (code %d)"
                                     % ended[0].returncode)
                return

    def stop_all(self):
        """Stops the drivers, then the registers."""
        for p in self.drivers:
            self.stop_proc(p, "a driver")
        for i, p in enumerate(self.stores):
            self.stop_proc(p, "register %d" % i)
