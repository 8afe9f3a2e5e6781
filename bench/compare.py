#!/usr/bin/python3
"""compare - dlock beside Redis, etcd and ZooKeeper, in one run, with the
same workloads, client counts and durations (dlock-bench), on this machine.

    python3 bench/compare.py [--duration S] [--warmup S] [--clients 1,16,64]
                             [--systems LIST] [--workloads U,H,R,S]
                             [--rounds N] [--out bench/results] [--quick]

Each system is started fresh on 127.0.0.1 with its data in a temporary
directory, measured, and stopped by pid before the next one starts:

  dlock-1, dlock-3          dlockd, 1 and 3 servers (fsync on every commit)
  dlock-1-tls, dlock-3-tls  the same with TLS on every port, client
                            certificates required (docs/security.md)
  dlock-1-auth, dlock-3-auth  the same with users: every client logs in
                            and every command is checked against its rules
  dlock-1-scrape, dlock-3-scrape  the same as dlock-1 and dlock-3, with
                            every server's /metrics and /status.json read
                            once a second all the while, as a Prometheus
                            scraping each second and an open status page
                            would (docs/benchmarks.md, the cost of metrics)
  dlock-1-redis, dlock-3-redis  dlockd, measured with the Redis system's
                            client: SET NX PX and the compare-and-delete
                            script, at the leader (docs/redis-compat.md)
  redis, redis-always       Redis 7, the SET NX PX lock; appendonly off, and
                            appendonly with appendfsync always
  etcd-1, etcd-3            etcd 3.4, its lock service through the v3 JSON
                            gateway with a lease (bench/peers.py)
  zk-1, zk-3                ZooKeeper 3.8, the ephemeral-sequential recipe
                            through the C client (bench/peers.py)

U and H run at every client count; R and S at the largest; U again at half
its peak throughput (paced) for the latency there. Then F on dlock-3: the
leader is killed (SIGKILL) under load; the time until the next grant, and
whether any lock held across the kill was lost. Then M on one dlockd:
--many held locks, memory per lock, restart time (bench/locks.sh). Systems
whose server is not installed are left out and named. Writes results.md
(the tables), results.json (every dlock-bench line, with its round) and,
with gnuplot, a plot results.png into --out. Standard library only.

With --rounds N every system is measured N times, the systems in turn and
their order rotated each round, so that a slow minute of a shared machine
falls on different systems; each table cell is then the round with the
median throughput (the median p99 for the paced runs), and a spread table
gives every round's figure.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
sys.path.insert(0, HERE)

import dlocktest  # noqa: E402

ALL_SYSTEMS = ("dlock-1", "dlock-3", "dlock-3-tls", "redis", "redis-always", "etcd-1", "etcd-3", "zk-1", "zk-3")


class Started:
    """A system being measured: the servers' list, their pids, a stop, and
    what dlock-bench's environment needs (TLS files)."""

    def __init__(self, servers, pids, stop, env=None, traced=None):
        self.servers, self.pids, self._stop = servers, pids, stop
        self.env = env or {}
        self.traced = traced or []  # dlock's servers: SERVER.TRACE

    def stop(self):
        if self._stop is not None:
            self._stop()
            self._stop = None


# dlockd's own defaults (the tests' are shorter).
DLOCKD_TIMEOUTS = {"election_ms": 500, "heartbeat_ms": 50}


# dlock-N-auth: an administrator, and the user the benchmark's clients log
# in as, allowed sessions and locks under its prefix and reads of all.
BENCH_USERS = ("admin PASSWORD bench-admin ALLOW all ADMIN *\n"
               "bench PASSWORD bench-pw ALLOW sessions,locks,reads ACQUIRE * READ *\n")


class Scraper:
    """Reads /metrics and /status.json of each server once a second, in a
    thread, until stopped; keeps how long each read took."""

    def __init__(self, servers):
        import threading
        self.servers, self.took, self.failed = servers, [], 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.wait(1.0):
            for s in self.servers:
                for path in ("/metrics", "/status.json"):
                    t0 = time.monotonic()
                    try:
                        status, _, _ = s.http_get(path, timeout=5)
                        if status != 200:
                            self.failed += 1
                    except OSError:
                        self.failed += 1
                    self.took.append(time.monotonic() - t0)

    def stop(self):
        self.done.set()
        self.thread.join(10)
        if self.took:
            t = sorted(self.took)
            print("  scraped %d times: median %.2f ms, max %.2f ms, %d failed" % (
                len(t), 1e3 * t[len(t) // 2], 1e3 * t[-1], self.failed), flush=True)


def start_dlock(n, work, build, variant=""):
    ctx = dlocktest.Context("bench", work)
    kw = dict(DLOCKD_TIMEOUTS)
    env = {}
    if variant == "tls":
        pki = dlocktest.Pki(os.path.join(work, "pki"))
        kw.update(extra=pki.server_args(), tls=pki.client_ctx())
        env = pki.client_env()
    elif variant == "auth":
        path = os.path.join(work, "users")
        with open(path, "w") as f:
            f.write(BENCH_USERS)
        kw.update(extra=["--users-file", path], auth=("admin", "bench-admin"))
        env = {"DLOCK_USER": "bench", "DLOCK_PASSWORD": "bench-pw"}
    if n == 1:
        s = ctx.server(1, **kw)
        s.start()
        s.wait_leader()
        servers = [s]
        leader = s
    else:
        cl = ctx.cluster(n, **kw)
        servers = cl.servers
        leader = cl.wait_leader()
    # A Redis client knows one address: the leader's.
    addrs = leader.addr if variant == "redis" else ",".join(s.addr for s in servers)
    scraper = Scraper(servers) if variant == "scrape" else None

    def stop():
        if scraper is not None:
            scraper.stop()
        ctx.finish()
    return Started(addrs, [s.pid for s in servers], stop, env, traced=servers)


def start_redis(always, work, build):
    port = dlocktest.free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", work,
            "--save", "", "--daemonize", "no"]
    argv += ["--appendonly", "yes", "--appendfsync", "always"] if always else \
        ["--appendonly", "no"]
    log = open(os.path.join(work, "redis.log"), "wb")
    p = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                         preexec_fn=dlocktest._die_with_parent)
    dlocktest._all_procs[p.pid] = p

    def ready():
        try:
            with dlocktest.Client("127.0.0.1:%d" % port, timeout=1) as c:
                return c.call("PING") == "PONG"
        except OSError:
            return False
    dlocktest.wait_for(ready, 10, "redis-server")

    def stop():
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        dlocktest._all_procs.pop(p.pid, None)
        log.close()
    return Started("127.0.0.1:%d" % port, [p.pid], stop)


def start_peer(kind, n, work, build):
    import peers
    started = peers.start_etcd(n, work) if kind == "etcd" else peers.start_zk(n, work)
    return Started(started.servers, started.pids, started.stop)


def starter(name):
    kind, _, n = name.partition("-")
    if kind == "dlock":
        count, _, variant = n.partition("-")
        return lambda w, b: start_dlock(int(count), w, b, variant)
    if kind == "redis":
        return lambda w, b: start_redis(n == "always", w, b)
    return lambda w, b: start_peer(kind, int(n), w, b)


def installed(name):
    kind = name.partition("-")[0]
    need = {"dlock": None, "redis": "redis-server", "etcd": "etcd", "zk": "java"}[kind]
    if need is None:
        return True, ""
    if shutil.which(need) is None:
        return False, "%s not installed" % need
    if kind == "zk" and not os.path.exists("/usr/share/java/zookeeper.jar"):
        return False, "zookeeper not installed (Debian package zookeeper)"
    return True, ""


def server_trace(servers, reset=False):
    """SERVER.TRACE of dlock's servers (docs/protocol.md): reset before a
    cell, or read after it: the leader's writes and the followers' appends,
    their quantiles and three slowest each."""
    out = {"appends": []}
    for s in servers:
        try:
            if reset:
                s.call("SERVER.TRACE", "RESET")
                continue
            doc = json.loads(s.call("SERVER.TRACE"))
        except (OSError, ValueError, dlocktest.RespError) as e:
            out["error"] = str(e)
            continue
        part = doc["writes" if doc["leader"] else "appends"]
        part = dict(part, slowest=part["slowest"][:3], server=s.id)
        if doc["leader"]:
            out["writes"] = part
        else:
            out["appends"].append(part)
    return out


def run_bench(args, system, started, workload, clients, extra=()):
    kind = "redis" if system.endswith("-redis") else system.partition("-")[0]
    argv = [args.bench, "--system", kind, "--servers", started.servers,
            "--workload", workload, "--clients", str(clients),
            "--duration", str(args.duration), "--warmup", str(args.warmup),
            "--pids", ",".join(str(p) for p in started.pids)] + list(extra)
    server_trace(started.traced, reset=True)
    r = subprocess.run(argv, capture_output=True, text=True,
                       timeout=args.duration + args.warmup + 120,
                       env=dict(os.environ, **started.env))
    line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    res = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    res["system"] = system
    if started.traced:
        res["trace"] = server_trace(started.traced)
    if r.returncode != 0 or not res.get("ops"):
        res["failed"] = (r.stderr.strip() or "no output")[-300:]
    elif r.stderr.strip():
        res["note"] = r.stderr.strip()[-300:]
    print("  %-12s %s %3d clients: %s" % (system, workload, clients,
                                         res.get("failed") or "%s ops/s, acquire p50 %s us, "
                                         "p99 %s us" % (res.get("ops_per_s"),
                                                        res.get("acquire_p50_us"),
                                                        res.get("acquire_p99_us"))),
          flush=True)
    return res


def measure(args, system, results, rnd=0):
    ok, why = installed(system)
    if not ok:
        print("SKIPPED %s: %s" % (system, why), flush=True)
        if rnd == 0:
            results.append({"system": system, "skipped": why})
        return
    first = len(results)
    work = tempfile.mkdtemp(prefix="dlock-bench-%s-" % system)
    started = None
    try:
        started = starter(system)(work, args.build)
        for w in args.workloads:
            if w in ("D", "P") and (not system.startswith("dlock") or
                                    system.endswith("-redis")):
                continue  # shared locks, semaphores: dlock's only, here
            counts = args.clients if w in ("U", "H") else [max(args.clients)]
            for c in counts:
                results.append(run_bench(args, system, started, w, c))
        if "U" in args.workloads:
            # Latency at half the peak, paced: with the peak's clients, and
            # with one client at half its own peak. The peak's client count
            # is the first round's, so that every round measures the same
            # cells; the rate is half of this round's throughput there.
            us = {int(r["clients"]): r for r in results[first:]
                  if r.get("workload") == "U" and not r.get("failed")}
            if us:
                peak = args.peak_clients.setdefault(
                    system, max(us, key=lambda c: float(us[c]["ops_per_s"])))
                for c in sorted({peak, 1} & set(us), reverse=True):
                    r = run_bench(args, system, started, "U", c,
                                  ["--rate", "%.0f" % (float(us[c]["ops_per_s"]) / 2)])
                    r["workload"] = "U-half"
                    results.append(r)
    except Exception as e:
        print("FAILED %s: %s" % (system, e), flush=True)
        results.append({"system": system, "failed": str(e)})
    finally:
        if started is not None:
            started.stop()
        shutil.rmtree(work, ignore_errors=True)
        for r in results[first:]:
            r["round"] = rnd


# What picks a cell's median round: throughput, or for a paced run (whose
# throughput is set) the acquire p99.
def rank_key(r):
    return "acquire_p99_us" if r.get("workload") == "U-half" else "ops_per_s"


def medians(results):
    """One result per (system, workload, clients): the round in the middle
    by rank_key, with every round's figure in "rounds" (lowest first). A
    cell whose every round failed keeps a failed one."""
    cells, out = {}, []
    for r in results:
        if "workload" not in r or r["workload"] in ("M", "F"):
            out.append(r)
            continue
        cells.setdefault((r["system"], r["workload"], r.get("clients")), []).append(r)
    for runs in cells.values():
        good = sorted((r for r in runs if not r.get("failed")), key=lambda r: num(r, rank_key(r)))
        if not good:
            out.append(runs[0])
            continue
        m = dict(good[(len(good) - 1) // 2])
        m["rounds"] = [num(r, rank_key(r)) for r in good]
        m["failed_rounds"] = len(runs) - len(good)
        out.append(m)
    return out


def failover(args, results):
    """F on dlock-3: the leader killed under load, 16 clients."""
    work = tempfile.mkdtemp(prefix="dlock-bench-failover-")
    ctx = dlocktest.Context("bench", work)
    try:
        cl = ctx.cluster(3, **DLOCKD_TIMEOUTS)
        leader = cl.wait_leader()
        started = Started(",".join(cl.addrs()), [s.pid for s in cl.servers], None)
        d = max(args.duration, 6)
        saved = args.duration
        args.duration = d
        res = run_bench(args, "dlock-3", started, "F", 16,
                        ["--kill", str(leader.pid), "--kill-after", str(d / 2)])
        args.duration = saved
        leader.expect_exit = True
        results.append(res)
        print("  failover: next grant %s ms after the kill; %s of %s held locks lost"
              % (res.get("failover_ms"), res.get("held_locks_lost"), res.get("held_locks")))
    finally:
        ctx.finish()
        shutil.rmtree(work, ignore_errors=True)


def many_locks(args, results):
    """M: 1,000,000 held locks in one dlockd (bench/locks.sh): memory per
    lock and the time until it serves again after kill -9."""
    env = dict(os.environ, DLOCKD=os.path.join(args.build, "dlockd"))
    r = subprocess.run(["sh", os.path.join(HERE, "locks.sh"), str(args.many)],
                       capture_output=True, text=True, env=env, timeout=1800)
    table = [l for l in r.stdout.splitlines() if l.startswith("|")]
    print("\n".join(table) if table else "M failed: %s" % r.stderr.strip()[-300:], flush=True)
    results.append({"system": "dlock-1", "workload": "M", "locks": args.many,
                    "table": table, "failed": None if table else r.stderr.strip()[-300:]})


def num(r, k):
    try:
        return float(r[k])
    except (KeyError, ValueError):
        return None


def table(results, workload, systems, clients):
    rows = ["| system | " + " | ".join("%d clients: ops/s, p50 / p99 ms" % c for c in clients) +
            " | server CPU (the clients' CPU), RSS at %d |" % clients[-1],
            "|---|" + "---|" * (len(clients) + 1)]
    for s in systems:
        cells, last = [], None
        for c in clients:
            r = next((x for x in results if x.get("system") == s and x.get("workload") == workload
                      and int(x.get("clients", -1)) == c), None)
            if r is None or r.get("failed"):
                cells.append("-" if r is None else "failed")
                continue
            cells.append("%s, %.2f / %.2f" % (format(int(num(r, "ops_per_s")), ","),
                                              num(r, "acquire_p50_us") / 1000,
                                              num(r, "acquire_p99_us") / 1000))
            last = r
        extra = "-"
        if last:
            extra = "%s%%%s, %s MiB" % (last.get("server_cpu_pct"),
                                        " (%s%%)" % last["bench_cpu_pct"]
                                        if "bench_cpu_pct" in last else "",
                                        last.get("server_rss_mib"))
        rows.append("| %s | %s | %s |" % (s, " | ".join(cells), extra))
    return "\n".join(rows)


def spread(results, args, systems):
    """Every round's throughput of each cell, lowest first."""
    cols = [(w, c) for w in args.workloads
            for c in (args.clients if w in ("U", "H") else [max(args.clients)])]
    rows = ["| system | " + " | ".join("%s %d" % wc for wc in cols) + " |",
            "|---|" + "---|" * len(cols)]
    for s in systems:
        cells = []
        for w, c in cols:
            r = next((x for x in results if x.get("system") == s and x.get("workload") == w
                      and int(x.get("clients", -1)) == c and x.get("rounds")), None)
            cells.append(" / ".join(format(int(v), ",") for v in r["rounds"]) +
                         (" (%d failed)" % r["failed_rounds"] if r["failed_rounds"] else "")
                         if r else "-")
        if any(c != "-" for c in cells):
            rows.append("| %s | %s |" % (s, " | ".join(cells)))
    return "\n".join(rows)


def write_report(args, results, systems):
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    results = medians(results)
    ver = versions()
    how = "%g s per cell after %g s of warm-up" % (args.duration, args.warmup)
    if args.rounds > 1:
        how += ("; %d rounds, the systems in turn and their order rotated each round, each "
                "cell the round with the median throughput (the paced runs: the median p99)"
                % args.rounds)
    out = ["# dlock-bench results", "",
           "%s, %s; %s (`python3 bench/compare.py --duration %g --warmup %g --rounds %d`)."
           % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), machine(), how,
              args.duration, args.warmup, args.rounds), "",
           "Versions: %s." % ", ".join("%s %s" % kv for kv in ver.items()), ""]
    names = {"U": "U: uncontended (each client its own lock: acquire, release)",
             "H": "H: one hot lock (acquire waiting, release): handovers",
             "R": "R: reads of a held lock's state",
             "S": "S: session churn (open a session, acquire, release, close)",
             "D": "D: one lock all clients hold shared (acquire shared, release)",
             "P": "P: one semaphore of 8 all clients want (take a permit waiting, give it "
                  "back)"}
    for w in args.workloads:
        counts = args.clients if w in ("U", "H") else [max(args.clients)]
        out += ["## " + names[w], "", table(results, w, systems, counts), ""]
    half = [r for r in results if r.get("workload") == "U-half" and not r.get("failed")]
    if half:
        out += ["## U at half the peak (paced: the peak's clients, and one client at half "
                "its own peak)", "",
                "Latency from the scheduled start when the client was late for it, from its "
                "wake-up when it had slept until then (the benchmark's own late wake-ups "
                "left out); the last column counts from the scheduled start in every case.",
                "",
                "| system | clients | ops/s | acquire p50 / p99 / p99.9 ms | p99 from the "
                "schedule ms |", "|---|---|---|---|---|"]
        for r in sorted(half, key=lambda r: (int(r["clients"]), systems.index(r["system"])
                                             if r["system"] in systems else 99)):
            out.append("| %s | %s | %s | %.2f / %.2f / %.2f | %.2f |" % (
                r["system"], r["clients"], format(int(num(r, "ops_per_s")), ","),
                num(r, "acquire_p50_us") / 1000, num(r, "acquire_p99_us") / 1000,
                num(r, "acquire_p999_us") / 1000, (num(r, "acquire_sched_p99_us") or 0) / 1000))
        out.append("")
    traced = [r for r in results if r.get("trace", {}).get("writes", {}).get("count")
              and r.get("workload") in ("U-half", "H") and not r.get("failed")]
    if traced:
        out += ["## Where dlock's time goes (server side: SERVER.TRACE of the leader)", "",
                "Each write the leader proposed, from the turn of its loop that read it to "
                "its reply: the band of totals (us) its p50, p99 and p99.9 fell in, and the "
                "mean of each step in that band (docs/operations.md, \"Where a request's "
                "time goes\"): read (the turn's work before it), write (waiting for the "
                "log write that carries it), synced (the leader's write and fsync), acked "
                "(a follower's acknowledgement after that), committed, applied, replied. "
                "Acquires and releases both count; the clients' latency above is the "
                "acquire's alone, and includes the network and the client.", "",
                "| system | cell | quantile | total us | read | proposed | write | synced | "
                "acked | committed | applied | replied |", "|---|---|---|---|---|---|---|---|"
                "---|---|---|---|"]
        for r in sorted(traced, key=lambda r: (systems.index(r["system"]) if r["system"]
                                               in systems else 99, r["workload"],
                                               int(r["clients"]))):
            w = r["trace"]["writes"]
            for q in w["quantiles"]:
                if q["q"] not in (0.5, 0.99, 0.999):
                    continue
                st = q["steps_us"]
                out.append("| %s | %s %s | p%s | %d-%d | %s |" % (
                    r["system"], r["workload"], r["clients"], ("%g" % (q["q"] * 100)),
                    q["total_lo_us"], q["total_hi_us"],
                    " | ".join(str(st.get(k, "")) for k in (
                        "read", "proposed", "write", "synced", "acked", "committed",
                        "applied", "replied"))))
        out.append("")
    if args.rounds > 1:
        out += ["## Spread: each round's ops/s, lowest first", "", spread(results, args, systems),
                ""]
    m = [r for r in results if r.get("workload") == "M" and r.get("table")]
    if m:
        out += ["## M: %s held locks in one dlockd (`bench/locks.sh %s`)" % (
            format(m[0]["locks"], ","), m[0]["locks"]), ""] + m[0]["table"] + [""]
    f = [r for r in results if r.get("workload") == "F"]
    if f:
        r = f[0]
        out += ["## F: failover (dlock, 3 servers, 16 clients, the leader killed)", "",
                "Next grant %s ms after the kill; %s of %s locks held across the kill lost; "
                "%s errors." % (r.get("failover_ms"), r.get("held_locks_lost"),
                                r.get("held_locks"), r.get("errors")), ""]
    skipped = [r for r in results if r.get("skipped") or (r.get("failed") and "workload" not in r)]
    for r in skipped:
        out.append("- %s: %s" % (r["system"], r.get("skipped") or "failed: " + r["failed"]))
    path = os.path.join(args.out, "results.md")
    with open(path, "w") as fh:
        fh.write("\n".join(out) + "\n")
    print("wrote %s" % path)
    plot(args, results, systems)


def plot(args, results, systems):
    if shutil.which("gnuplot") is None:
        print("no gnuplot (Debian package gnuplot-nox): no plot")
        return
    dat = os.path.join(args.out, "results.dat")
    cols = []
    with open(dat, "w") as f:
        for w in ("U", "H"):
            for s in systems:
                rows = [r for r in results if r.get("system") == s and r.get("workload") == w
                        and not r.get("failed")]
                if not rows:
                    continue
                f.write("# %s %s\n" % (w, s))
                for r in sorted(rows, key=lambda r: int(r["clients"])):
                    f.write("%s %s %s\n" % (r["clients"], r["ops_per_s"],
                                            num(r, "acquire_p99_us") / 1000))
                f.write("\n\n")
                cols.append((w, s))
    plots = []
    for panel, (w, col, ylabel) in enumerate((("U", 2, "U: ops/s"), ("H", 2, "H: handovers/s"),
                                              ("U", 3, "U: acquire p99 (ms)"),
                                              ("H", 3, "H: acquire p99 (ms)"))):
        lines = ["'%s' index %d using 1:%d with linespoints title '%s'" % (dat, i, col, s)
                 for i, (ww, s) in enumerate(cols) if ww == w]
        if lines:
            plots.append("set title '%s'; set ylabel '%s'; plot %s" % (ylabel, ylabel,
                                                                      ", ".join(lines)))
    script = ("set terminal pngcairo size 1400,1000; set output '%s';"
              "set multiplot layout 2,2; set logscale xy; set xlabel 'clients'; set key left top;"
              "%s; unset multiplot" % (os.path.join(args.out, "results.png"), "; ".join(plots)))
    r = subprocess.run(["gnuplot", "-e", script], capture_output=True, text=True)
    if r.returncode != 0:
        print("gnuplot failed: %s" % r.stderr.strip())
    else:
        print("wrote %s" % os.path.join(args.out, "results.png"))


def versions():
    def first_line(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True,
                                  timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None
    out = {"dlock": first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"])}
    v = first_line(["redis-server", "--version"])
    if v:
        out["redis"] = next((w[2:] for w in v.split() if w.startswith("v=")), v)
    v = first_line(["etcd", "--version"])
    if v:
        out["etcd"] = v.split()[-1]
    try:
        out["zookeeper"] = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "zookeeper"],
                                          capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return {k: v for k, v in out.items() if v}


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return "%d cores (%s), Linux %s" % (os.cpu_count(), model, os.uname().release)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--clients", default="1,16,64")
    ap.add_argument("--systems", default=",".join(ALL_SYSTEMS))
    ap.add_argument("--workloads", default="U,H,R,S")
    ap.add_argument("--no-failover", action="store_true")
    ap.add_argument("--many", type=int, default=1000000,
                    help="held locks for M (0: no M)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure every system this many times; cells are medians")
    ap.add_argument("--quick", action="store_true", help="3 s per cell, 1 s warm-up")
    args = ap.parse_args()
    if not 1 <= args.rounds <= 99:
        ap.error("--rounds must be from 1 to 99")
    if args.quick:
        args.duration, args.warmup = 3, 1
    args.clients = [int(c) for c in args.clients.split(",")]
    args.workloads = args.workloads.split(",")
    args.bench = os.path.join(args.build, "bench", "dlock-bench")
    args.peak_clients = {}  # system -> the client count of its U peak
    os.environ.setdefault("DLOCKD", os.path.join(args.build, "dlockd"))
    systems = args.systems.split(",")
    results = []
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    try:
        for rnd in range(args.rounds):
            k = rnd % len(systems)
            for s in systems[k:] + systems[:k]:
                print("== %s%s" % (s, " (round %d of %d)" % (rnd + 1, args.rounds)
                                   if args.rounds > 1 else ""), flush=True)
                measure(args, s, results, rnd)
        if not args.no_failover and "dlock-3" in systems:
            print("== failover", flush=True)
            failover(args, results)
        if args.many > 0 and "dlock-1" in systems:
            print("== many locks", flush=True)
            many_locks(args, results)
    finally:
        dlocktest._kill_everything()
    write_report(args, results, [s for s in systems])
    return 0


if __name__ == "__main__":
    sys.exit(main())
