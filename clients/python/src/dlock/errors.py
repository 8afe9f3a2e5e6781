"""The exceptions of the dlock client. Each server error maps to one class
by its code word (docs/protocol.md §2); every class derives from
DlockError."""

__all__ = [
    "DlockError", "ServerError", "RequestError", "LimitError", "LockHeld",
    "NotHeld", "WaitTimeout", "NoSession", "KindError", "UpgradeError",
    "AuthError", "DlockPermissionError", "Unavailable", "OutcomeUnknown",
    "LockLost",
]


class DlockError(Exception):
    """Anything the client raises."""


class ServerError(DlockError):
    """A server's answer that is an error: code is its first word."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message
        self.code = message.split(" ", 1)[0]


class RequestError(ServerError):
    """ERR: a malformed request, or a request id reused for another
    request. Nothing changed."""


class LimitError(ServerError):
    """LIMIT: a size or count limit of the server; nothing changed."""


class LockHeld(ServerError):
    """HELD: a try found the lock (or semaphore, or election) held.
    holder is the holding session's id when the server names it."""

    @property
    def holder(self):
        words = self.message.split()
        return int(words[-1]) if len(words) >= 4 and words[-1].isdigit() else None


class NotHeld(ServerError):
    """NOTHELD: a release or proclaim by someone who does not hold it."""


class WaitTimeout(ServerError):
    """TIMEOUT: the wait ran out before the lock was granted."""


class NoSession(ServerError):
    """NOSESSION: the session has ended (closed or expired): its locks
    are lost."""


class KindError(ServerError):
    """KIND: the name is of another kind (a lock, a semaphore, an
    election), or a semaphore of other permits."""


class UpgradeError(ServerError):
    """UPGRADE: an exclusive acquire by an owner that holds the lock
    shared only: release the shared hold first."""


class AuthError(ServerError):
    """WRONGPASS or NOAUTH: fix the user and password."""


class DlockPermissionError(ServerError):
    """NOPERM: the user may not do that; nothing changed."""


class Unavailable(DlockError):
    """No server could be reached, or none answered in time. For a write,
    use OutcomeUnknown's test: the client retried it with its request id
    already."""


class OutcomeUnknown(Unavailable):
    """A write was sent and no answer came in time: it may have taken
    effect. Calling it again (the same object) is safe."""


class LockLost(DlockError):
    """The lock (or permits, or leadership) can no longer be proven held:
    its session's lease ran out without a renewal, or the server ended it.
    Stop the work it protects; writes already sent are refused by a store
    that checks the fencing token."""


_BY_CODE = {
    "ERR": RequestError, "LIMIT": LimitError, "HELD": LockHeld, "NOTHELD": NotHeld,
    "TIMEOUT": WaitTimeout, "NOSESSION": NoSession, "KIND": KindError,
    "UPGRADE": UpgradeError, "WRONGPASS": AuthError, "NOAUTH": AuthError,
    "NOPERM": DlockPermissionError,
}


def from_reply(message):
    """The exception for a server's error text."""
    return _BY_CODE.get(message.split(" ", 1)[0], ServerError)(message)
