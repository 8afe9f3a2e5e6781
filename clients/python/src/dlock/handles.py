"""What a session holds: a Lock (exclusive or shared), Permits of a
semaphore, a Leadership of an election. Each is acquired once, released
once, and knows its fencing token, until when it is safe (safe_until), and
whether it was lost. Used as a context manager it acquires on entry and
releases on exit; if it was lost meanwhile, the exit raises LockLost
(unless the block raised already), so that work done without the lock is
not taken for done under it."""

import contextlib
import ctypes
import os
import threading

from . import errors
from ._notice import Notice
from ._steps import drive
from .errors import LockLost, NoSession, NotHeld

__all__ = ["Lock", "Permits", "Leadership", "Makers"]


def _ms(seconds):
    return max(0, int(round(seconds * 1000)))


class _Hold:
    _what = "the lock"

    def __init__(self, session, name, *, wait=None, owner=None, delay=None,
                 raise_on_loss=False):
        if not name:
            raise ValueError("a name is 1 to 256 bytes")
        self.session = session
        self.name = name
        self.wait = wait
        self._owner = owner
        self.delay = delay
        self.raise_on_loss = raise_on_loss
        self.token = None
        self._held = False
        self._thread = None
        self._lost = Notice()

    @property
    def owner(self):
        """Who holds it within the session: the owner given, else the
        thread that acquires it (reentrant within that thread)."""
        if self._owner is not None:
            return self._owner
        return "py-%d-%d" % (os.getpid(), threading.get_ident())

    # -- acquire and release
    def acquire(self, wait=None):
        """Acquires it and returns the fencing token. wait: seconds to
        wait (default: the handle's; None or 0: a try). Raises LockHeld
        (a try found it held), WaitTimeout, LockLost (the session has
        ended), OutcomeUnknown (no answer in time: calling acquire again
        is safe, the request id is kept)."""
        return drive(self._acquire(wait), self.session.client.execute)

    def release(self):
        """Releases it. Raises LockLost if it was lost before (the server
        is told all the same, in case it still holds it)."""
        return drive(self._release(), self.session.client.execute)

    def _acquire(self, wait):
        if self._held:
            raise RuntimeError("%s is acquired already: release it first" % self._what)
        if self.session.lost:
            raise LockLost("session %d is lost: open another" % self.session.id)
        wait = self.wait if wait is None else wait
        owner = self.owner
        req = getattr(self, "_req", None) or self.session.client.new_req()
        self._req = req  # kept until answered: a repeat after OutcomeUnknown is its retry
        args = self._acquire_args(owner)
        if wait:
            args += ["WAIT", _ms(wait)]
        if self.delay is not None:
            args += ["DELAY", _ms(self.delay)]
        try:
            token = yield (args + ["REQ", req], {"wait": wait or 0.0})
        except NoSession as e:
            self._req = None
            self.session._lose("the server ended the session")
            raise LockLost("session %d has ended: %s" % (self.session.id, e)) from e
        except errors.ServerError:
            self._req = None
            raise
        self._req = None
        self.token = token
        self._acquired_owner = owner
        self._held = True
        self._thread = threading.get_ident()
        self._lost.clear()
        self.session._add(self)
        if self.session.lost:
            self._lose()
        return token

    def _release(self):
        if not self._held:
            raise RuntimeError("%s is not acquired" % self._what)
        self._held = False
        self.session._remove(self)
        lost = self._lost.is_set() or self.session.lost
        why = None
        try:
            yield (self._release_args(self._acquired_owner)
                   + ["REQ", self.session.client.new_req()], {})
        except (NotHeld, NoSession) as e:
            lost, why = True, e
        except errors.Unavailable:
            if not lost:
                raise
        if lost:
            raise LockLost("%s %s was lost before its release%s"
                           % (self._what, self.name, ": %s" % why if why else ""))

    @contextlib.contextmanager
    def held(self):
        """A with block over a handle acquired already: released at its
        end, LockLost raised then if it was lost."""
        try:
            yield self
        except BaseException:
            try:
                self.release()
            except LockLost:
                pass
            raise
        self.release()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.release()
        except LockLost:
            if exc_type is None:
                raise
        return False

    # -- while held
    @property
    def safe_until(self):
        """Monotonic seconds (time.monotonic) until which it is known to be
        held: its session's; 0 once lost or released."""
        if not self._held or self.lost:
            return 0.0
        return self.session.safe_until

    @property
    def lost(self):
        """True once it can no longer be proven held."""
        if self._held and not self._lost.is_set() and self.session.lost:
            self._lose()
        return self._lost.is_set()

    @property
    def lost_event(self):
        """A threading.Event set the moment it is lost."""
        return self._lost.event

    def on_lost(self, callback):
        """Calls callback(handle) once, the moment it is lost (from the
        session's keepalive thread)."""
        self._lost.add(callback, self)

    def check(self):
        """Raises LockLost unless it is held and within safe_until: call
        it before each step of the protected work."""
        if not self._held or self.lost:
            raise LockLost("%s %s is not held" % (self._what, self.name))

    def _lose(self):
        if not self._held or not self._lost.fire(self):
            return
        if self.raise_on_loss and self._thread is not None \
                and self._thread != threading.get_ident():
            # CPython: LockLost is raised in the holder's thread at its next
            # bytecode (not while it blocks in a system call).
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread),
                                                       ctypes.py_object(LockLost))

    def __repr__(self):
        return "<%s %r token=%s %s>" % (type(self).__name__, self.name, self.token,
                                        "lost" if self.lost else
                                        "held" if self._held else "not held")


class Lock(_Hold):
    """An exclusive lock, or a shared one (shared=True): Session.lock,
    Session.shared_lock, Client.lock."""

    def __init__(self, session, name, *, shared=False, **kw):
        super().__init__(session, name, **kw)
        self.shared = shared

    def _acquire_args(self, owner):
        return (["LOCK.ACQUIRE", self.name, self.session.id, "OWNER", owner]
                + (["SHARED"] if self.shared else []))

    def _release_args(self, owner):
        return (["LOCK.RELEASE", self.name, self.session.id, "OWNER", owner]
                + (["SHARED"] if self.shared else []))

    def downgrade(self):
        """Turns this exclusive hold into a shared one, in place, keeping
        the token: no writer comes in between."""
        return drive(self._downgrade(), self.session.client.execute)

    def _downgrade(self):
        if not self._held or self.shared:
            raise RuntimeError("only an exclusive lock held downgrades")
        self.check()
        yield (["LOCK.DOWNGRADE", self.name, self.session.id, "OWNER", self._acquired_owner,
                "REQ", self.session.client.new_req()], {})
        self.shared = True


class Permits(_Hold):
    """count permits of the semaphore name of permits: Session.semaphore."""

    _what = "the permits of"

    def __init__(self, session, name, permits, *, count=1, **kw):
        if not 1 <= count <= permits:
            raise ValueError("count is 1 to permits")
        super().__init__(session, name, **kw)
        self.permits = permits
        self.count = count

    def _acquire_args(self, owner):
        return ["SEM.ACQUIRE", self.name, self.session.id, self.permits, "COUNT", self.count,
                "OWNER", owner]

    def _release_args(self, owner):
        return ["SEM.RELEASE", self.name, self.session.id, "COUNT", self.count, "OWNER", owner]


class Leadership(_Hold):
    """Leadership of the election name, publishing value while it leads:
    Session.leadership. acquire() campaigns (waits, with wait, in FIFO
    order behind the other candidates); release() resigns. The token is
    the leadership token: fence the leader's writes with it."""

    _what = "the leadership of"

    def __init__(self, session, name, value=b"", **kw):
        super().__init__(session, name, **kw)
        self.value = value

    def _acquire_args(self, owner):
        return ["ELECT.CAMPAIGN", self.name, self.session.id, self.value, "OWNER", owner]

    def _release_args(self, owner):
        return ["ELECT.RESIGN", self.name, self.session.id, "OWNER", owner]

    def proclaim(self, value):
        """Publishes a new value; LockLost if it no longer leads."""
        return drive(self._proclaim(value), self.session.client.execute)

    def _proclaim(self, value):
        self.check()
        try:
            yield (["ELECT.PROCLAIM", self.name, self.session.id, self.token, value, "REQ",
                    self.session.client.new_req()], {})
        except NotHeld as e:
            self._lose()
            raise LockLost("no longer the leader of %s" % self.name) from e
        self.value = value


class Makers:
    """The handles a session (or an asyncio client) makes: its kinds are
    those of its API, blocking or asyncio."""

    _kinds = (Lock, Permits, Leadership)

    def lock(self, name, *, wait=None, owner=None, delay=None, raise_on_loss=False):
        """An exclusive lock: acquire(), or a with block. wait: seconds to
        wait (None or 0: a try, LockHeld when held)."""
        return self._kinds[0](self, name, wait=wait, owner=owner, delay=delay,
                              raise_on_loss=raise_on_loss)

    def shared_lock(self, name, **kw):
        """A shared (read) lock: any number of holders, never beside an
        exclusive one."""
        return self._kinds[0](self, name, shared=True, **kw)

    def semaphore(self, name, permits, *, count=1, **kw):
        """count of the permits of the semaphore name."""
        return self._kinds[1](self, name, permits, count=count, **kw)

    def leadership(self, name, value=b"", **kw):
        """Candidacy for leader of the election name, publishing value."""
        return self._kinds[2](self, name, value, **kw)
