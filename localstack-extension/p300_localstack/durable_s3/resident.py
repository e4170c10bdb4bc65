"""Which object contents to drop from memory: a byte budget over contents saved as blobs (pure).

LocalStack keeps every object's content in a spooled temporary file for as long as the object
exists: memory grows with what is stored. Durable S3 has each content in a blob on disk as well,
so a content nobody is reading or writing can be dropped and loaded again from its blob on the
next read. `ResidentContents` keeps the accounting: contents enter when their blob is known
(`saved`), are pinned while a handle is open, and the least recently used unpinned ones are named
for eviction once the total exceeds the budget.
"""

from collections import OrderedDict
from collections.abc import Hashable


class ResidentContents:
    """Least-recently-used accounting of contents held in memory that have a blob."""

    def __init__(self):
        self._sizes: OrderedDict[Hashable, int] = OrderedDict()
        self._pins: dict[Hashable, int] = {}
        self.total_bytes = 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._sizes

    def __len__(self) -> int:
        return len(self._sizes)

    def pin(self, key: Hashable) -> None:
        """A handle on `key`'s content was opened: never evict it until `unpin`."""
        self._pins[key] = self._pins.get(key, 0) + 1

    def unpin(self, key: Hashable) -> None:
        count = self._pins.get(key, 0) - 1
        if count > 0:
            self._pins[key] = count
        else:
            self._pins.pop(key, None)

    def saved(self, key: Hashable, size: int) -> None:
        """`key`'s content (`size` bytes) is the same as its blob's; most recently used."""
        self.forget(key)
        self._sizes[key] = size
        self.total_bytes += size

    def used(self, key: Hashable) -> None:
        """`key`'s content was read: most recently used."""
        if key in self._sizes:
            self._sizes.move_to_end(key)

    def forget(self, key: Hashable) -> None:
        """`key`'s content left memory (removed, evicted, or rewritten)."""
        self.total_bytes -= self._sizes.pop(key, 0)

    def to_evict(self, limit_bytes: float) -> list[Hashable]:
        """The unpinned contents to drop, oldest first, to get within the budget; they are
        forgotten here (pinned ones stay, even above the budget).

        Parameters
        ----------
        limit_bytes : int or float
            The budget: bytes held at most (>= 0; ``math.inf``: never evict).
        """
        if limit_bytes < 0:
            raise ValueError(f"limit_bytes must be >= 0, got {limit_bytes}")
        evicted: list[Hashable] = []
        excess = self.total_bytes - limit_bytes
        for key, size in self._sizes.items():
            if excess <= 0:
                break
            if key not in self._pins:
                evicted.append(key)
                excess -= size
        for key in evicted:
            self.forget(key)
        return evicted
