"""Losing a lock: the server ends the session, or its lease runs out
unrenewed (a server paused past the TTL). The holder is told: its event,
its callback, its safe_until, the with block's end, and on request an
exception in its own thread."""

import threading
import time

import pytest

import dlock


def test_told_when_the_server_ends_the_session(client, server):
    lock = client.lock("l")
    lock.acquire()
    called = []
    lock.on_lost(called.append)
    server.client().call("SESSION.CLOSE", lock.session.id)
    assert lock.lost_event.wait(3)
    assert called == [lock]
    assert lock.safe_until == 0
    with pytest.raises(dlock.LockLost):
        lock.check()
    with pytest.raises(dlock.LockLost):
        lock.release()
    # The client opens a new session for its next lock.
    with client.lock("l") as again:
        assert again.session is not lock.session


def test_told_when_the_lease_runs_out(ctx):
    srv = ctx.single()
    c = dlock.Client(srv.addr, timeout=1.0, session_ttl=1.0)
    with pytest.raises(dlock.LockLost):
        with c.lock("paused") as lock:
            until = lock.safe_until
            srv.pause()
            try:
                assert lock.lost_event.wait(3)
                # Told no later than its safe-until (plus the thread's wake-up).
                assert time.monotonic() - until < 0.5
            finally:
                srv.resume()
    c.close()


def test_raise_in_the_holders_thread(client, server):
    seen = {}
    lock = client.lock("work", raise_on_loss=True)
    lock.acquire()

    def kill_soon():
        time.sleep(0.3)
        server.client().call("SESSION.CLOSE", lock.session.id)

    threading.Thread(target=kill_soon).start()
    try:
        for _ in range(500):
            time.sleep(0.01)  # the protected work, a step at a time
    except dlock.LockLost:
        seen["raised"] = True
    assert seen.get("raised")


def test_keepalive_keeps_it(client):
    with client.lock("long") as lock:
        time.sleep(2.5)  # more than the TTL: renewed every third of it
        assert not lock.lost
        assert lock.safe_until > time.monotonic()
