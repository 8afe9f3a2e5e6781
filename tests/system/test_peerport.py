"""test_peerport.py - what reaches a server's peer port from outside the
cluster (issue 14, item 5): a frame from a server id that is not a member,
with a term near 2^64, changes no server's term, and the cluster goes on
electing and serving, across restarts; a stored term past the bound (as an
earlier version could write) stops the server at start with the way back,
and `dlockd --reset-term` brings a single server back."""

import glob
import os
import random
import socket
import struct
import time

from dlocktest import check, eq, start_fails, wait_for

MSG_APPEND_RESP, MSG_VOTE, MSG_HEARTBEAT, MSG_HEARTBEAT_RESP = 2, 3, 7, 8


def hello(frm, to, client_addr="127.0.0.1:1", raft_addr="127.0.0.1:2"):
    """A version 2 peer hello (src/raft/hello.h)."""
    c, r = client_addr.encode(), raft_addr.encode()
    return (b"DLKP" + bytes([2]) +
            struct.pack("<QQQQ", frm, to, random.getrandbits(63) | 1,
                        random.getrandbits(63) | 1) +
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
