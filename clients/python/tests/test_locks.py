"""The client against one real dlockd: locks (try, wait, reentry, shared,
downgrade), semaphores, elections, the job decorator, the reads."""

import threading
import time

import pytest

import dlock


def test_try_lock_and_token(client):
    with client.lock("job") as lock:
        assert lock.token >= 1
        assert time.monotonic() < lock.safe_until <= time.monotonic() + 2.0
        other = client.session()
        with pytest.raises(dlock.LockHeld) as e:
            other.lock("job").acquire()
        assert e.value.holder == lock.session.id
        other.close()
    st = client.lock_status("job")
    assert st["held"] == 0
    with client.lock("job") as again:
        assert again.token > lock.token


def test_reentrant_in_one_thread(client):
    a, b = client.lock("re"), client.lock("re")
    assert a.acquire() == b.acquire()
    assert client.lock_status("re")["holds"] == 2
    b.release()
    a.release()
    assert client.lock_status("re")["held"] == 0


def test_wait_is_handed_the_lock(client):
    got = {}
    holder = client.lock("hot")
    holder.acquire()
    s = client.session()

    def waiter():
        with s.lock("hot", wait=5) as l:
            got["token"] = l.token

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.3)
    assert client.lock_status("hot")["waiters"] == 1
    holder.release()
    t.join(5)
    assert got["token"] > holder.token
    s.close()


def test_wait_runs_out(client):
    with client.lock("busy"):
        s = client.session()
        t0 = time.monotonic()
        with pytest.raises(dlock.WaitTimeout):
            s.lock("busy", wait=0.3).acquire()
        assert 0.25 < time.monotonic() - t0 < 3
        s.close()


def test_shared_and_downgrade(client):
    r1, r2 = client.session(), client.session()
    a, b = r1.shared_lock("prices"), r2.shared_lock("prices")
    a.acquire()
    b.acquire()
    with pytest.raises(dlock.LockHeld):
        client.lock("prices").acquire()
    with pytest.raises(dlock.UpgradeError):
        r1.lock("prices").acquire()
    a.release()
    b.release()
    w = client.lock("prices")
    w.acquire()
    w.downgrade()
    assert client.lock_status("prices")["mode"] == "shared"
    c = r1.shared_lock("prices")
    assert c.acquire() > w.token
    c.release()
    w.release()
    r1.close()
    r2.close()


def test_semaphore(client):
    s2 = client.session()
    p1 = client.semaphore("slots", 2)
    p2 = s2.semaphore("slots", 2)
    p1.acquire()
    p2.acquire()
    with pytest.raises(dlock.LockHeld):
        client.session().semaphore("slots", 2).acquire()
    with pytest.raises(dlock.KindError):
        client.session().semaphore("slots", 3).acquire()
    with pytest.raises(dlock.KindError):
        client.lock("slots").acquire()
    assert client.semaphore_status("slots")["used"] == 2
    p1.release()
    with s2.semaphore("slots", 2) as p3:
        assert p3.token == p2.token  # joins the session and owner's hold
    p2.release()
    s2.close()


def test_leadership(client):
    a, b = client.session(), client.session()
    lead = a.leadership("db-primary", b"10.0.0.1:5432")
    lead.acquire()
    assert client.leader("db-primary")["value"] == b"10.0.0.1:5432"
    with pytest.raises(dlock.LockHeld):
        b.leadership("db-primary", b"10.0.0.2:5432").acquire()
    lead.proclaim(b"10.0.0.1:6432")
    assert client.leader("db-primary")["value"] == b"10.0.0.1:6432"
    nxt = b.leadership("db-primary", b"10.0.0.2:5432", wait=5)
    t = threading.Thread(target=nxt.acquire)
    t.start()
    time.sleep(0.3)
    lead.release()
    t.join(5)
    st = client.leader("db-primary")
    assert (st["leader"], st["value"], st["token"]) == (b.id, b"10.0.0.2:5432", nxt.token)
    with pytest.raises(dlock.LockLost):
        lead.proclaim(b"late")  # released: not the leader
    nxt.release()
    a.close()
    b.close()


def test_job_runs_at_most_once(client):
    runs, skipped = [], []
    other = dlock.Client(client.servers, timeout=5.0, session_ttl=2.0)

    @client.job("nightly-report")
    def report(n):
        runs.append(n)
        time.sleep(0.5)
        return n * 2

    @other.job("nightly-report", on_skip=skipped.append)
    def report_elsewhere(n):
        runs.append(-n)

    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", report(21)))
    t.start()
    time.sleep(0.2)
    assert report_elsewhere(1) is None
    t.join(5)
    assert result["r"] == 42
    assert runs == [21]
    assert skipped == ["nightly-report"]
    other.close()


def test_bad_arguments_are_clear(client):
    with pytest.raises(dlock.LimitError):
        client.lock("x" * 300).acquire()
    with pytest.raises(ValueError):
        client.session(ttl=0.01)
    with pytest.raises(ValueError):
        dlock.Client("no-port")
    lock = client.lock("y")
    with pytest.raises(RuntimeError):
        lock.release()


def test_nothing_listening_is_said_at_once(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = dlock.Client("127.0.0.1:%d" % port, timeout=5.0)
    t0 = time.monotonic()
    with pytest.raises(dlock.Unavailable) as e:
        c.lock_status("x")
    assert "nothing is listening" in str(e.value)
    assert time.monotonic() - t0 < 2


def test_a_wait_given_up_leaves_no_holder(ctx):
    """A blocking acquire interrupted (Ctrl-C: SIGINT to the main thread)
    while it waits: its connection closes, and once the server's grace
    for the wait (--wait-grace-ms, short here) is over, nobody holds the
    lock, though its holder released it meanwhile."""
    import os
    import signal
    server = ctx.single(extra=["--wait-grace-ms", "500"])
    client = dlock.Client(server.addr, timeout=5.0, session_ttl=3.0)
    holder = client.lock("ghost")
    holder.acquire()
    s = client.session()
    # Python's own Ctrl-C handler, even where SIGINT came in ignored (a
    # background job's).
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            s.lock("ghost", wait=20).acquire()
    finally:
        signal.signal(signal.SIGINT, before)
    holder.release()
    for _ in range(50):
        st = client.lock_status("ghost")
        if st["held"] == 0 and st["waiters"] == 0:
            break
        time.sleep(0.1)
    assert (st["held"], st["waiters"]) == (0, 0)
    s.close()
    client.close()
