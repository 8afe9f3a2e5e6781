"""dlock: a client of the dlock lock service, in Python's standard library
only. See README.md, and docs/protocol.md for the commands it speaks.

    import dlock
    client = dlock.Client("127.0.0.1:7411")
    with client.lock("birthday-mails", wait=30) as lock:
        send_greetings(fence=lock.token)
"""

from .client import Client
from .errors import (AuthError, DlockError, DlockPermissionError, KindError, LimitError,
                     LockHeld, LockLost, NoSession, NotHeld, OutcomeUnknown, RequestError,
                     ServerError, Unavailable, UpgradeError, WaitTimeout)
from .handles import Leadership, Lock, Permits
from .session import Session
from .watch import Change, Watch

__version__ = "0.1.0"

__all__ = [
    "Client", "Session", "Watch", "Change", "Lock", "Permits", "Leadership", "DlockError", "ServerError",
    "RequestError", "LimitError", "LockHeld", "NotHeld", "WaitTimeout", "NoSession",
    "KindError", "UpgradeError", "AuthError", "DlockPermissionError", "Unavailable",
    "OutcomeUnknown", "LockLost",
]
