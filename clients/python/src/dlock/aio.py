"""The asyncio API: the same client, sessions and handles, with coroutines
where the blocking API waits. Every rule (leader following, retries with
request ids, safe-until, loss) is the blocking API's own code: both drive
the same I/O-free operations (_steps.py).

    import asyncio
    import dlock.aio

    async def main():
        client = dlock.aio.Client("127.0.0.1:7411")
        async with client.lock("birthday-mails", wait=30) as lock:
            await send_greetings(fence=lock.token)
        await client.close()

    asyncio.run(main())

A client belongs to the event loop that first uses it. Its sessions are
kept alive by a task; loss callbacks run in the loop. raise_on_loss=True
cancels the task that acquired the handle when it is lost (the blocking
API raises LockLost in the holder's thread instead)."""

import asyncio
import functools

from . import _conn, _resp, client as _client, errors, handles, session as _session
from ._steps import adrive
from .errors import DlockError, LockLost
from .watch import Change

__all__ = ["Client", "Session", "Lock", "Permits", "Leadership", "Watch"]


class _Conn:
    """One connection, as _conn.Conn, on asyncio streams."""

    @classmethod
    async def open(cls, addr, timeout, ssl_context=None, user=None, password=None):
        host, port = _conn.split_addr(addr)
        self = cls()
        self.addr = addr
        self.reader = _resp.Reader()
        self.r, self.w = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ssl_context,
                                    server_hostname=host if ssl_context else None), timeout)
        if password is not None:
            args = ["AUTH", user, password] if user else ["AUTH", password]
            reply = await self.call(args, timeout)
            if isinstance(reply, _resp.ErrorReply):
                self.close()
                raise errors.AuthError(reply.message)
        return self

    async def call(self, args, timeout):
        try:
            return await asyncio.wait_for(self._call(args), timeout)
        except asyncio.TimeoutError:
            self.close()
            raise TimeoutError("no answer in %.2f s" % timeout) from None
        except (OSError, _resp.ProtocolError, ValueError) as e:
            self.close()
            if isinstance(e, OSError):
                raise
            raise ConnectionError("a reply RESP does not allow: %s" % e) from e
        except BaseException:
            self.close()  # cancelled: the server learns the client went away
            raise

    async def _call(self, args):
        self.w.write(_resp.encode(args))
        await self.w.drain()
        while True:
            v = self.reader.get()
            if v is not _resp.NOTHING:
                return v
            data = await self.r.read(65536)
            if not data:
                raise ConnectionResetError("the server closed the connection")
            self.reader.feed(data)

    def close(self):
        if self.w is not None:
            self.w.close()
            self.w = None


class Client(handles.Makers, _client.Client):
    """dlock.Client's options; its methods are coroutines. Its lock(),
    semaphore() and the others make handles of its own session, opened at
    their first acquire."""

    def __init__(self, servers=None, **kw):
        super().__init__(servers, **kw)
        self._asession = None

    async def execute(self, *args, wait=0.0, timeout=None):
        """As dlock.Client.execute."""
        plan = self._plan(args, wait, timeout)
        step = next(plan)
        try:
            while True:
                if step[0] == "sleep":
                    await asyncio.sleep(step[1])
                    step = plan.send(None)
                    continue
                _, addr, cargs, connect_timeout, call_timeout = step
                try:
                    conn = await self._atake(addr, connect_timeout)
                except (OSError, asyncio.TimeoutError) as e:
                    step = plan.send(("connect", e if isinstance(e, OSError)
                                      else TimeoutError("connecting")))
                    continue
                try:
                    reply = await conn.call(cargs, call_timeout)
                except OSError as e:
                    step = plan.send(("io", e))
                    continue
                self._give(conn)
                step = plan.send(("reply", reply))
        except StopIteration as done:
            return done.value

    async def _atake(self, addr, timeout):
        with self._mu:
            idle = self._idle.get(addr)
            if idle:
                return idle.pop()
        return await _Conn.open(addr, timeout, self._ssl, self._user, self._password)

    async def session(self, ttl=None, *, keepalive=True, name=None):
        """A new session (a task keeps it alive)."""
        return await Session.open(self, self.session_ttl if ttl is None else ttl,
                                  keepalive=keepalive, name=name)

    async def default_session(self):
        s = self._asession
        if s is not None and not s.lost:
            return s
        s = await self.session()
        old, self._asession = self._asession, s
        if old is not None:
            await old.close()
        return s

    def job(self, name, *, wait=0.0, on_skip=None):
        """As dlock.Client.job, for coroutine functions."""
        def decorate(fn):
            @functools.wraps(fn)
            async def run(*a, **k):
                lock = self.lock(name, wait=wait)
                try:
                    await lock.acquire()
                except (errors.LockHeld, errors.WaitTimeout):
                    if on_skip is not None:
                        on_skip(name)
                    return None
                try:
                    result = await fn(*a, **k)
                except BaseException:
                    try:
                        await lock.release()
                    except LockLost:
                        pass
                    raise
                await lock.release()
                return result
            return run
        return decorate

    async def watch(self, name, from_revision=None):
        """The changes of name, as an async iterator (Watch): from now, or
        after from_revision."""
        w = Watch(self, name, from_revision)
        if from_revision is None:
            info = (await self.execute("INFO", "raft")).decode()
            w.revision = int(info.split("applied_index:", 1)[1].split()[0])
        return w

    async def lock_status(self, name):
        return _client._fields(await self.execute("LOCK.STATUS", name))

    async def semaphore_status(self, name):
        return _client._fields(await self.execute("SEM.STATUS", name))

    async def leader(self, name):
        return _client._fields(await self.execute("ELECT.LEADER", name))

    async def check(self, name, token):
        return await self.execute("LOCK.CHECK", name, token) == 1

    async def close(self):
        s, self._asession = self._asession, None
        if s is not None:
            await s.close()
        with self._mu:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for c in conns:
                c.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


class Watch:
    """The changes of a name, for `async for` (Client.watch): read with
    WATCH.NEXT from the last revision given, so that nothing is missed
    across a failure. Each is a dlock.Change."""

    WAIT = 30.0  # one WATCH.NEXT waits this long at most

    def __init__(self, client, name, revision):
        self.client = client
        self.name = name
        self.revision = revision
        self._pending = []

    def __aiter__(self):
        return self

    async def __anext__(self):
        while not self._pending:
            reply = await self.client.execute("WATCH.NEXT", self.name, self.revision, "WAIT",
                                              int(self.WAIT * 1000), wait=self.WAIT)
            for a in reply or []:
                ch = Change(a)
                self._pending.append(ch)
                self.revision = max(self.revision, ch.revision)
        return self._pending.pop(0)


class Session(_session.Session):
    """A session kept alive by a task: `await Session.open(client, ttl)`,
    or `await client.session(ttl)`."""

    def __init__(self, *a, **kw):
        raise TypeError("open one with: await dlock.aio.Session.open(client, ttl)")

    @classmethod
    async def open(cls, client, ttl, *, keepalive=True, name=None):
        self = cls.__new__(cls)
        self._setup(client, ttl)
        self._aevent = asyncio.Event()
        self._lost.add(lambda s: s._aevent.set(), self)
        await adrive(self._open(name), client.execute)
        self._task = None
        if keepalive:
            self._task = asyncio.get_running_loop().create_task(self._arun())
        return self

    @property
    def lost_event(self):
        """An asyncio.Event set the moment the session is lost."""
        return self._aevent

    async def keepalive(self):
        return await adrive(self._keepalive(), self.client.execute)

    async def _arun(self):
        while not self._stop.is_set():
            delay = self._due()
            if delay is None:
                return
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            try:
                await self.keepalive()
            except LockLost:
                return
            except DlockError:
                self._renew_failed()

    async def close(self):
        self._stop.set()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        return await adrive(self._close(), self.client.execute)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


class _AsyncHold:
    """The coroutine forms of a handle's operations (mixed into each)."""

    def __init__(self, owner_of, *a, **kw):
        # owner_of: a Session, or a Client whose session is opened at the
        # first acquire.
        if isinstance(owner_of, Client):
            self._client, owner_of = owner_of, None
        super().__init__(owner_of, *a, **kw)
        self._task = None
        self._aevent = asyncio.Event()
        self._lost.add(lambda h: h._aevent.set(), self)

    @property
    def lost_event(self):
        """An asyncio.Event set the moment it is lost."""
        return self._aevent

    async def acquire(self, wait=None):
        if self.session is None or (self.session.lost and hasattr(self, "_client")):
            self.session = await self._client.default_session()
        self._aevent.clear()
        token = await adrive(self._acquire(wait), self.session.client.execute)
        self._lost.add(lambda h: h._aevent.set(), self)
        self._task = asyncio.current_task()
        return token

    async def release(self):
        return await adrive(self._release(), self.session.client.execute)

    async def __aenter__(self):
        await self.acquire()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        try:
            await self.release()
        except LockLost:
            if exc_type is None:
                raise
        return False

    def _lose(self):
        task = self._task
        raise_it, self.raise_on_loss = self.raise_on_loss, False
        try:
            super()._lose()
        finally:
            self.raise_on_loss = raise_it
        if raise_it and self._lost.is_set() and task is not None and not task.done() \
                and task is not asyncio.current_task():
            task.cancel("LockLost: %s %s was lost" % (self._what, self.name))


class Lock(_AsyncHold, handles.Lock):
    async def downgrade(self):
        return await adrive(self._downgrade(), self.session.client.execute)


class Permits(_AsyncHold, handles.Permits):
    pass


class Leadership(_AsyncHold, handles.Leadership):
    async def proclaim(self, value):
        return await adrive(self._proclaim(value), self.session.client.execute)




Client._kinds = Session._kinds = (Lock, Permits, Leadership)
