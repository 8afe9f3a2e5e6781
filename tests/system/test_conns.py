"""test_conns.py - what client connections may hold, all together: the
input buffered by all of them (--max-input-total), unfinished requests
(--request-timeout-ms) and idle connections (--idle-timeout-ms), the
connections of one source address (--max-clients-per-address), the file
descriptors of the process, and memory given back
(docs/protocol.md §7)."""

import socket
import time

import dlocktest
from dlocktest import Client, Closed, RespError, check, eq, wait_for

MIB = 1 << 20


def half_request(size, sent):
    """The first sent bytes of an ECHO of size bytes."""
    head = b"*2\r\n$4\r\nECHO\r\n$%d\r\n" % size
    return (head + b"x" * size + b"\r\n")[:sent]


def rest_of_request(size, sent):
    head = b"*2\r\n$4\r\nECHO\r\n$%d\r\n" % size
    return (head + b"x" * size + b"\r\n")[sent:]


def vm(pid, field):
    """VmRSS or VmHWM of a process, in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def answered_or_closed(c, timeout):
    """Whether a reply or the end of the connection came within timeout."""
    try:
        return c.pending(timeout)
    except (Closed, ConnectionResetError):
        return True


def is_limit(v, text=""):
    return isinstance(v, RespError) and v.code == "LIMIT" and text in v.message


def test_input_total_is_bounded(ctx):
    """Connections that each send most of a 1 MiB request take the input
    held past --max-input-total: the one holding the most is answered LIMIT
    and closed each time, so the total stays near the bound, and a client
    that sends whole requests is still served."""
    srv = ctx.single(extra=("--max-input-total", str(4 * MIB)))
    normal = srv.client()
    conns = []
    try:
        for i in range(16):
            c = Client(srv.addr, timeout=10)
            c.send_raw(half_request(MIB - 100, 700 * 1024))
            conns.append(c)
            eq(normal.call("PING"), "PONG", "a whole request after %d half-sent" % (i + 1))
        closed = []
        for c in conns:
            if answered_or_closed(c, 0.5):
                replies = c.read_until_closed(5)
                check(replies and is_limit(replies[0], "--max-input-total"),
                      "a connection closed past the bound: %r" % (replies,))
                closed.append(c)
        check(len(closed) >= 16 - 6,
              "at most about 4 MiB held: %d of 16 connections closed" % len(closed))
        check("--max-input-total" in srv.log_text(), "logged")
        eq(normal.call("ECHO", "still"), "still", "the normal client")
    finally:
        for c in conns:
            c.close()


def test_unfinished_request_times_out(ctx):
    """A request left unfinished for --request-timeout-ms is answered LIMIT
    and its connection closed; a request completed in time, and a
    connection that sends nothing, are not."""
    srv = ctx.single(extra=("--request-timeout-ms", "500"))
    slow = srv.client()
    quiet = srv.client()
    slow.send_raw(b"*1\r\n$4\r\nPI")
    t0 = time.monotonic()
    replies = slow.read_until_closed(5)
    took = time.monotonic() - t0
    check(replies and is_limit(replies[0], "--request-timeout-ms"), "replies: %r" % (replies,))
    check(took >= 0.4, "not before the timeout (%.2f s)" % took)
    # Pieces within the timeout, each completing a request: served.
    steady = srv.client()
    for _ in range(4):
        steady.send_raw(b"*1\r\n$4\r\nPI")
        time.sleep(0.3)
        steady.send_raw(b"NG\r\n")
        eq(steady.read(), "PONG", "a request completed in time")
    eq(quiet.call("PING"), "PONG", "a connection that sent nothing")


def test_idle_connection_times_out(ctx):
    """A connection with nothing under way is closed after --idle-timeout-ms;
    one that keeps sending requests, and one whose blocking acquire waits
    longer than the timeout, are not."""
    srv = ctx.single(extra=("--idle-timeout-ms", "600"))
    idle = srv.client()
    eq(idle.call("PING"), "PONG", "served first")
    busy = srv.client()
    holder = srv.client()
    waiter = srv.client()
    a = holder.call("SESSION.OPEN", 20000)
    b = holder.call("SESSION.OPEN", 20000)
    eq(holder.call("LOCK.ACQUIRE", "idle", a), 1, "acquired")
    waiter.send("LOCK.ACQUIRE", "idle", b, "WAIT", 2000)
    t0 = time.monotonic()
    closed_after = None
    while time.monotonic() - t0 < 2.0:
        eq(busy.call("PING"), "PONG", "a connection in use")
        if closed_after is None and answered_or_closed(idle, 0.2):
            eq(idle.read_until_closed(2), [], "the idle connection closed without a reply")
            closed_after = time.monotonic() - t0
    check(closed_after is not None and closed_after >= 0.3,
          "the idle connection closed after the timeout (%r s)" % closed_after)
    v = waiter.read(5)
    check(is_limit(v) is False and isinstance(v, RespError) and v.code == "TIMEOUT",
          "the blocking acquire got its own answer: %r" % (v,))


def test_connections_per_address(ctx):
    """Past --max-clients-per-address a new connection from that address
    gets LIMIT and is closed; another address (127.0.0.2 also reaches
    loopback) is still served, and a connection that closes makes room."""
    srv = ctx.single(extra=("--max-clients-per-address", "5"))
    first = srv.client()
    wait_for(lambda: "connected_clients:1\r" in first.call("INFO"), 5, "the earlier connections to close")
    conns = [first] + [srv.client() for _ in range(4)]
    for c in conns:
        eq(c.call("PING"), "PONG", "within the cap")
    extra = srv.client()
    replies = extra.read_until_closed()
    check(replies and is_limit(replies[0], "--max-clients-per-address 5"), "the 6th: %r" % (replies,))
    other = Client(srv.addr, source="127.0.0.2")
    eq(other.call("PING"), "PONG", "a client from another address")
    conns.pop().close()
    wait_for(lambda: "connected_clients:5\r" in first.call("INFO"), 5, "a connection to go")
    again = srv.client()
    eq(again.call("PING"), "PONG", "room again")


def open_until_refused(srv, most):
    """Connects until the server refuses (LIMIT, then closed); the ones it
    took and the refusal. A connection reset without an answer fails."""
    conns = []
    for _ in range(most):
        c = Client(srv.addr, timeout=10)
        try:
            c.send("PING")
            v = c.read(5)
        except (Closed, ConnectionResetError) as e:
            raise AssertionError("connection %d closed without an answer (%s)" % (len(conns) + 1, e))
        if isinstance(v, RespError):
            try:
                rest = c.read_until_closed(5)
            except ConnectionResetError:
                rest = []
            c.close()
            return conns, v, rest
        eq(v, "PONG", "connection %d" % (len(conns) + 1))
        conns.append(c)
    raise AssertionError("%d connections taken at ulimit -n %d" % (most, srv.nofile))


def test_file_descriptors_run_out(ctx):
    """At a low ulimit -n the server takes fewer clients than --max-clients
    (and logs so), answers LIMIT to the next instead of resetting it, and
    still writes snapshots with every client slot taken."""
    srv = ctx.server(1, extra=["--snapshot-entries", "100"])
    srv.nofile = 160
    srv.start().wait_leader()
    conns, refusal, rest = open_until_refused(srv, 300)
    try:
        check(is_limit(refusal, "too many"), "the refusal: %r" % (refusal,))
        check(len(conns) >= 50, "%d clients taken" % len(conns))
        check("(--max-clients)" in srv.log_text() and "ulimit -n" in srv.log_text(),
              "the lowered maximum logged")
        info = dict(line.split(":", 1) for line in conns[0].call("INFO", "clients").split("\r\n")
                    if ":" in line)
        most = int(info["maxclients"])
        check(len(conns) <= most < 160, "INFO maxclients %d, %d taken" % (most, len(conns)))
        c = conns[0]
        s = c.call("SESSION.OPEN", 20000)
        before = srv.log_text().count("snapshot at ")
        for i in range(250):
            c.call("LOCK.ACQUIRE", "fd-%d" % i, s)
        wait_for(lambda: srv.log_text().count("snapshot at ") > before, 10, "a snapshot")
        check("cannot snapshot" not in srv.log_text(), "no snapshot failed")
        for c in conns[-3:]:
            eq(c.call("PING"), "PONG", "the clients taken are served")
    finally:
        for c in conns:
            c.close()


def test_descriptors_taken_elsewhere(ctx):
    """When accept itself runs out of descriptors (taken here by idle
    connections to the peer port), a client connection is answered LIMIT
    too many open files, never reset without a word, and that is logged
    once, not once per connection."""
    srv = ctx.server(1)
    srv.nofile = 128
    srv.start().wait_leader()
    peers = []
    try:
        for _ in range(200):
            try:
                peers.append(socket.create_connection(("127.0.0.1", srv.raft_port), timeout=5))
            except OSError:
                break
        time.sleep(0.3)
        answers = []
        for _ in range(5):
            c = Client(srv.addr, timeout=10)
            try:
                c.send("PING")
                answers.append(c.read(5))
            except (Closed, ConnectionResetError) as e:
                raise AssertionError("a client connection closed without an answer (%s)" % e)
            finally:
                c.close()
        for v in answers:
            check(v == "PONG" or is_limit(v, "too many open files"), "answers: %r" % (answers,))
        if any(v != "PONG" for v in answers):
            eq(srv.log_text().count("out of file descriptors"), 1, "log lines")
    finally:
        for p in peers:
            p.close()
    wait_for(lambda: srv.try_call("PING", timeout=2) == "PONG", 10, "served once the peer connections went")


def test_memory_given_back(ctx):
    """The memory of large requests is given back: once they complete the
    server's resident memory falls well below its peak with the connections
    still open, and stays there once they close."""
    with open(dlocktest.dlockd_path(), "rb") as f:
        if b"__asan_init" in f.read():
            raise dlocktest.Skip("a sanitizer's allocator keeps what is freed")
    srv = ctx.single()
    n, size, sent = 120, 1000 * 1024, 900 * 1024
    base = vm(srv.pid, "VmRSS")
    conns = [Client(srv.addr, timeout=20) for _ in range(n)]
    try:
        for c in conns:
            c.send_raw(half_request(size, sent))
        wait_for(lambda: vm(srv.pid, "VmRSS") - base > n * sent // 2, 10,
                 "the half-sent requests held")
        peak = vm(srv.pid, "VmRSS")
        for c in conns:
            c.send_raw(rest_of_request(size, sent))
            v = c.read(20)
            check(isinstance(v, str) and len(v) == size, "the ECHO reply")
        held = peak - base
        wait_for(lambda: vm(srv.pid, "VmRSS") - base < held // 4, 10,
                 "memory given back with the connections open (peak +%d MiB, now +%d MiB)"
                 % (held >> 20, (vm(srv.pid, "VmRSS") - base) >> 20))
        eq(conns[0].call("PING"), "PONG", "still served")
    finally:
        for c in conns:
            c.close()
    wait_for(lambda: vm(srv.pid, "VmRSS") - base < held // 4, 10, "memory stays given back")
