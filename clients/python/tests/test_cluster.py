"""On a 3-node cluster: the client finds the leader, and a held lock and
a wait in the queue both survive a leader kill (the same request id, the
place kept)."""

import threading
import time

import dlock


def test_held_across_a_leader_kill(ctx):
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    follower = [s for s in cl.servers if s.id != leader.id][0]
    # Given a follower first: redirected to the leader.
    c = dlock.Client([follower.addr] + [s.addr for s in cl.servers if s is not follower],
                     timeout=5.0, session_ttl=3.0)
    lock = c.lock("across")
    token = lock.acquire()
    assert c.last_server == leader.addr
    leader.kill()
    new = cl.wait_leader(among=cl.live(), other_than=leader.id)
    st = c.lock_status("across")
    assert (st["held"], st["token"]) == (1, token)
    time.sleep(1.5)  # keepalives go to the new leader
    assert not lock.lost
    lock.release()
    assert c.last_server == new.addr
    c.close()


def test_wait_keeps_its_place_across_a_leader_kill(ctx):
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    c = dlock.Client(cl.addrs(), timeout=5.0, session_ttl=3.0)
    holder = c.lock("queue")
    holder.acquire()
    s = c.session()
    got = {}

    def waiter():
        try:
            with s.lock("queue", wait=15) as l:
                got["token"] = l.token
        except Exception as e:  # noqa: BLE001 - the test reports it
            got["error"] = e

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.5)
    leader.kill()
    cl.wait_leader(among=cl.live(), other_than=leader.id)
    time.sleep(0.5)  # the waiter repeats its acquire with its REQ there
    holder.release()
    t.join(15)
    assert "error" not in got, got.get("error")
    assert got["token"] > holder.token
    st = c.lock_status("queue")
    assert st["held"] == 0 and st["waiters"] == 0  # no ghost holder
    s.close()
    c.close()
