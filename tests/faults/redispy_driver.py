"""redispy_driver - the fault campaign's workload written with redis-py's
Lock, as a team that locks with Redis writes it: the same code against Redis
(a primary with a replica, failed over by Sentinel) and against dlock (any
server of a cluster: a follower forwards the Redis commands to the leader).

    redispy_driver.py --mode dlock|sentinel --servers LIST --stores DIR
        --history FILE [--workers W] [--first-id N] [--locks L] [--ttl-ms T]

It writes the history that faults-worker writes (tests/faults/worker.c says
the format; check.py reads it) for exclusive locks only: W threads, each
with its own client, take one of L locks with Lock.acquire (tried every
10-50 ms until the wait runs out, as Lock's blocking acquire does, so that
the attempt that succeeded is known), write to that lock's fenced register,
hold a little, write again and release with Lock.release.

safe-until is the start of the attempt that succeeded + TTL * 0.999 - 50 ms
(libdlock's margin). The register's token: against dlock, the lock's
fencing token, read with LOCK.STATUS at the leader (which a follower names)
after the acquire (the owner it shows must be the Lock's own token, else
the acquire's outcome is unknown);
against Redis, which has none, the CLOCK_MONOTONIC time of the grant,
strictly increasing in the process (as tests/faults/redis_ops.c does), so
that a register refusing a write means two holders overlapped.

--mode dlock: the servers are dlockd client addresses; a worker talks to
one and moves to the next after an error. --mode sentinel: the servers are
Sentinel addresses, and the Lock is on Sentinel's master_for("dlockfaults").
SIGTERM ends the run: each thread finishes its round and releases. Needs
redis-py (Debian's python3-redis).
"""

import argparse
import os
import random
import signal
import socket
import sys
import threading
import time

import redis
import redis.sentinel
from redis.exceptions import LockError, LockNotOwnedError, RedisError

SAFETY_MS = 50
SENTINEL_SERVICE = "dlockfaults"
TIMEOUT_S = 1.0

stopping = threading.Event()
history_mu = threading.Lock()
token_mu = threading.Lock()
last_time_token = [0]


def now_ms():
    return time.monotonic_ns() // 1000000


def err_word(e):
    """An error's name for the history: a server's error by its first word
    (LEADER, NOLEADER, ...), another by its class."""
    if isinstance(e, redis.exceptions.ResponseError) and str(e).split():
        return str(e).split()[0]
    return type(e).__name__


def split(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


class Worker:
    def __init__(self, wid, args, history):
        self.id = wid
        self.args = args
        self.history = history
        self.rng = random.Random(wid * 7919 + os.getpid())
        self.servers = args.servers.split(",")
        self.at = wid % len(self.servers)
        self.client = None
        self.server = "-"
        self.stores = {}
        self.leader_client = None
        self.leader_addr = None

    # -- the client, as its users make it
    def connect(self):
        if self.client is not None:
            return self.client
        if self.args.mode == "sentinel":
            s = redis.sentinel.Sentinel([split(a) for a in self.servers],
                                        socket_timeout=TIMEOUT_S)
            self.client = s.master_for(SENTINEL_SERVICE, socket_timeout=TIMEOUT_S,
                                       socket_connect_timeout=TIMEOUT_S)
            self.server = "sentinel"
        else:
            host, port = split(self.servers[self.at])
            self.client = redis.Redis(host=host, port=port, socket_timeout=TIMEOUT_S,
                                      socket_connect_timeout=TIMEOUT_S)
            self.server = self.servers[self.at]
        return self.client

    def broken(self):
        """After an error: a new client (and for dlock, the next server)."""
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # noqa: BLE001 - closing a broken client
                pass
        self.client = None
        self.at = (self.at + 1) % len(self.servers)

    def record(self, what, op, lock, token, safe, detail):
        line = "%d %d %s %s l%d %d %s %d %s\n" % (
            time.monotonic_ns(), self.id, what, op, lock, token, self.server, safe, detail)
        with history_mu:
            self.history.write(line)
            self.history.flush()

    # -- the registers (examples/fenced-store's protocol)
    def store_write(self, lock, token, seq):
        path = os.path.join(self.args.stores, "l%d.sock" % lock)
        s = self.stores.get(lock)
        try:
            if s is None:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(2.0)
                s.connect(path)
                self.stores[lock] = s
            s.sendall(b"WRITE %d l%d w%d-%d\n" % (token, lock, self.id, seq))
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = s.recv(128)
                if not chunk:
                    raise OSError("closed")
                answer += chunk
            answer = answer.strip()
            return "ok" if answer == b"OK" else "fail" if answer == b"STALE" else "unknown"
        except OSError:
            if s is not None:
                s.close()
            self.stores.pop(lock, None)
            return "fail" if s is None else "unknown"

    # -- the register's token
    def token_of(self, client, name, lk):
        if self.args.mode == "sentinel":
            with token_mu:
                t = max(time.monotonic_ns(), last_time_token[0] + 1)
                last_time_token[0] = t
                return t
        st = self.status(client, name)
        m = {st[i].decode() if isinstance(st[i], bytes) else st[i]: st[i + 1]
             for i in range(0, len(st) - 1, 2)}
        if m.get("owner") != lk.local.token:
            return None  # lost already: the grant is not known to be ours
        return int(m["token"])

    def status(self, client, name):
        """LOCK.STATUS at the leader: a follower forwards the Redis
        commands, not dlock's own, and names the leader instead."""
        for _ in range(3):
            try:
                return client.execute_command("LOCK.STATUS", name)
            except redis.exceptions.ResponseError as e:
                words = str(e).split()
                if not words or words[0] != "LEADER" or len(words) < 2:
                    raise
                host, port = split(words[1])
                if self.leader_client is None or self.leader_addr != words[1]:
                    self.leader_addr = words[1]
                    self.leader_client = redis.Redis(
                        host=host, port=port, socket_timeout=TIMEOUT_S,
                        socket_connect_timeout=TIMEOUT_S)
                client = self.leader_client
        raise redis.exceptions.ResponseError("LOCK.STATUS: no leader answered")

    def hold_ms(self):
        if self.rng.randrange(5) == 0:
            return 300 + self.rng.randrange(1000)
        return 5 + self.rng.randrange(40)

    def round_once(self, seq):
        lock = self.rng.randrange(self.args.locks)
        name = "l%d" % lock
        ttl = self.args.ttl_ms
        wait_ms = 6000 + self.rng.randrange(2000)
        self.record("invoke", "acquire", lock, 0, 0, "-")
        try:
            client = self.connect()
            lk = client.lock(name, timeout=ttl / 1000.0, thread_local=False)
            deadline = now_ms() + wait_ms
            while True:
                start = now_ms()
                if lk.acquire(blocking=False):
                    break
                if stopping.is_set():
                    return  # the run ends: the acquire is left open
                if now_ms() >= deadline:
                    self.record("fail", "acquire", lock, 0, 0, "EWAIT")
                    return
                time.sleep(self.rng.uniform(0.010, 0.050))
            safe = start + ttl * 999 // 1000 - SAFETY_MS
            token = self.token_of(client, name, lk)
        except RedisError as e:
            self.record("unknown", "acquire", lock, 0, 0, err_word(e))
            self.broken()
            time.sleep(self.rng.uniform(0.05, 0.15))  # then try again
            return
        if token is None:
            self.record("unknown", "acquire", lock, 0, 0, "LOST")
            return
        self.record("ok", "acquire", lock, token, safe, "-")
        store = os.path.join(self.args.stores, "l%d.sock" % lock)
        for i in range(2):
            if i == 1:
                time.sleep(self.hold_ms() / 1000.0)
            self.record("invoke", "write", lock, token, safe, store)
            if i == 0 and now_ms() >= safe:
                self.record("skip", "write", lock, token, safe, "expired")
                continue
            self.record(self.store_write(lock, token, seq), "write", lock, token, safe, store)
        self.record("invoke", "release", lock, token, 0, "-")
        try:
            lk.release()
            self.record("ok", "release", lock, token, 0, "-")
        except LockNotOwnedError:
            self.record("fail", "release", lock, token, 0, "ENOTHELD")
        except LockError:
            self.record("fail", "release", lock, token, 0, "ENOTHELD")
        except RedisError as e:
            self.record("unknown", "release", lock, token, 0, err_word(e))
            self.broken()
            time.sleep(self.rng.uniform(0.05, 0.15))

    def run(self):
        self.record("invoke", "session", -1, 0, 0, "-")
        self.record("ok", "session", -1, 0, 0, "-")
        seq = 0
        while not stopping.is_set():
            seq += 1
            self.round_once(seq)
        for s in self.stores.values():
            s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("dlock", "sentinel"), required=True)
    ap.add_argument("--servers", required=True)
    ap.add_argument("--stores", required=True)
    ap.add_argument("--history", required=True)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--first-id", type=int, default=0)
    ap.add_argument("--locks", type=int, default=3)
    ap.add_argument("--ttl-ms", type=int, default=1500)
    args = ap.parse_args()
    history = open(args.history, "a")
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    workers = [Worker(args.first_id + i, args, history) for i in range(args.workers)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(0.2)
    history.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
