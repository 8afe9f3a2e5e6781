"""RESP, the Redis protocol (RESP2, and RESP3 after HELLO 3), as dlockd
speaks it: requests out, replies in. Pure: bytes in, values out. RESP3's
maps become dicts, pushes Push lists, its null None."""

__all__ = ["encode", "Reader", "ErrorReply", "Push", "NOTHING"]


class Push(list):
    """A RESP3 push: what the server sends unasked (a watch's changes)."""


class ErrorReply:
    """An error reply: its code word (HELD, LEADER, ...) and its text."""

    __slots__ = ("message",)

    def __init__(self, message):
        self.message = message

    @property
    def code(self):
        return self.message.split(" ", 1)[0]

    def __repr__(self):
        return "ErrorReply(%r)" % self.message


NOTHING = object()  # Reader.get: no whole value yet


def _bytes(a):
    if isinstance(a, bytes):
        return a
    if isinstance(a, str):
        return a.encode("utf-8")
    if isinstance(a, bool):
        raise TypeError("booleans are not arguments")
    if isinstance(a, int):
        return str(a).encode("ascii")
    raise TypeError("an argument must be bytes, str or int, not %s" % type(a).__name__)


def encode(args):
    """A request: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = _bytes(a)
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class ProtocolError(Exception):
    """The server sent what RESP does not allow."""


class Reader:
    """Replies parsed from the bytes fed in, one at a time."""

    MAX_BULK = 512 * 1024 * 1024
    MAX_ELEMS = 1 << 24

    def __init__(self):
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data):
        if self._pos > 65536 and self._pos > len(self._buf) // 2:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    def get(self):
        """The next whole reply, or NOTHING."""
        try:
            value, pos = self._value(self._pos)
        except IndexError:
            return NOTHING
        self._pos = pos
        return value

    def _line(self, pos):
        end = self._buf.find(b"\r\n", pos)
        if end < 0:
            raise IndexError
        return bytes(self._buf[pos:end]), end + 2

    def _value(self, pos):
        if pos >= len(self._buf):
            raise IndexError
        t = self._buf[pos:pos + 1]
        line, pos = self._line(pos + 1)
        if t == b"+":
            return line.decode("utf-8", "replace"), pos
        if t == b"-":
            return ErrorReply(line.decode("utf-8", "replace")), pos
        if t == b":":
            return int(line), pos
        if t == b"$":
            n = int(line)
            if n < 0:
                return None, pos
            if n > self.MAX_BULK:
                raise ProtocolError("a bulk string of %d bytes" % n)
            if len(self._buf) < pos + n + 2:
                raise IndexError
            return bytes(self._buf[pos:pos + n]), pos + n + 2
        if t in (b"*", b">", b"~", b"%", b"|"):
            n = int(line)
            if n < 0:
                return None, pos
            if n > self.MAX_ELEMS:
                raise ProtocolError("an aggregate of %d elements" % n)
            items = []
            for _ in range(n * 2 if t in (b"%", b"|") else n):
                v, pos = self._value(pos)
                items.append(v)
            if t == b"|":  # an attribute: what follows is the value
                return self._value(pos)
            if t == b"%":
                return {_key(items[i]): items[i + 1] for i in range(0, len(items), 2)}, pos
            return (Push(items) if t == b">" else items), pos
        if t == b"_":
            return None, pos
        if t == b"#":
            return line == b"t", pos
        if t == b",":
            return float(line), pos
        if t == b"(":
            return int(line), pos
        if t in (b"=", b"!"):
            n = int(line)
            if len(self._buf) < pos + n + 2:
                raise IndexError
            body = bytes(self._buf[pos:pos + n])
            if t == b"!":
                return ErrorReply(body.decode("utf-8", "replace")), pos + n + 2
            return body[4:], pos + n + 2  # "txt:" first
        raise ProtocolError("unexpected type byte %r" % t)


def _key(k):
    return k.decode("utf-8", "replace") if isinstance(k, bytes) else k
