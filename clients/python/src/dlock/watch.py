"""Watches: every change of a name's holders, in the order the cluster
applied them, each with its revision (docs/protocol.md §4, Watches). A
watch reads the server's RESP3 pushes over a connection of its own; after
a failure it goes on from another server from the last change it gave,
so that nothing is missed and nothing given twice."""

import socket
import time

from . import _conn, _resp, errors
from .errors import DlockError

__all__ = ["Watch", "Change"]

PING_EVERY = 5.0  # seconds without a push before the connection is tested


class Change:
    """One change: revision, event (granted, released, lost, withdrawn,
    downgraded, proclaimed, or gone: the changes before revision are no
    longer kept, read the state and go on), and the hold it is about:
    session, owner, token, exclusive and shared (its holds after it),
    holders (the name's after it), value (an election's)."""

    __slots__ = ("name", "revision", "event", "session", "owner", "token", "exclusive",
                 "shared", "holders", "value")

    def __init__(self, a):
        text = [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in a]
        (self.name, self.revision, self.event, self.session, self.owner, self.token,
         self.exclusive, self.shared, self.holders, self.value) = (
            text[1], a[2], text[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10])

    def __repr__(self):
        return "<Change %s r%d %s session=%s token=%s holders=%s>" % (
            self.name, self.revision, self.event, self.session, self.token, self.holders)


class Watch:
    """Iterates over the changes of name: from now (from_revision None: the
    moment it is made), or after from_revision. timeout: how long one next() waits for a change
    (None: for ever), then TimeoutError. close() ends it."""

    def __init__(self, client, name, from_revision=None, timeout=None):
        self.client = client
        self.name = name
        self.revision = from_revision  # the last change given is of it
        self._given = 0                # changes of that revision given
        self.timeout = timeout
        self._conn = None
        self._at = 0
        self._closed = False
        self._skip = 0
        self._connect()  # from now: from this moment, not the first next()

    def __iter__(self):
        return self

    def _connect(self):
        c = self.client
        deadline = time.monotonic() + c.timeout
        last = None
        while time.monotonic() < deadline:
            addr = c.servers[self._at % len(c.servers)]
            self._at += 1
            try:
                conn = _conn.Conn(addr, min(2.0, c.timeout), c._ssl, c._user, c._password)
                hello = conn.call(["HELLO", "3"], c.timeout)
                if isinstance(hello, _resp.ErrorReply):
                    raise errors.from_reply(hello.message)
                args = ["WATCH", self.name]
                if self.revision is not None:
                    # Again from the start of the revision given last: the
                    # changes of it given already are passed over.
                    args += ["FROM", max(0, self.revision - (1 if self._given else 0))]
                reply = conn.call(args, c.timeout)
                if isinstance(reply, _resp.ErrorReply):
                    conn.close()
                    raise errors.from_reply(reply.message)
                if self.revision is None:
                    self.revision, self._given = reply, 0
                self._skip = self._given
                self._conn = conn
                return
            except errors.ServerError:
                raise
            except (OSError, DlockError) as e:
                last = e
                time.sleep(0.05)
        raise errors.Unavailable("no server to watch %s from (last: %s)" % (self.name, last))

    def __next__(self):
        end = None if self.timeout is None else time.monotonic() + self.timeout
        while not self._closed:
            if self._conn is None:
                self._connect()
            wait = PING_EVERY if end is None else min(PING_EVERY, end - time.monotonic())
            if wait <= 0:
                raise TimeoutError("no change of %s in %.1f s" % (self.name, self.timeout))
            try:
                v = self._read(wait)
            except socket.timeout:
                try:
                    self._conn.sock.sendall(_resp.encode(["PING"]))
                    continue
                except OSError:
                    v = None
            except OSError:
                v = None
            if v is None:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                continue
            if not isinstance(v, _resp.Push) or len(v) < 11 or v[0] != b"watch":
                continue  # a PING's answer
            ch = Change(v)
            if self.revision is not None and ch.revision < self.revision:
                continue
            if ch.revision == self.revision and self._skip > 0:
                self._skip -= 1
                continue
            if ch.revision != self.revision:
                self.revision, self._given = ch.revision, 0
            self._given += 1
            return ch
        raise StopIteration

    def _read(self, timeout):
        conn = self._conn
        while True:
            v = conn.reader.get()
            if v is not _resp.NOTHING:
                return v
            conn.sock.settimeout(timeout)
            data = conn.sock.recv(65536)
            if not data:
                return None
            conn.reader.feed(data)

    def close(self):
        self._closed = True
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
