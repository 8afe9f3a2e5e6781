"""Watches against real dlockd processes: every change in order, from now
or from a revision, and on across the kill of the server watched, with
nothing missed and nothing given twice."""

import dlock


def test_changes_in_order(client):
    w = client.watch("w", timeout=5)
    with client.lock("w") as lock:
        token = lock.token
    got = [next(w), next(w)]
    assert [(c.event, c.token, c.holders) for c in got] == [("granted", token, 1),
                                                           ("released", token, 0)]
    assert got[0].revision < got[1].revision
    again = client.watch("w", from_revision=got[0].revision - 1, timeout=5)
    assert [next(again).revision, next(again).revision] == [c.revision for c in got]
    w.close()
    again.close()


def test_on_across_a_server_kill(ctx):
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    follower = [s for s in cl.servers if s.id != leader.id][0]
    c = dlock.Client([follower.addr] + [s.addr for s in cl.servers if s is not follower],
                     timeout=5.0, session_ttl=3.0)
    w = c.watch("k", timeout=10)
    tokens = []
    for _ in range(3):
        with c.lock("k") as lock:
            tokens.append(lock.token)
    seen = [next(w) for _ in range(6)]
    follower.kill()
    for _ in range(3):
        with c.lock("k") as lock:
            tokens.append(lock.token)
    seen += [next(w) for _ in range(6)]
    assert [ch.token for ch in seen if ch.event == "granted"] == tokens
    revs = [ch.revision for ch in seen]
    assert revs == sorted(revs) and len(set(revs)) == len(revs)
    w.close()
    c.close()
