"""Sessions: a lease on the cluster that a thread of the library keeps
alive, renewing it every third of its TTL. A session's locks, permits and
leaderships are held as long as it lives; when its lease can no longer be
proven (safe-until passed without a renewal, or the server ended it), it
is lost, and so is everything it held: their events are set and their
callbacks called, from the keepalive thread."""

import math
import threading
import time
import weakref

from . import errors
from ._notice import Notice
from .handles import Makers
from ._steps import drive
from .errors import DlockError, LockLost, NoSession

__all__ = ["Session", "DRIFT_PPM", "SAFETY"]

DRIFT_PPM = 1000  # how far clocks may drift apart, parts per million
SAFETY = 0.050    # seconds taken off every safe-until deadline


def safe_until(sent, ttl_ms):
    """Until when a lease renewed by a request sent at sent (monotonic
    seconds) is known to hold: the TTL shortened by the drift margin
    (rounded up) and SAFETY, as libdlock computes it."""
    margin_ms = math.ceil(ttl_ms * DRIFT_PPM / 1e6) + SAFETY * 1000
    return sent + (ttl_ms - margin_ms) / 1000.0 if ttl_ms > margin_ms else sent


class Session(Makers):
    """A session of ttl seconds (0.1 to 3600). keepalive=False: no thread;
    call keepalive() yourself, more often than ttl (a third is usual)."""

    def __init__(self, client, ttl, *, keepalive=True, name=None):
        self._setup(client, ttl)
        drive(self._open(name), client.execute)
        if keepalive:
            self._thread = threading.Thread(target=self._run, name="dlock-session-%d" % self.id,
                                            daemon=True)
            self._thread.start()

    def _setup(self, client, ttl):
        ttl_ms = int(round(ttl * 1000))
        if not 100 <= ttl_ms <= 3600000:
            raise ValueError("a session's TTL is 0.1 to 3600 seconds, not %r" % ttl)
        self.client = client
        self.ttl = ttl_ms / 1000.0
        self._ttl_ms = ttl_ms
        self._mu = threading.Lock()
        self._lost = Notice()
        self._stop = threading.Event()
        self._handles = weakref.WeakSet()
        self.lost_reason = None
        self._thread = None
        self.id = None
        self._safe_until = 0.0
        self._next_at = 0.0

    def _open(self, name):
        sent = time.monotonic()
        self.id = yield (["SESSION.OPEN", self._ttl_ms, "NAME", name or self.client.name,
                          "REQ", self.client.new_req()], {})
        self._safe_until = safe_until(sent, self._ttl_ms)
        self._next_at = sent + self.ttl / 3

    # -- the lease
    @property
    def safe_until(self):
        """Monotonic seconds (time.monotonic) until which the lease is
        known to hold; 0 once lost."""
        return 0.0 if self.lost else self._safe_until

    @property
    def lost(self):
        """True once the lease can no longer be proven. Final."""
        if not self._lost.is_set() and time.monotonic() >= self._safe_until:
            self._lose("the lease ran out without a renewal")
        return self._lost.is_set()

    @property
    def lost_event(self):
        """A threading.Event set the moment the session is lost."""
        return self._lost.event

    def on_lost(self, callback):
        """Calls callback(session) once, the moment the session is lost
        (from the keepalive thread; at once if it is lost already)."""
        self._lost.add(callback, self)

    def keepalive(self):
        """Renews the lease once (the thread does this by itself)."""
        return drive(self._keepalive(), self.client.execute)

    def _keepalive(self):
        sent = time.monotonic()
        try:
            yield (["SESSION.KEEPALIVE", self.id],
                   {"timeout": max(0.1, min(self.client.timeout, self._safe_until - sent))})
        except NoSession:
            self._lose("the server ended the session (closed, or expired)")
            raise LockLost("session %d has ended" % self.id)
        until = safe_until(sent, self._ttl_ms)
        with self._mu:
            if until > self._safe_until and not self._lost.is_set():
                self._safe_until = until
        self._next_at = sent + self.ttl / 3

    def _due(self):
        """What the keeper does next: None when the session is lost, else
        the seconds to sleep first (0: renew now)."""
        now = time.monotonic()
        if now >= self._safe_until:
            self._lose("the lease ran out without a renewal")
            return None
        return max(0.0, min(self._next_at, self._safe_until) - now)

    def _renew_failed(self):
        self._next_at = time.monotonic() + min(self.ttl / 3, 0.1)  # try again soon

    def _run(self):
        while not self._stop.is_set():
            delay = self._due()
            if delay is None:
                return
            if delay > 0:
                self._stop.wait(delay)
                continue
            try:
                self.keepalive()
            except LockLost:
                return
            except DlockError:
                self._renew_failed()

    def _lose(self, reason):
        with self._mu:
            if self._lost.is_set():
                return
            if self.lost_reason is None:
                self.lost_reason = reason
            handles = list(self._handles)
        self._stop.set()
        for h in handles:
            h._lose()
        self._lost.fire(self)

    def _add(self, h):
        with self._mu:
            self._handles.add(h)

    def _remove(self, h):
        with self._mu:
            self._handles.discard(h)

    # -- the end
    def close(self):
        """Closes the session: the server releases all it holds at once.
        Its handles report lost from then on."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        return drive(self._close(), self.client.execute)

    def _close(self):
        if self._lost.is_set():
            return
        try:
            yield (["SESSION.CLOSE", self.id, "REQ", self.client.new_req()], {})
        except (NoSession, errors.Unavailable):
            pass  # ended already, or it ends with its lease
        finally:
            self._lose("closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
