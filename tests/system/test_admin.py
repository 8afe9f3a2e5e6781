"""test_admin.py - administrative input (CLUSTER.ADD, CLUSTER.REMOVE, --id,
--peers) is checked before anything is proposed or started, and refused with
the reason (docs/protocol.md §6, docs/operations.md, Options)."""

import time

import dlocktest
from dlocktest import RespError, check, eq, start_fails

BIG_ID = "9223372036854775808"  # INT64_MAX + 1


def refused(v, words, what):
    check(isinstance(v, RespError) and v.code == "ERR" and words in v.message,
          "%s: expected ERR ... %s ..., got %r" % (what, words, v))


def test_cluster_add_refuses_bad_input(ctx):
    """CLUSTER.ADD refuses, with ERR and the reason, an address peers cannot
    connect to (not host:port, a port out of range or 0, a host name), an
    address a member has (this server's own, spelt otherwise too) and an id
    a member has or above 2^63-1; CLUSTER.REMOVE refuses an id that is not
    a member. Nothing is proposed: the configuration and the last index stay
    as they were, and the server never logs a bad address."""
    srv = ctx.single()
    c = srv.client()
    before = srv.info()
    other = "127.0.0.1:%d" % dlocktest.free_port()
    bad_addr = ["notanaddress", "[::1]:99999", "127.0.0.1:0", "127.0.0.1:", ":7511",
                "example.com:7511", "127.0.0.1:-1", "127.0.0.1:75x"]
    for addr in bad_addr:
        refused(c.try_call("CLUSTER.ADD", 99, addr), "is not a peer address", "CLUSTER.ADD 99 " + addr)
    own = srv.raft_addr
    for addr in (own, "localhost:%d" % srv.raft_port):
        refused(c.try_call("CLUSTER.ADD", 99, addr), "is the peer address of server 1 (this server)",
                "CLUSTER.ADD 99 " + addr)
    refused(c.try_call("CLUSTER.ADD", 1, other), "server 1 is already a member", "CLUSTER.ADD 1")
    for bad_id in (BIG_ID, "18446744073709551614", "0", "-2"):
        refused(c.try_call("CLUSTER.ADD", bad_id, other), "must be an integer from 1 to 9223372036854775807",
                "CLUSTER.ADD " + bad_id)
    refused(c.try_call("CLUSTER.REMOVE", 12345), "server 12345 is not a member", "CLUSTER.REMOVE 12345")
    time.sleep(0.3)
    after = srv.info()
    eq((after["last_index"], after["members"]), (before["last_index"], before["members"]),
       "last index and members after the refused changes")
    # A good address of a server that is not there yet is taken, and one of
    # a member is then refused under another id.
    eq(c.call("CLUSTER.ADD", 2, other), "OK", "CLUSTER.ADD 2 " + other)
    refused(c.try_call("CLUSTER.ADD", 3, other), "is the peer address of server 2", "a second id at server 2's address")
    refused(c.try_call("CLUSTER.ADD", 2, "127.0.0.1:%d" % dlocktest.free_port()), "server 2 is already a member",
            "CLUSTER.ADD 2 again")
    eq(c.call("CLUSTER.REMOVE", 2), "OK", "CLUSTER.REMOVE 2")
    with open(srv.log_path) as f:
        log = f.read()
    check("bad address" not in log, "the log names a bad address:\n%s" % log[-2000:])


def test_ids_and_peer_addresses_checked_at_start(ctx):
    """dlockd refuses, at once and saying what is allowed, an --id above
    2^63-1 (ids are shown as RESP integers, which are signed) and --peers
    with such an id or an address peers cannot connect to; 2^63-1 itself is
    a valid id, and CLUSTER.INFO shows it as it is."""
    port = dlocktest.free_port()
    listen = ["--listen", "127.0.0.1:%d" % port, "--raft", "127.0.0.1:%d" % dlocktest.free_port()]
    err = start_fails(ctx, "big-id", "--id", BIG_ID, *listen, code=2)
    check("bad value for --id: '%s' (a server id is 1 to 9223372036854775807)" % BIG_ID in err,
          "--id %s:\n%s" % (BIG_ID, err))
    for peers in ("1=127.0.0.1:%d,%s=127.0.0.1:1" % (port + 100, BIG_ID),
                  "1=127.0.0.1:%d,2=notanaddress" % (port + 100),
                  "1=127.0.0.1:%d,2=[::1]:99999" % (port + 100)):
        err = start_fails(ctx, "peers", "--listen", "127.0.0.1:%d" % port, "--peers", peers, code=2)
        check("bad value for --peers" in err and "ids 1 to 9223372036854775807" in err,
              "--peers %s:\n%s" % (peers, err))
    err = start_fails(ctx, "raft", "--listen", "127.0.0.1:%d" % port, "--raft", "127.0.0.1:0", code=2)
    check("bad value for --raft: '127.0.0.1:0' (HOST:PORT" in err, "--raft port 0:\n%s" % err)
    srv = ctx.server(9223372036854775807)
    srv.start()
    srv.wait_leader()
    info = srv.info()
    eq((info["id"], info["leader"], [m["id"] for m in info["members"]]),
       (9223372036854775807, 9223372036854775807, [9223372036854775807]), "CLUSTER.INFO of the largest id")
