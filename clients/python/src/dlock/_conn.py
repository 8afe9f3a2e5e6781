"""One connection to one server: TCP or TLS, logged in, one request at a
time. The client (client.py) keeps a pool of them per server."""

import socket
import ssl

from . import _resp
from .errors import AuthError


class Conn:
    def __init__(self, addr, timeout, ssl_context=None, user=None, password=None):
        host, port = split_addr(addr)
        self.addr = addr
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is not None:
            try:
                sock = ssl_context.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        self.reader = _resp.Reader()
        if password is not None:
            args = ["AUTH", user, password] if user else ["AUTH", password]
            reply = self.call(args, timeout)
            if isinstance(reply, _resp.ErrorReply):
                self.close()
                raise AuthError(reply.message)

    def call(self, args, timeout):
        """Sends one request and reads its reply (an ErrorReply for an
        error). OSError (socket.timeout among them) when the connection
        fails or no answer comes within timeout seconds: the connection is
        then closed, and the request's outcome unknown."""
        try:
            self.sock.settimeout(timeout)
            self.sock.sendall(_resp.encode(args))
            while True:
                v = self.reader.get()
                if v is not _resp.NOTHING:
                    return v
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionResetError("the server closed the connection")
                self.reader.feed(data)
        except (OSError, _resp.ProtocolError, ValueError) as e:
            self.close()
            if isinstance(e, OSError):
                raise
            raise ConnectionError("a reply RESP does not allow: %s" % e) from e
        except BaseException:
            # Interrupted (KeyboardInterrupt, LockLost raised in this
            # thread): the server learns the client went away, so that a
            # blocking acquire given up leaves no holder behind.
            self.close()
            raise

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


def split_addr(addr):
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError("a server address is host:port, not %r" % addr)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def tls_context(ca, cert=None, key=None):
    """A context that checks the servers' certificates against ca (and
    their host names), presenting cert and key when given."""
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key or None)
    return ctx
