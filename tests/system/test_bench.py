"""test_bench.py - dlock-bench ($DLOCK_BENCH, default build/bench/dlock-bench)
and bench/compare.py against real dlockd: that each workload does the
operations it counts (the servers' own counts agree), that the latencies it
prints are those of the operations it traced, that F reports a kept lock as
kept and a lost one as lost, that bad arguments are refused, and that
compare.py's rounds give each cell its median round."""

import json
import os
import re
import subprocess
import sys

import dlocktest
from dlocktest import check, eq

LATENCY_KEYS = ("p50", "p99", "p999", "max")


def bench_path():
    return dlocktest.binary_path("DLOCK_BENCH", "build/bench/dlock-bench")


def run_bench(servers, *args, system="dlock", pids=(), timeout=60):
    """Runs dlock-bench; returns (exit code, the key=value line as a dict,
    stderr)."""
    argv = [bench_path(), "--system", system, "--servers", servers] + [str(a) for a in args]
    if pids:
        argv += ["--pids", ",".join(str(p) for p in pids)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       env=dlocktest.tool_env(), stdin=subprocess.DEVNULL)
    dlocktest.no_sanitizer_report(p.stderr, "dlock-bench")
    lines = p.stdout.strip().splitlines()
    res = dict(kv.split("=", 1) for kv in lines[-1].split()) if lines else {}
    return p.returncode, res, p.stderr


def check_latencies(res, what):
    v = [int(res["%s_%s_us" % (what, k)]) for k in LATENCY_KEYS]
    check(0 < v[0] <= v[1] <= v[2] <= v[3], "%s latencies p50 <= p99 <= p99.9 <= max: %r"
          % (what, v))


def last_token(srv):
    """INFO's last_token: the fencing token of the latest grant."""
    return int(dlocktest.info_fields(srv)["last_token"])


def test_workloads_do_what_they_count(ctx):
    """U, H, R and S against one dlockd, 4 clients for 1 s each: no errors,
    throughput = operations / seconds, ordered latencies, the servers' CPU
    and RSS; the server's last token moved by at least the operations
    counted (each acquire of U, H and S is a grant with a new token)."""
    srv = ctx.single()
    for w in "UHRS":
        token0 = last_token(srv)
        rc, res, err = run_bench(srv.addr, "--workload", w, "--clients", 4, "--duration", 1,
                                 "--warmup", 0.2, pids=[srv.pid])
        eq(rc, 0, "%s: exit code (stderr %r)" % (w, err))
        eq((res["system"], res["workload"], res["clients"], res["errors"]), ("dlock", w, "4", "0"),
           "%s: what ran" % w)
        ops, secs = int(res["ops"]), float(res["duration_s"])
        check(ops > 0, "%s: no operation in %s s" % (w, secs))
        check(abs(float(res["ops_per_s"]) - ops / secs) <= max(1, 0.06 * ops / secs),
              "%s: ops_per_s %s against %d ops in %s s" % (w, res["ops_per_s"], ops, secs))
        check_latencies(res, "acquire")
        check_latencies(res, "op")
        check(float(res["server_rss_mib"]) > 0 and int(res["server_cpu_pct"]) >= 0 and
              int(res["bench_cpu_pct"]) > 0, "%s: the server's CPU and RSS, the "
              "benchmark's CPU: %r" % (w, res))
        grants = last_token(srv) - token0
        if w == "R":
            check(grants <= 1, "R: %d grants for reads" % grants)
        else:
            check(grants >= ops, "%s: %d operations counted, %d grants" % (w, ops, grants))


def test_trace_agrees_with_the_printed_latencies(ctx):
    """--trace writes every measured operation; the acquire percentiles
    computed from it are the ones printed, also when paced (--rate)."""
    srv = ctx.single()
    for extra in ((), ("--rate", 400)):
        path = os.path.join(ctx.dir, "trace.txt")
        rc, res, err = run_bench(srv.addr, "--workload", "U", "--clients", 2, "--duration", 1,
                                 "--warmup", 0.2, "--trace", path, *extra)
        eq(rc, 0, "exit code (stderr %r)" % err)
        with open(path) as f:
            rows = [l.split() for l in f if not l.startswith("#")]
        eq(len(rows), int(res["ops"]), "traced operations %s" % (extra,))
        acq = sorted(float(r[3]) - float(r[2]) for r in rows)
        for k, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
            want = acq[int(q * (len(acq) - 1) + 0.5)]
            got = int(res["acquire_%s_us" % k])
            check(abs(got - want) <= 1, "acquire %s %s: printed %d us, traced %.1f us"
                  % (k, extra, got, want))
        if extra:
            check("acquire_sched_p99_us" in res, "paced: latency from the schedule printed")
            check(all(float(r[2]) >= float(r[1]) - 0.2 for r in rows),
                  "paced: no operation starts before its schedule")
            check(abs(float(res["ops_per_s"]) - 400) <= 40, "paced at 400/s: %s ops/s"
                  % res["ops_per_s"])


def test_failover_counts_kept_and_lost_locks(ctx):
    """F: with 3 servers and the leader killed, the next grant comes and no
    held lock is lost; with one server killed, there is no next grant and
    every held lock is reported lost (the check can fail)."""
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    servers = ",".join(cl.addrs())
    rc, res, err = run_bench(servers, "--workload", "F", "--clients", 4, "--duration", 4,
                             "--warmup", 0.2, "--kill", leader.pid, "--kill-after", 1.5,
                             "--ttl-ms", 10000, pids=[s.pid for s in cl.servers])
    leader.expect_exit = True
    eq(rc, 0, "exit code (stderr %r)" % err)
    check(0 < float(res["failover_ms"]) < 2500, "failover_ms %s" % res["failover_ms"])
    eq((res["held_locks"], res["held_locks_lost"]), ("4", "0"), "held locks, lost")

    srv = ctx.server(9)
    srv.start()
    srv.wait_leader()
    rc, res, err = run_bench(srv.addr, "--workload", "F", "--clients", 2, "--duration", 2,
                             "--warmup", 0.2, "--kill", srv.pid, "--kill-after", 0.5,
                             "--ttl-ms", 1000, timeout=120)
    srv.expect_exit = True
    eq(rc, 0, "exit code (stderr %r)" % err)
    eq((res["failover_ms"], res["held_locks"], res["held_locks_lost"]), ("-1", "2", "2"),
       "no server left: no next grant, every held lock lost")


def test_bad_arguments_are_refused(ctx):
    """Each bad argument exits 2 with a message, before any connection."""
    base = ["--system", "dlock", "--servers", "x"]
    bad = [["--workload", "U"],                                      # no --system
           ["--system", "nosuch", "--servers", "x", "--workload", "U"],
           base[:3]]                                                 # --servers without a value
    bad += [base + extra for extra in (
        ["--workload", "UX"], ["--workload", "Q"],
        ["--clients", "0"], ["--clients", "2000"], ["--clients", "4x"],
        ["--duration", "nan"], ["--duration", "1e999"], ["--duration", "0"],
        ["--warmup", "-1"], ["--rate", "-5"], ["--ttl-ms", "ten"], ["--pids", "1,x"],
        ["--workload", "F"],                                         # no --kill
        ["--workload", "F", "--kill", "1", "--kill-after", "20", "--duration", "10"],
        ["--bogus", "1"])]
    for argv in bad:
        p = subprocess.run([bench_path()] + argv, capture_output=True, text=True, timeout=10,
                           env=dlocktest.tool_env(), stdin=subprocess.DEVNULL)
        dlocktest.no_sanitizer_report(p.stderr, "dlock-bench")
        eq(p.returncode, 2, "exit code of %r (stderr %r)" % (argv, p.stderr))
        check(p.stderr.startswith("dlock-bench: ") or "usage:" in p.stderr,
              "a message for %r: %r" % (argv, p.stderr))
        eq(p.stdout, "", "nothing measured for %r" % argv)


def test_compare_rounds_give_median_cells(ctx):
    """compare.py with --rounds 3 on one dlockd: every round measured and
    kept in results.json, each table cell the round with the median
    throughput, and the spread table giving all three."""
    out = os.path.join(ctx.dir, "results")
    build = os.path.dirname(os.path.dirname(bench_path()))
    p = subprocess.run([sys.executable, os.path.join(dlocktest.ROOT, "bench", "compare.py"),
                        "--systems", "dlock-1", "--workloads", "U", "--clients", "1,2",
                        "--duration", "0.5", "--warmup", "0.2", "--rounds", "3",
                        "--no-failover", "--many", "0", "--out", out, "--build", build],
                       capture_output=True, text=True, timeout=110,
                       env=dlocktest.tool_env(), stdin=subprocess.DEVNULL)
    eq(p.returncode, 0, "compare.py's exit code (stderr %r)" % p.stderr[-500:])
    with open(os.path.join(out, "results.json")) as f:
        runs = json.load(f)
    with open(os.path.join(out, "results.md")) as f:
        md = f.read()
    for c in ("1", "2"):
        rounds = [r for r in runs if r.get("workload") == "U" and r.get("clients") == c]
        eq(sorted(r["round"] for r in rounds), [0, 1, 2], "U with %s clients: rounds" % c)
        check(not any(r.get("failed") for r in rounds), "failed rounds: %r" % rounds)
        ops = sorted(int(float(r["ops_per_s"])) for r in rounds)
        check(" / ".join(format(v, ",") for v in ops) in md,
              "the spread of U with %s clients, %r, in:\n%s" % (c, ops, md))
        row = next(l for l in md.splitlines() if l.startswith("| dlock-1 | ") and "%" in l)
        cell = row.split(" | ")[1 if c == "1" else 2]
        eq(re.match(r"[0-9,]+(?=, )", cell).group(0), format(ops[1], ","),
           "the cell of U with %s clients (row %r)" % (c, row))
    check("median" in md and "--rounds 3" in md, "the method stated:\n%s" % md[:600])


def peer_system_locks_and_hands_over(ctx, name):
    """A peer system's lock recipe (bench/sys_*.c), as make bench starts
    it: U and H with 4 clients, no errors; skipped (and counted so) when
    the system is not installed here."""
    sys.path.insert(0, os.path.join(dlocktest.ROOT, "bench"))
    import compare
    ok, why = compare.installed(name)
    if not ok:
        raise dlocktest.Skip("%s: %s (scripts/deps.sh bench installs it)" % (name, why))
    work = os.path.join(ctx.dir, name)
    os.makedirs(work)
    started = compare.starter(name)(work, None)
    ctx.defer(started.stop)
    for w in "UH":
        rc, res, err = run_bench(started.servers, "--workload", w, "--clients", 4,
                                 "--duration", 1, "--warmup", 0.3,
                                 system=name.partition("-")[0])
        eq(rc, 0, "%s %s: exit code (stderr %r)" % (name, w, err))
        eq(res["errors"], "0", "%s %s: errors (stderr %r)" % (name, w, err))
        check(int(res["ops"]) > 0, "%s %s: no operation" % (name, w))
        check_latencies(res, "acquire")
    started.stop()


def test_peer_redis_locks_and_hands_over(ctx):
    """Redis's lock recipe works as make bench runs it (CI has Redis)."""
    peer_system_locks_and_hands_over(ctx, "redis-always")


def test_peer_etcd_locks_and_hands_over(ctx):
    """etcd's lock recipe works as make bench runs it, when installed."""
    peer_system_locks_and_hands_over(ctx, "etcd-1")


def test_peer_zookeeper_locks_and_hands_over(ctx):
    """ZooKeeper's lock recipe works as make bench runs it, when installed."""
    peer_system_locks_and_hands_over(ctx, "zk-1")
