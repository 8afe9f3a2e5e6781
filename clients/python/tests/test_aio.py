"""The asyncio API against a real dlockd: the same rules as the blocking
one, driven by coroutines."""

import asyncio

import pytest

import dlock
import dlock.aio


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_lock_wait_and_handover(server):
    async def main():
        c = dlock.aio.Client(server.addr, timeout=5.0, session_ttl=2.0)
        holder = c.lock("aio")
        t1 = await holder.acquire()
        other = await c.session()
        with pytest.raises(dlock.LockHeld):
            await other.lock("aio").acquire()
        waiter = other.lock("aio", wait=5)
        task = asyncio.ensure_future(waiter.acquire())
        await asyncio.sleep(0.3)
        await holder.release()
        t2 = await task
        assert t2 > t1
        await waiter.release()
        await other.close()
        await c.close()
    run(main())


def test_shared_semaphore_election_job(server):
    async def main():
        c = dlock.aio.Client(server.addr, timeout=5.0, session_ttl=2.0)
        s = await c.session()
        async with s.shared_lock("r") as a, c.shared_lock("r") as b:
            assert a.token != b.token
        async with s.semaphore("slots", 2, count=2) as p:
            assert (await c.semaphore_status("slots"))["used"] == 2
            with pytest.raises(dlock.LockHeld):
                await c.semaphore("slots", 2).acquire()
        lead = s.leadership("primary", b"a")
        await lead.acquire()
        await lead.proclaim(b"b")
        assert (await c.leader("primary"))["value"] == b"b"
        await lead.release()
        w = c.lock("w")
        await w.acquire()
        await w.downgrade()
        assert (await c.lock_status("w"))["mode"] == "shared"
        await w.release()

        @c.job("job")
        async def job():
            return "ran"
        assert await job() == "ran"
        await s.close()
        await c.close()
        assert p.token >= 1
    run(main())


def test_loss_is_told(server):
    async def main():
        c = dlock.aio.Client(server.addr, timeout=5.0, session_ttl=1.0)
        s = await c.session()
        lock = s.lock("l")
        await lock.acquire()
        seen = []
        lock.on_lost(seen.append)
        server.client().call("SESSION.CLOSE", s.id)
        await asyncio.wait_for(lock.lost_event.wait(), 3)
        assert seen == [lock] and lock.safe_until == 0
        with pytest.raises(dlock.LockLost):
            await lock.release()
        await c.close()
    run(main())


def test_raise_on_loss_cancels_the_holder(server):
    async def main():
        c = dlock.aio.Client(server.addr, timeout=5.0, session_ttl=1.0)
        s = await c.session()

        async def holder():
            lock = s.lock("work", raise_on_loss=True)
            await lock.acquire()
            await asyncio.sleep(10)

        task = asyncio.ensure_future(holder())
        await asyncio.sleep(0.3)
        server.client().call("SESSION.CLOSE", s.id)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        await c.close()
    run(main())


def test_across_a_leader_kill(ctx):
    async def main(cl, leader):
        c = dlock.aio.Client(cl.addrs(), timeout=5.0, session_ttl=3.0)
        lock = c.lock("across")
        token = await lock.acquire()
        leader.kill()
        await asyncio.sleep(1.0)
        st = await c.lock_status("across")
        assert (st["held"], st["token"]) == (1, token)
        await lock.release()
        await c.close()
    cl = ctx.cluster(3)
    run(main(cl, cl.wait_leader()))


def test_a_wait_given_up_leaves_no_holder(ctx):
    """A blocking acquire cancelled while it waits: its connection closes,
    and the server gives the wait up after its grace (--wait-grace-ms,
    short here), taking back a grant made meanwhile: nobody is left
    holding the lock (docs/protocol.md §4)."""
    server = ctx.single(extra=["--wait-grace-ms", "500"])

    async def main():
        c = dlock.aio.Client(server.addr, timeout=5.0, session_ttl=3.0)
        holder = c.lock("ghost")
        await holder.acquire()
        s = await c.session()
        task = asyncio.ensure_future(s.lock("ghost", wait=20).acquire())
        await asyncio.sleep(0.3)
        assert (await c.lock_status("ghost"))["waiters"] == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await holder.release()  # granted to the waiter gone, in its grace
        for _ in range(50):
            st = await c.lock_status("ghost")
            if st["held"] == 0 and st["waiters"] == 0:
                break
            await asyncio.sleep(0.1)
        assert (st["held"], st["waiters"]) == (0, 0)
        assert not s.lost  # the session lives on, without the lock
        await s.close()
        await c.close()
    run(main())


def test_watch(server):
    async def main():
        c = dlock.aio.Client(server.addr, timeout=5.0, session_ttl=2.0)
        w = await c.watch("aw")
        async with c.lock("aw") as lock:
            token = lock.token
        it = w.__aiter__()
        got = [await asyncio.wait_for(it.__anext__(), 5), await asyncio.wait_for(it.__anext__(), 5)]
        assert [(ch.event, ch.token) for ch in got] == [("granted", token), ("released", token)]
        again = await c.watch("aw", from_revision=got[0].revision - 1)
        assert (await again.__anext__()).revision == got[0].revision
        await c.close()
    run(main())
