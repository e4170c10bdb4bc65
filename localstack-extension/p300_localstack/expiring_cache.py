"""A small cache whose entries expire after a time and whose oldest go first when full (pure)."""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class ExpiringCache:
    """Values by key, each kept for `max_age_s` seconds after it was put, at most `max_entries`
    (the least recently put dropped first). Thread-safe.

    Parameters
    ----------
    max_age_s : float
        Seconds a value is returned after it was put (> 0).
    max_entries : int
        Values kept at most (> 0).
    clock : callable
        Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        *,
        max_age_s: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        if max_age_s <= 0:
            raise ValueError(f"max_age_s must be > 0 seconds, got {max_age_s}")
        if max_entries <= 0:
            raise ValueError(f"max_entries must be > 0, got {max_entries}")
        self.max_age_s = max_age_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Any:
        """The value put under `key` less than `max_age_s` ago, else None (and it is dropped)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._clock() - entry[0] >= self.max_age_s:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
