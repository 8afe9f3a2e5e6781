"""clients - the language clients (clients/python, java, go, node) beside
libdlock on the same cluster, in one run: the U workload (each client its
own lock: acquire, release) and H (one hot lock: acquire waiting, release),
C clients each (Python threads, asyncio tasks, Java threads, goroutines,
Node.js promises; dlock-bench's clients for libdlock), the systems in turn,
R rounds, medians.

    python3 bench/clients.py [--clients 64] [--duration 4] [--rounds 3]
        [--build build] [--servers LIST]

The Java client is measured when it is built (mvn -f clients/java
test-compile) and java is on the PATH; the Go client when go is (it is built
into build/bench/dlock-gobench); the Node.js client when it is built
(clients/node/test.py).

Without --servers it starts a 3-node cluster of build/dlockd in a
temporary directory (tests/system/dlocktest.py) and stops it at the end.
Prints one line per cell and a table of medians (ops/s, acquire p50 / p99
ms). Standard library only.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))

import dlock  # noqa: E402
import dlock.aio  # noqa: E402
import dlocktest  # noqa: E402


def pct(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def run_threads(servers, workload, clients, duration, warmup):
    client = dlock.Client(servers, timeout=10.0)
    sessions = [client.session(ttl=10.0) for _ in range(clients)]
    lat, ops, start_at = [], [0], time.monotonic() + warmup
    stop_at = start_at + duration
    mu = threading.Lock()

    def worker(i):
        s = sessions[i]
        name = "py-u-%d" % i if workload == "U" else "py-hot"
        mine, n = [], 0
        lock = s.lock(name, wait=10.0 if workload == "H" else None, owner="w%d" % i)
        while True:
            t0 = time.monotonic()
            if t0 >= stop_at:
                break
            lock.acquire()
            t1 = time.monotonic()
            lock.release()
            if t0 >= start_at:
                mine.append(t1 - t0)
                n += 1
        with mu:
            lat.extend(mine)
            ops[0] += n

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for s in sessions:
        s.close()
    client.close()
    return ops[0] / duration, lat


def run_tasks(servers, workload, clients, duration, warmup):
    async def main():
        client = dlock.aio.Client(servers, timeout=10.0)
        sessions = [await client.session(ttl=10.0) for _ in range(clients)]
        lat, ops = [], [0]
        start_at = time.monotonic() + warmup
        stop_at = start_at + duration

        async def worker(i):
            name = "py-au-%d" % i if workload == "U" else "py-ahot"
            lock = sessions[i].lock(name, wait=10.0 if workload == "H" else None,
                                    owner="t%d" % i)
            while True:
                t0 = time.monotonic()
                if t0 >= stop_at:
                    break
                await lock.acquire()
                t1 = time.monotonic()
                await lock.release()
                if t0 >= start_at:
                    lat.append(t1 - t0)
                    ops[0] += 1

        await asyncio.gather(*(worker(i) for i in range(clients)))
        for s in sessions:
            await s.close()
        await client.close()
        return ops[0] / duration, lat
    return asyncio.run(main())


def run_libdlock(bench, servers, workload, clients, duration, warmup):
    out = subprocess.run([bench, "--system", "dlock", "--servers", ",".join(servers),
                          "--workload", workload, "--clients", str(clients),
                          "--duration", str(duration), "--warmup", str(warmup)],
                         capture_output=True, text=True, timeout=duration + warmup + 120)
    f = dict(kv.split("=", 1) for kv in out.stdout.split() if "=" in kv)
    if "ops_per_s" not in f:
        raise RuntimeError("dlock-bench: %s %s" % (out.stdout, out.stderr))
    return float(f["ops_per_s"]), (float(f["acquire_p50_us"]) / 1e6,
                                   float(f["acquire_p99_us"]) / 1e6)


JAVA = os.path.join(ROOT, "clients", "java", "dlock-client", "target")


def run_java(servers, workload, clients, duration, warmup):
    cp = ":".join([os.path.join(JAVA, "classes"), os.path.join(JAVA, "test-classes")])
    return run_line(["java", "-cp", cp, "org.dlock.client.Bench"]
                    + bench_args(servers, workload, clients, duration, warmup), duration, warmup)


def run_line(argv, duration, warmup):
    """Runs a client's bench program; its dlock-bench-like line, parsed."""
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + warmup + 120)
    f = dict(kv.split("=", 1) for kv in out.stdout.split() if "=" in kv)
    if "ops_per_s" not in f:
        raise RuntimeError("%s: %s %s" % (argv[0], out.stdout, out.stderr))
    return float(f["ops_per_s"]), (float(f["acquire_p50_us"]) / 1e6,
                                   float(f["acquire_p99_us"]) / 1e6)


def bench_args(servers, workload, clients, duration, warmup):
    return [",".join(servers), workload, str(clients), str(duration), str(warmup)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--servers", default="")
    args = ap.parse_args()
    ctx = None
    if args.servers:
        servers = args.servers.split(",")
    else:
        os.environ.setdefault("DLOCKD", os.path.join(args.build, "dlockd"))
        ctx = dlocktest.Context("clients-bench", tempfile.mkdtemp(prefix="dlock-clients-bench-"))
        cl = ctx.cluster(3)
        leader = cl.wait_leader()
        servers = [leader.addr] + [s.addr for s in cl.servers if s is not leader]
    bench = os.path.join(args.build, "bench", "dlock-bench")
    systems = ["libdlock", "python-threads", "python-asyncio"]
    if shutil.which("java") and os.path.isdir(os.path.join(JAVA, "test-classes")):
        systems.append("java-threads")
    gobench = os.path.join(args.build, "bench", "dlock-gobench")
    if shutil.which("go"):
        r = subprocess.run(["go", "build", "-o", gobench, "./cmd/dlock-gobench"],
                           cwd=os.path.join(ROOT, "clients", "go"), capture_output=True, text=True)
        if r.returncode == 0:
            systems.append("go-goroutines")
    nodebench = os.path.join(ROOT, "clients", "node", "bench.js")
    if shutil.which("node") and os.path.exists(os.path.join(ROOT, "clients", "node", "dist")):
        systems.append("node-promises")
    cells = {}
    try:
        for r in range(args.rounds):
            k = r % len(systems)
            order = systems[k:] + systems[:k]
            for system in order:
                for w in ("U", "H"):
                    if system == "libdlock":
                        rate, (p50, p99) = run_libdlock(bench, servers, w, args.clients,
                                                        args.duration, args.warmup)
                    elif system == "go-goroutines":
                        rate, (p50, p99) = run_line([gobench] + bench_args(
                            servers, w, args.clients, args.duration, args.warmup),
                            args.duration, args.warmup)
                    elif system == "node-promises":
                        rate, (p50, p99) = run_line(["node", nodebench] + bench_args(
                            servers, w, args.clients, args.duration, args.warmup),
                            args.duration, args.warmup)
                    elif system == "java-threads":
                        rate, (p50, p99) = run_java(servers, w, args.clients, args.duration,
                                                    args.warmup)
                    else:
                        fn = run_threads if system == "python-threads" else run_tasks
                        rate, lat = fn(servers, w, args.clients, args.duration, args.warmup)
                        p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
                    cells.setdefault((system, w), []).append((rate, p50, p99))
                    print("round %d %-15s %s %d clients: %8.0f ops/s, acquire p50 %.2f ms, "
                          "p99 %.2f ms" % (r + 1, system, w, args.clients, rate, p50 * 1e3,
                                           p99 * 1e3), flush=True)
    finally:
        if ctx is not None:
            ctx.finish()
    print()
    print("| system | U, %d clients: ops/s (p50 / p99 ms) | H, %d clients: ops/s (p50 / p99 ms) |"
          % (args.clients, args.clients))
    print("|---|---|---|")
    for system in systems:
        row = []
        for w in ("U", "H"):
            runs = sorted(cells[(system, w)])
            rate, p50, p99 = runs[len(runs) // 2]
            row.append("%s (%.2f / %.2f)" % (format(int(statistics.median(
                [x[0] for x in runs])), ","), p50 * 1e3, p99 * 1e3))
        print("| %s | %s | %s |" % (system, row[0], row[1]))


if __name__ == "__main__":
    main()
