#!/usr/bin/env python3
"""peers.py - the peers dlock-bench runs against, on 127.0.0.1: etcd 3.4 and
ZooKeeper 3.8, 1 or 3 members, on free ports, with their data and logs in a
directory of the caller's. Standard library only.

    cluster = peers.start_etcd(3, workdir)   # or start_zk(n, workdir)
    ... dlock-bench --system etcd --servers cluster.servers --pids ...
    cluster.stop()

Each member dies with this process (PR_SET_PDEATHSIG) and is stopped by its
pid: SIGTERM, then SIGKILL after 10 s.

Manual check: python3 bench/peers.py etcd|zk N
"""

import atexit
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests", "system"))
import dlocktest  # noqa: E402  (free_port, wait_for, _die_with_parent)

HOST = "127.0.0.1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

ZK_JARS = ("/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:"
           "/usr/share/java/log4j-1.2.jar")
ZK_LOG4J = """log4j.rootLogger=WARN, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1} - %m%n
"""


class Cluster:
    """Members started here: .servers is the list for dlock-bench
    ("host:port,..."), .pids their process ids, .logs their log files."""

    def __init__(self, kind):
        self.kind = kind
        self.servers = ""
        self.procs = []
        self.logs = []
        atexit.register(self.stop)

    @property
    def pids(self):
        return [p.pid for p in self.procs]

    def spawn(self, argv, log_path, cwd):
        with open(log_path, "ab") as log:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, cwd=cwd,
                                 preexec_fn=dlocktest._die_with_parent)
        self.procs.append(p)
        self.logs.append(log_path)

    def check_alive(self):
        """Raises if a member has exited, with the end of its log."""
        for p, log in zip(self.procs, self.logs):
            if p.poll() is not None:
                with open(log, errors="replace") as f:
                    tail = f.read()[-2000:]
                raise RuntimeError("%s member %d exited with %s; %s ends:\n%s"
                                   % (self.kind, p.pid, p.returncode, log, tail))

    def stop(self):
        """SIGTERM to every member, SIGKILL to those still there after 10 s;
        safe to call twice."""
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + STOP_TIMEOUT
        for p in self.procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()

    def wait_ready(self, ready, what):
        def ok():
            self.check_alive()
            return ready()
        try:
            dlocktest.wait_for(ok, timeout=START_TIMEOUT, what=what,
                               interval=0.1)
        except BaseException:
            self.stop()
            raise


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


# ---- etcd --------------------------------------------------------------------


def etcd_healthy(port):
    """True if the member on port says it is healthy (it has a leader)."""
    try:
        with urllib.request.urlopen("http://%s:%d/health" % (HOST, port),
                                    timeout=1.0) as r:
            return r.status == 200 and json.load(r).get("health") == "true"
    except (OSError, ValueError):
        return False


def start_etcd(n, workdir):
    """Starts an etcd cluster of n members (1 or 3) with its data under
    workdir and returns it when every member is healthy."""
    if n not in (1, 3):
        raise ValueError("etcd: 1 or 3 members, not %r" % n)
    c = Cluster("etcd")
    ports = [(dlocktest.free_port(), dlocktest.free_port()) for _ in range(n)]
    initial = ",".join("e%d=http://%s:%d" % (i + 1, HOST, pp)
                       for i, (_, pp) in enumerate(ports))
    token = "dlock-bench-%d-%d" % (os.getpid(), ports[0][0])
    try:
        for i, (cp, pp) in enumerate(ports):
            name = "e%d" % (i + 1)
            d = fresh_dir(os.path.join(workdir, "etcd-" + name))
            client = "http://%s:%d" % (HOST, cp)
            peer = "http://%s:%d" % (HOST, pp)
            c.spawn(["etcd", "--name", name, "--data-dir",
                     os.path.join(d, "data"),
                     "--listen-client-urls", client,
                     "--advertise-client-urls", client,
                     "--listen-peer-urls", peer,
                     "--initial-advertise-peer-urls", peer,
                     "--initial-cluster", initial,
                     "--initial-cluster-state", "new",
                     "--initial-cluster-token", token,
                     "--logger", "zap", "--log-level", "warn"],
                    os.path.join(d, "etcd.log"), d)
    except BaseException:
        c.stop()
        raise
    c.servers = ",".join("%s:%d" % (HOST, cp) for cp, _ in ports)
    c.wait_ready(lambda: all(etcd_healthy(cp) for cp, _ in ports),
                 "etcd members healthy at " + c.servers)
    return c


# ---- ZooKeeper ---------------------------------------------------------------


def zk_mode(port):
    """The Mode line of the server's answer to srvr, or None."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as s:
            s.sendall(b"srvr")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line[6:].strip()
    return None


def zk_config(d, client_port, quorum):
    lines = ["tickTime=2000", "initLimit=10", "syncLimit=5",
             "dataDir=" + os.path.join(d, "data"),
             "clientPort=%d" % client_port, "clientPortAddress=" + HOST,
             "maxClientCnxns=0", "admin.enableServer=false",
             "4lw.commands.whitelist=srvr,ruok,mntr,stat"]
    if len(quorum) > 1:
        lines += ["server.%d=%s:%d:%d" % (j + 1, HOST, q, e)
                  for j, (q, e) in enumerate(quorum)]
    return "\n".join(lines) + "\n"


def start_zk(n, workdir):
    """Starts ZooKeeper, standalone (n=1) or an ensemble of 3, with its data
    under workdir and returns it when every server serves and, for an
    ensemble, exactly one is the leader."""
    if n not in (1, 3):
        raise ValueError("zk: 1 or 3 servers, not %r" % n)
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("zk: no java on PATH")
    c = Cluster("zk")
    clients = [dlocktest.free_port() for _ in range(n)]
    quorum = [(dlocktest.free_port(), dlocktest.free_port())
              for _ in range(n)]
    os.makedirs(workdir, exist_ok=True)
    log4j = os.path.join(workdir, "zk-log4j.properties")
    with open(log4j, "w") as f:
        f.write(ZK_LOG4J)
    try:
        for i in range(n):
            d = fresh_dir(os.path.join(workdir, "zk%d" % (i + 1)))
            os.makedirs(os.path.join(d, "data"))
            with open(os.path.join(d, "data", "myid"), "w") as f:
                f.write("%d\n" % (i + 1))
            cfg = os.path.join(d, "zoo.cfg")
            with open(cfg, "w") as f:
                f.write(zk_config(d, clients[i], quorum))
            c.spawn([java, "-Xms128m", "-Xmx256m", "-XX:+UseSerialGC",
                     "-Dlog4j.configuration=file:" + log4j,
                     "-Dzookeeper.jmx.log4j.disable=true",
                     "-cp", ZK_JARS,
                     "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg],
                    os.path.join(d, "zk.log"), d)
    except BaseException:
        c.stop()
        raise
    c.servers = ",".join("%s:%d" % (HOST, p) for p in clients)

    def ready():
        modes = [zk_mode(p) for p in clients]
        if n == 1:
            return modes == ["standalone"]
        return (all(m in ("leader", "follower") for m in modes) and
                modes.count("leader") == 1)
    c.wait_ready(ready, "ZooKeeper serving at " + c.servers)
    return c


# ---- manual check --------------------------------------------------------------


def main(argv):
    if len(argv) != 3 or argv[1] not in ("etcd", "zk") or \
            argv[2] not in ("1", "3"):
        print("usage: peers.py etcd|zk 1|3", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="peers-")
    start = start_etcd if argv[1] == "etcd" else start_zk
    t0 = time.monotonic()
    c = start(int(argv[2]), workdir)
    try:
        print("servers=%s pids=%s ready_s=%.1f workdir=%s" % (
            c.servers, ",".join(map(str, c.pids)), time.monotonic() - t0,
            workdir), flush=True)
        print("Enter (or 30 s) stops them.", flush=True)
        select.select([sys.stdin], [], [], 30.0)
    finally:
        c.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
