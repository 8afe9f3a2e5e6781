"""test_peerport.py - what reaches a server's peer port from outside the
cluster (issue 14, items 4 and 5): a frame from a server id that is not a
member, with a term near 2^64, changes no server's term, and the cluster
goes on electing and serving, across restarts; a stored term past the bound
(as an earlier version could write) stops the server at start with the way
back, and `dlockd --reset-term` brings a single server back. The port is
bounded: a frame announcing more than 4 MiB closes its connection before it
is buffered, connections with no hello are few and short-lived, and
connections from non-members are capped, so that clients are always
served."""

import glob
import os
import random
import socket
import struct
import subprocess
import time

from dlocktest import Cluster, check, eq, start_fails, wait_for

MSG_APPEND_RESP, MSG_VOTE, MSG_HEARTBEAT, MSG_HEARTBEAT_RESP = 2, 3, 7, 8


# One data directory and one process for the outsider (a hello with
# another directory for the same id is refused: test_datadir.py).
OUTSIDER_DIR, OUTSIDER_NONCE = random.getrandbits(63) | 1, random.getrandbits(63) | 1


def hello(frm, to, client_addr="127.0.0.1:1", raft_addr="127.0.0.1:2"):
    """A version 2 peer hello (src/raft/hello.h)."""
    c, r = client_addr.encode(), raft_addr.encode()
    return (b"DLKP" + bytes([2]) +
            struct.pack("<QQQQ", frm, to, OUTSIDER_DIR, OUTSIDER_NONCE) +
            struct.pack("<H", len(c)) + c + struct.pack("<H", len(r)) + r)


def frame(mtype, frm, to, term, body=b"", flags=0):
    """A peer frame (src/raft/wire.h): header, then the type's fields."""
    return struct.pack("<BBBBIQQQ", 0xD1, 1, mtype, flags, 32 + len(body),
                       frm, to, term) + body


def send_peer(srv, data, to_id):
    """Connects to srv's peer port as server 99, sends data, and keeps the
    connection open a moment so that it is read."""
    s = socket.create_connection((srv.host, srv.raft_port), timeout=5)
    try:
        s.sendall(hello(99, to_id) + data)
        time.sleep(0.2)
    finally:
        s.close()


def bogus_frames(to_id):
    """The issue's 40-byte HEARTBEAT_RESP with term 2^64-3, and frames of a
    plausible but higher term from the same outsider."""
    return (frame(MSG_HEARTBEAT_RESP, 99, to_id, 2**64 - 3, struct.pack("<Q", 0)) +
            frame(MSG_HEARTBEAT, 99, to_id, 2**40, struct.pack("<QQ", 0, 0)) +
            frame(MSG_VOTE, 99, to_id, 1000, struct.pack("<QQ", 10**6, 999)) +
            frame(MSG_APPEND_RESP, 99, to_id, 2**48 + 1,
                  struct.pack("<QQQ", 0, 0, 0), flags=1))


def terms(cl):
    return {s.id: int(s.info()["term"]) for s in cl.servers}


def test_outsider_frames_change_no_term(ctx):
    """Every member gets the bogus frames; no term moves, the leader stays
    and serves; after every server restarts, they elect a leader again
    (before, a server took term 2^64-3 and, restarted, never campaigned)."""
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    before = terms(cl)
    check(len(set(before.values())) == 1, "one term before: %r" % before)
    for s in cl.servers:
        frame_40 = frame(MSG_HEARTBEAT_RESP, 99, s.id, 2**64 - 3, struct.pack("<Q", 0))
        eq(len(frame_40), 40, "the issue's frame size")
        send_peer(s, bogus_frames(s.id), s.id)
    time.sleep(1.0)
    eq(terms(cl), before, "the terms after the outsider's frames")
    eq(cl.wait_leader(), leader, "the leader")
    c = leader.client()
    sess = c.call("SESSION.OPEN", 30000)
    check(c.call("LOCK.ACQUIRE", "outsider", sess) > 0, "a grant after the frames")
    c.close()
    for s in cl.servers:
        s.restart()
    cl.wait_leader()
    after = terms(cl)
    check(all(t < 1000 for t in after.values()), "terms after restarts: %r" % after)
    c = cl.wait_leader().client()
    sess = c.call("SESSION.OPEN", 30000)
    check(c.call("LOCK.ACQUIRE", "after-restart", sess) > 0, "a grant after restarts")


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def poison_term(data_dir, term):
    """Appends a batch holding a hard state of this term (no vote) to the
    last log segment, as a version before the bound wrote one
    (src/raft/logfmt.h)."""
    seg = sorted(glob.glob(os.path.join(data_dir, "log-*.seg")))[-1]
    with open(seg, "rb") as f:
        buf = f.read()
    off, batch = 32, struct.unpack_from("<Q", buf, 16)[0]
    while off + 40 <= len(buf) and any(buf[off:off + 40]):
        length, kind = struct.unpack_from("<IB", buf, off + 4)
        rec_batch = struct.unpack_from("<Q", buf, off + 16)[0]
        batch = rec_batch + 1 if kind == 4 else rec_batch
        off += 40 + (length + 7) // 8 * 8
    batch = max(batch, 1)

    def record(kind, index, rterm):
        body = struct.pack("<IBB6xQQQ", 0, kind, 0, batch, index, rterm)
        return struct.pack("<I", crc32c(body)) + body

    tail = record(2, 0, term) + record(4, 0, 0)
    with open(seg, "r+b") as f:
        f.seek(off)
        f.write(tail)


def test_stored_term_past_the_bound(ctx):
    """A single server whose stored term is 2^64-3 refuses to start, saying
    what to do; dlockd --reset-term sets it back to the last term of its log,
    after which it leads and its locks are there. --reset-term on a healthy
    directory changes nothing."""
    one = ctx.single()
    c = one.client()
    sess = c.call("SESSION.OPEN", 600000)
    token = c.call("LOCK.ACQUIRE", "kept", sess)
    c.close()
    eq(one.term(), 0, "exit code on SIGTERM")
    poison_term(one.data, 2**64 - 3)
    log = start_fails(ctx, "poisoned", *one.argv()[1:], code=1)
    check("past the largest a server takes" in log and "--reset-term" in log
          and "CLUSTER.REMOVE" in log, "the refusal says what to do:\n%s" % log)
    reset = ctx.server(1, name="reset")
    reset.data = one.data
    reset.extra = ["--reset-term"]
    rc, out = run_once(reset)
    eq(rc, 0, "--reset-term's exit code (log: %s)" % out)
    check("term reset from 18446744073709551613 to" in out, "it says what it did:\n%s" % out)
    rc, out = run_once(reset)
    eq(rc, 0, "--reset-term again")
    check("nothing to do" in out, "a second reset does nothing:\n%s" % out)
    one.start()
    one.wait_leader()
    check(int(one.info()["term"]) < 100, "the term after the reset")
    c = one.client()
    eq(c.call("LOCK.CHECK", "kept", token), 1, "the lock held before")
    check(c.call("LOCK.ACQUIRE", "new", sess) > token, "a token above the earlier one")


def run_once(srv):
    """Runs srv's dlockd to its end (an offline command); returns the exit
    code and what it logged."""
    srv.start(wait=False)
    srv.expect_exit = True
    srv.proc.wait(20)
    rc = srv._ended("offline")
    return rc, srv.log_tail(5)


def test_reset_term_refuses_a_member_of_a_cluster(ctx):
    """--reset-term on a member of a three-server cluster refuses, naming the
    way back for a member (remove it, empty it, join again)."""
    cl = ctx.cluster(3)
    cl.wait_leader()
    s = cl.servers[2]
    s.term()
    poison_term(s.data, 2**64 - 3)
    reset = ctx.server(s.id, name="reset")
    reset.data = s.data
    reset.peers = s.peers
    reset.extra = ["--reset-term"]
    rc, out = run_once(reset)
    eq(rc, 1, "--reset-term's exit code")
    check("this one has 3 servers" in out and "--join" in out,
          "the refusal names the way back:\n%s" % out)
    wait_for(lambda: cl.leader_now(cl.servers[:2]) is not None, 15, "a leader of two")


def closed_by_server(sock, within):
    """True if the server closes sock within the time given."""
    sock.settimeout(within)
    try:
        while True:
            if sock.recv(65536) == b"":
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_frame_past_the_limit_is_not_buffered(ctx):
    """Eight connections, each with a hello and then a frame announcing
    65 MiB and 8 MiB of it: each is closed once its header is read, with a
    log line, and the server's memory stays put (before, each buffered the
    whole frame: 8 connections added 470 MB). The server still serves."""
    one = ctx.single()
    base = rss_kib(one.pid)
    socks = []
    for k in range(8):
        s = socket.create_connection((one.host, one.raft_port), timeout=5)
        s.sendall(hello(99, 1) + struct.pack("<BBBBIQQQ", 0xD1, 1, 1, 0,
                                             65 << 20, 99, 1, 1))
        socks.append(s)
    for s in socks:
        try:
            for _ in range(8):
                s.sendall(b"\0" * (1 << 20))
        except OSError:
            pass  # closed by the server: what we want
    for k, s in enumerate(socks):
        check(closed_by_server(s, 5.0), "connection %d still open" % k)
        s.close()
    grown = rss_kib(one.pid) - base
    check(grown < 32 * 1024, "the server grew by %d KiB" % grown)
    check("past the limit of 4194304; closing it" in one.log_text(),
          "the log says why:\n%s" % one.log_tail())
    eq(one.call("PING"), "PONG", "a client after the frames")


def test_connections_without_a_hello_are_few_and_short(ctx):
    """400 peer connections that send nothing or half a hello, at a
    descriptor limit of 256: the server keeps at most 8 of them waiting for
    a hello (the oldest go first), closes every one within about 5 s, and
    clients connect and are served throughout (before, idle peer
    connections took every descriptor and clients were refused)."""
    one = ctx.single()
    subprocess.run(["prlimit", "--pid", str(one.pid), "--nofile=256:256"], check=True)
    socks = []
    for k in range(400):
        s = socket.create_connection((one.host, one.raft_port), timeout=5)
        if k % 2:
            s.sendall(hello(99, 1)[:10])
        socks.append(s)
    c = one.client()
    sess = c.call("SESSION.OPEN", 30000)
    check(c.call("LOCK.ACQUIRE", "while-flooded", sess) > 0, "a grant while flooded")
    time.sleep(0.5)
    still = [s for s in socks if not closed_by_server(s, 0.01)]
    check(len(still) <= 8, "%d connections without a hello still open" % len(still))
    time.sleep(6.5)
    for s in still:
        check(closed_by_server(s, 0.5), "a connection without a hello outlived 5 s")
    for s in socks:
        s.close()
    clients = [one.client() for _ in range(50)]
    for cl in clients:
        eq(cl.call("PING"), "PONG", "a client after the flood")
    check("with no hello within 5 s" in one.log_text(), "the log counts them")


def test_connections_from_a_non_member_are_capped(ctx):
    """Six connections with a hello from id 99 (not a member): the server
    keeps the newest two and closes the others."""
    one = ctx.single()
    socks = []
    for k in range(6):
        s = socket.create_connection((one.host, one.raft_port), timeout=5)
        s.sendall(hello(99, 1))
        socks.append(s)
        time.sleep(0.05)
    open_ = [not closed_by_server(s, 0.3) for s in socks]
    eq(open_, [False] * 4 + [True] * 2, "which connections stay open")
    for s in socks:
        s.close()


def identity_cluster_id(srv):
    with open(os.path.join(srv.data, "IDENTITY")) as f:
        for line in f:
            if line.startswith("cluster_id "):
                return line.split()[1]
    return None


def test_cluster_id_is_shared_and_learnt(ctx):
    """The initial servers of a cluster agree on its id without talking (it
    is derived from the configuration they bootstrap with); a server that
    joins learns it from its leader; a single server started alone has one
    of its own."""
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    ids = {s.id: identity_cluster_id(s) for s in cl.servers}
    check(len(set(ids.values())) == 1 and None not in ids.values(),
          "one cluster id on the initial servers: %r" % ids)
    s4 = ctx.server(4, join=leader.addr)
    s4.start()
    wait_for(lambda: identity_cluster_id(s4) is not None, 15, "server 4 to learn the cluster id")
    eq(identity_cluster_id(s4), ids[1], "server 4's cluster id")
    check("(the leader's)" in s4.log_text(), "server 4 says where it learnt it")
    one = ctx.server(9, name="alone")
    one.start()
    one.wait_leader()
    check(identity_cluster_id(one) not in (None, ids[1]), "a single server's own cluster id")


def test_hello_of_another_cluster_is_refused(ctx):
    """A single server told (CLUSTER.ADD) that its new member 2 is at the
    peer address of server 2 of another cluster: server 2 refuses its hello
    as another cluster's, naming both ids, and both go on; the single server
    keeps trying slowly and says so once (before, server 2 took it as a
    second process of server 1 and the single server stopped, or it took the
    single server's messages)."""
    cl = ctx.cluster(3)
    cl.wait_leader()
    before = terms(cl)
    two = cl.by_id(2)
    b = ctx.server(1, name="other")
    b.start()
    b.wait_leader()
    eq(b.call("CLUSTER.ADD", 2, two.raft_addr), "OK", "CLUSTER.ADD on the single server")
    wait_for(lambda: "another cluster" in two.log_text(), 10, "server 2 to refuse the other cluster")
    time.sleep(2.0)
    check(b.alive(), "the single server stopped:\n%s" % b.log_tail())
    eq(b.log_text().count("refused this server: another cluster"), 1,
       "the single server says it once")
    check(two.log_text().count("another cluster") <= 2, "server 2 says it once per sender")
    eq(terms(cl), before, "the cluster's terms")
    c = cl.wait_leader().client()
    sess = c.call("SESSION.OPEN", 30000)
    check(c.call("LOCK.ACQUIRE", "still", sess) > 0, "the cluster serves")
    eq(b.call("PING"), "PONG", "the single server serves")


def test_cluster_id_whatever_the_order_of_peers(ctx):
    """Initial servers given --peers in different orders, one naming a
    server "localhost" where the others say 127.0.0.1, agree on one cluster
    id and form one cluster."""
    cl = Cluster(ctx, 3)
    entries = cl.servers[0].peers.split(",")
    for k, s in enumerate(cl.servers):
        order = entries[k:] + entries[:k]
        if k == 1:
            order = [e.replace("127.0.0.1", "localhost") for e in order]
        s.peers = ",".join(order)
    cl.start()
    ids = {s.id: identity_cluster_id(s) for s in cl.servers}
    check(len(set(ids.values())) == 1 and None not in ids.values(),
          "one cluster id: %r" % ids)
    c = cl.wait_leader().client()
    sess = c.call("SESSION.OPEN", 30000)
    check(c.call("LOCK.ACQUIRE", "one", sess) > 0, "the cluster serves")


def test_idle_connections_close_and_servers_reconnect(ctx):
    """An established peer connection that brings nothing is closed after
    60 s; servers close their own idle connections after 30 s (followers
    send each other nothing while a leader leads) and connect again when
    they next have something to say: after 65 s, a leader killed is replaced
    through fresh connections and the cluster serves. (Slow: about 70 s.)"""
    cl = ctx.cluster(3)
    leader = cl.wait_leader()
    f = cl.followers(leader)[0]
    idle = socket.create_connection((f.host, f.raft_port), timeout=5)
    idle.sendall(hello(99, f.id))
    check(not closed_by_server(idle, 50.0), "an idle connection closed before 50 s")
    check(closed_by_server(idle, 15.0), "an idle connection still open after 65 s")
    idle.close()
    check("nothing for 60 s; closing it" in f.log_text(), "the log says why")
    leader.kill()
    new = cl.wait_leader(among=[s for s in cl.servers if s is not leader])
    c = new.client()
    sess = c.call("SESSION.OPEN", 30000)
    check(c.call("LOCK.ACQUIRE", "after-idle", sess) > 0, "a grant from the new leader")
