"""The client: a list of servers, one of which leads. It finds the leader
itself (a follower answers LEADER host:port), reconnects after failures and
retries each write with its request id, so a retry never has a second
effect (docs/protocol.md §1). Thread-safe: each call takes a connection of
its own from a pool."""

import itertools
import os
import ssl
import threading
import time

from . import _conn, _resp, errors
from .errors import DlockError, OutcomeUnknown, Unavailable

__all__ = ["Client"]

CONNECT_TIMEOUT = 2.0  # one connection attempt, at most
IDLE_PER_SERVER = 16   # idle connections kept per server


def _env(name, given):
    return given if given is not None else (os.environ.get(name) or None)


class Client:
    """A client of a dlock cluster.

    servers: "host:port,host:port" or a list of them (default:
    $DLOCK_SERVERS, else 127.0.0.1:7411). timeout: the longest a call waits
    for an answer, in seconds, across redirects and reconnects (a blocking
    acquire waits its own time on top). tls_ca, tls_cert, tls_key: TLS
    (docs/security.md; default $DLOCK_TLS_CA, $DLOCK_TLS_CERT,
    $DLOCK_TLS_KEY): without a CA, plain TCP. user, password: every
    connection logs in (default $DLOCK_USER, $DLOCK_PASSWORD). session_ttl:
    the lease, in seconds, of the session that Client.lock and the other
    shortcuts open on first use."""

    def __init__(self, servers=None, *, timeout=10.0, name=None, tls_ca=None,
                 tls_cert=None, tls_key=None, user=None, password=None,
                 session_ttl=10.0):
        servers = servers or os.environ.get("DLOCK_SERVERS") or "127.0.0.1:7411"
        if isinstance(servers, str):
            servers = [s.strip() for s in servers.split(",") if s.strip()]
        if not servers:
            raise ValueError("no server given")
        for s in servers:
            _conn.split_addr(s)
        self.servers = list(servers)
        self.timeout = float(timeout)
        self.name = name or ""
        self.session_ttl = float(session_ttl)
        tls_ca = _env("DLOCK_TLS_CA", tls_ca)
        self._ssl = None
        if tls_ca:
            try:
                self._ssl = _conn.tls_context(tls_ca, _env("DLOCK_TLS_CERT", tls_cert),
                                              _env("DLOCK_TLS_KEY", tls_key))
            except (OSError, ssl.SSLError) as e:
                raise DlockError("the TLS files do not load: %s" % e) from e
        self._user = _env("DLOCK_USER", user)
        self._password = _env("DLOCK_PASSWORD", password)
        self._mu = threading.Lock()
        self._idle = {}
        self._leader = None
        self._next = 0
        self._reached = False
        self._prefix = "py-%s-" % os.urandom(6).hex()
        self._count = itertools.count(1)
        self._session = None
        self._closed = False
        self.last_server = ""

    # -- requests
    def new_req(self):
        """A request id never used before (this client's prefix, a count)."""
        return self._prefix + str(next(self._count))

    def _take(self, addr, timeout):
        with self._mu:
            idle = self._idle.get(addr)
            if idle:
                return idle.pop()
        return _conn.Conn(addr, timeout, self._ssl, self._user, self._password)

    def _give(self, conn):
        with self._mu:
            idle = self._idle.setdefault(conn.addr, [])
            if len(idle) < IDLE_PER_SERVER and not self._closed:
                idle.append(conn)
                return
        conn.close()

    def _rotate(self, addr):
        with self._mu:
            if self._leader == addr:
                self._leader = None
            self._next += 1
            return self.servers[self._next % len(self.servers)]

    def execute(self, *args, wait=0.0, timeout=None):
        """Sends a command to the leader and returns its reply: follows
        LEADER redirects, waits out elections (NOLEADER), reconnects and
        sends it again until it is answered or the time runs out. A write
        must carry its REQ id (the methods of this package add one), so
        that sending it again is safe. With wait (seconds), args hold
        WAIT ms, which each repeat sets to the wait left. Raises the
        ServerError of the code word, OutcomeUnknown when a request went
        out and no answer came, Unavailable when none could be sent."""
        plan = self._plan(args, wait, timeout)
        step = next(plan)
        try:
            while True:
                if step[0] == "sleep":
                    time.sleep(step[1])
                    step = plan.send(None)
                    continue
                _, addr, cargs, connect_timeout, call_timeout = step
                try:
                    conn = self._take(addr, connect_timeout)
                except OSError as e:  # ssl.SSLError among them
                    step = plan.send(("connect", e))
                    continue
                try:
                    reply = conn.call(cargs, call_timeout)
                except OSError as e:
                    step = plan.send(("io", e))
                    continue
                self._give(conn)
                step = plan.send(("reply", reply))
        except StopIteration as done:
            return done.value

    def _plan(self, args, wait, timeout):
        """The retry logic of execute, without I/O (the asyncio client
        drives it too): yields ("call", addr, args, connect timeout, call
        timeout), to be sent back ("connect", error), ("io", error) or
        ("reply", value); or ("sleep", seconds), sent back None. Returns
        the reply, or raises."""
        timeout = self.timeout if timeout is None else timeout
        start = time.monotonic()
        deadline = start + timeout + wait
        wait_end = start + wait
        args = list(args)
        at = args.index("WAIT") + 1 if wait > 0 and "WAIT" in args else None
        addr = self._leader or self.servers[self._next % len(self.servers)]
        refused, sent, last = set(), False, None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if at is not None:
                args[at] = max(1, int((wait_end - time.monotonic()) * 1000))
            call_timeout = max(0.05, min(left, max(0.0, wait_end - time.monotonic())
                                         + max(1.0, timeout / 3)))
            kind, value = yield ("call", addr, list(args), min(left, CONNECT_TIMEOUT),
                                 call_timeout)
            if kind == "connect":
                if isinstance(value, ssl.SSLError):
                    raise DlockError("TLS with %s failed: %s" % (addr, value)) from value
                last = "%s: %s" % (addr, value)
                if isinstance(value, ConnectionRefusedError):
                    refused.add(addr)
                    if not self._reached and len(refused) == len(self.servers):
                        raise Unavailable("every server refused the connection (%s): nothing "
                                          "is listening there; check the server list, or "
                                          "start the servers" % ", ".join(self.servers))
                addr = self._rotate(addr)
                yield ("sleep", min(0.05, max(0.0, deadline - time.monotonic())))
                continue
            self._reached = True
            if kind == "io":
                sent, last = True, "%s: %s" % (addr, value or type(value).__name__)
                addr = self._rotate(addr)
                continue
            if isinstance(value, _resp.ErrorReply):
                if value.code == "LEADER" and len(value.message.split()) >= 2:
                    addr = value.message.split()[1]
                    with self._mu:
                        self._leader = addr
                    continue
                if value.code == "NOLEADER":
                    last, sent = "%s: %s" % (addr, value.message), True
                    yield ("sleep", min(0.05, max(0.0, deadline - time.monotonic())))
                    addr = self._rotate(addr)
                    continue
                raise errors.from_reply(value.message)
            with self._mu:
                self._leader = addr
            self.last_server = addr
            return value
        what = " ".join(str(a) for a in args[:1])
        if sent:
            raise OutcomeUnknown("no answer to %s in %.1f s (last: %s); sending it again "
                                 "is safe" % (what, timeout + wait, last))
        raise Unavailable("no server reachable for %s in %.1f s (last: %s)"
                          % (what, timeout + wait, last))

    # -- sessions and the shortcuts on a session of the client's own
    def session(self, ttl=None, **kw):
        """A new session (session.Session) with a lease of ttl seconds
        (default session_ttl), kept alive by a thread of its own."""
        from .session import Session
        return Session(self, self.session_ttl if ttl is None else ttl, **kw)

    def default_session(self):
        """The session Client.lock and the others use: opened on first
        use, and again after it was lost."""
        with self._mu:
            s = self._session
        if s is not None and not s.lost:
            return s
        from .session import Session
        s = Session(self, self.session_ttl)
        with self._mu:
            old, self._session = self._session, s
        if old is not None:
            old.close()
        return s

    def lock(self, name, **kw):
        """A lock of the client's session: handles.Makers.lock."""
        return self.default_session().lock(name, **kw)

    def shared_lock(self, name, **kw):
        return self.default_session().shared_lock(name, **kw)

    def semaphore(self, name, permits, **kw):
        return self.default_session().semaphore(name, permits, **kw)

    def leadership(self, name, value=b"", **kw):
        return self.default_session().leadership(name, value, **kw)

    def job(self, name, *, wait=0.0, on_skip=None):
        """A decorator: the function runs under the lock name, so at most
        one instance anywhere runs it at a time (the cron case). If the
        lock is held (or the wait runs out) the call is skipped: it returns
        None, after on_skip(name) if given. If the lock is lost while the
        function runs, LockLost is raised when it returns."""
        import functools

        def decorate(fn):
            @functools.wraps(fn)
            def run(*a, **k):
                lock = self.lock(name, wait=wait)
                try:
                    lock.acquire()
                except (errors.LockHeld, errors.WaitTimeout):
                    if on_skip is not None:
                        on_skip(name)
                    return None
                with lock.held():
                    return fn(*a, **k)
            return run
        return decorate

    def watch(self, name, from_revision=None, timeout=None):
        """The changes of name, as an iterator (watch.Watch): from now,
        or after from_revision."""
        from .watch import Watch
        return Watch(self, name, from_revision, timeout)

    # -- reads (linearizable, at the leader)
    def lock_status(self, name):
        """LOCK.STATUS: a dict of the lock's fields (docs/protocol.md §4)."""
        return _fields(self.execute("LOCK.STATUS", name))

    def semaphore_status(self, name):
        return _fields(self.execute("SEM.STATUS", name))

    def leader(self, name):
        """ELECT.LEADER: the election's leader session (0: none), token,
        value and more, as a dict."""
        return _fields(self.execute("ELECT.LEADER", name))

    def check(self, name, token):
        """LOCK.CHECK: whether token still holds name."""
        return self.execute("LOCK.CHECK", name, token) == 1

    # -- the end
    def close(self):
        """Closes the client's own session (its locks are released) and
        the connections. Sessions made with Client.session stay theirs to
        close."""
        with self._mu:
            s, self._session = self._session, None
        if s is not None:
            s.close()
        with self._mu:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for c in conns:
                c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _fields(reply):
    """A flat array of field, value pairs as a dict of str to value (bytes
    values of text fields as str)."""
    out = {}
    for i in range(0, len(reply) - 1, 2):
        k = reply[i].decode() if isinstance(reply[i], bytes) else reply[i]
        v = reply[i + 1]
        if isinstance(v, bytes) and k in ("name", "mode"):
            v = v.decode("utf-8", "replace")
        out[k] = v
    return out
