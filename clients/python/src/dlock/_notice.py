"""A loss notice: an event that happens once (a session or a hold lost),
and the callbacks to call the moment it does."""

import threading


class Notice:
    def __init__(self):
        self.event = threading.Event()
        self._mu = threading.Lock()
        self._callbacks = []

    def is_set(self):
        return self.event.is_set()

    def add(self, callback, arg):
        """Calls callback(arg) when the notice fires; at once if it has."""
        with self._mu:
            if not self.event.is_set():
                self._callbacks.append(callback)
                return
        callback(arg)

    def fire(self, arg, before=None):
        """Sets the event (after before(), under the notice's lock) and
        calls each callback with arg, once; False if it had fired."""
        with self._mu:
            if self.event.is_set():
                return False
            if before is not None:
                before()
            self.event.set()
            callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            try:
                cb(arg)
            except Exception:  # noqa: BLE001 - a callback's failure is its own
                pass
        return True

    def clear(self):
        """Ready to fire again (a handle acquired again)."""
        with self._mu:
            self.event.clear()
