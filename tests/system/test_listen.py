"""test_listen.py - dlockd that cannot listen says where and which option
gave the address, the peer address's default included (docs/operations.md,
Options)."""

import socket

import dlocktest
from dlocktest import check, start_fails


def taken_port():
    """A listening socket on a port P of 127.0.0.1 whose P - 100 is free
    (a client port whose default peer port is P); returns (socket, P)."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((dlocktest.HOST, 0))
        s.listen(1)
        port = s.getsockname()[1]
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if port > 1124:
                probe.bind((dlocktest.HOST, port - 100))
                return s, port
        except OSError:
            pass
        finally:
            probe.close()
        s.close()
    raise AssertionError("no port P with P - 100 free")


def test_listen_errors_name_the_option(ctx):
    """A taken client port names --listen; a taken peer port names --raft,
    and when the address was not given, how its default was found (the
    --listen port + 100, or this server's --peers entry)."""
    sock, p = taken_port()
    try:
        taken = "127.0.0.1:%d" % p
        free = "127.0.0.1:%d" % (p - 100)
        err = start_fails(ctx, "derived", "--listen", free)
        check("cannot listen for peers on %s (--raft, by default the --listen port + 100): "
              "address already in use" % taken in err, "derived peer port:\n%s" % err)
        err = start_fails(ctx, "client", "--listen", taken, "--raft",
                          "127.0.0.1:%d" % dlocktest.free_port())
        check("cannot listen for clients on %s (--listen): address already in use" % taken
              in err, "client port:\n%s" % err)
        err = start_fails(ctx, "given", "--listen", free, "--raft", taken)
        check("cannot listen for peers on %s (--raft): address already in use" % taken in err,
              "--raft given:\n%s" % err)
        err = start_fails(ctx, "peers", "--listen", free, "--peers",
                          "1=%s,2=127.0.0.1:%d" % (taken, dlocktest.free_port()))
        check("cannot listen for peers on %s (--raft, by default this server's entry in "
              "--peers): address already in use" % taken in err, "from --peers:\n%s" % err)
    finally:
        sock.close()
