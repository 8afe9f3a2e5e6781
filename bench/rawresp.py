"""rawresp.py - what the benchmark scripts share to speak to dlockd without
a client library: the RESP encoding of a command, and a free port on
127.0.0.1. Standard library only."""

import socket


def cmd(*args):
    """The RESP array of bulk strings for one command."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
