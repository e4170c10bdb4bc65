"""The live journal of durable S3: commits, compaction, the disk reserve, rollbacks (pure).

A compaction to generation g+1 creates journal g+1, then writes snapshot g+1 (temp file, fsync,
rename, fsync folder), then switches appends to journal g+1, and only then deletes the files
older than the previous base snapshot. A crash at any step leaves a complete chain (see
recovery.py), and the previous generation stays on disk as a second copy.

A compaction needs room for a new snapshot. Writes (blobs and journal records) are refused with
DiskFull once they would leave less than that reserve free: the size of the current snapshot
plus the journal growth that triggers the next compaction. A compaction that fails anyway (the
disk filled by something else) does not fail the commit that triggered it: the journal goes on
and the compaction is retried with a back-off.
"""

import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .blobs import BlobStore
from .journal import JournalFile, Record, encode_record
from .recovery import RECOVERY_MODES, S3_SCHEMA, LogSchema, Recovery, recover
from .state import journal_path, remove_generations_before, write_snapshot

LOG = logging.getLogger(__name__)
#: Compact when the journal grows beyond this many bytes.
DEFAULT_COMPACT_BYTES = 64 * 1024 * 1024
#: A failed compaction is retried after this many seconds, doubling up to the maximum.
COMPACTION_BACKOFF_S = (1.0, 60.0)
#: How long a rolled-back thing makes requests that started before the rollback fail, in s.
ROLLBACK_MEMORY_S = 3600.0
MIB = 1024 * 1024
#: A thing a request touched: ("bucket", (bucket,)), ("key", (bucket, key)), ...
Thing = tuple[str, tuple[str, ...]]


class DiskFull(OSError):
    """A write was refused to keep the space a compaction needs."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)


class ChangeUndone(OSError):
    """A concurrent change to the same thing failed and was rolled back while this request ran."""


def free_bytes(directory: Path) -> int:
    stat = os.statvfs(directory)
    return stat.f_bavail * stat.f_frsize


def _lock_exclusively(path: Path, name: str) -> int:
    """Hold an exclusive lock on `path` for this process's lifetime (released by the kernel
    when it dies), so two servers never write the same data directory."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeError(
            f"the {name} data directory {path.parent} is in use by another process; "
            f"give each LocalStack its own data directory"
        ) from None
    return fd


class DurableLog:
    """The live journal: commits records under one lock, compacts when it grows, keeps a disk
    reserve for compaction, and remembers rollbacks.

    Parameters
    ----------
    data_dir : Path
        The data directory (created when missing; mode 0700, so functions and other users can
        neither read nor edit it).
    recovery : str
        One of RECOVERY_MODES: 'strict' refuses to start on damaged files (RecoveryRefused with a
        report); 'salvage' uses a complete older generation, or else every intact record.
    compact_bytes : int
        Compact once the journal is larger than this, in bytes. Also the growth a snapshot may
        take before the next compaction, so it is part of the disk reserve.
    fault_file : Path or None
        Fault injection for tests: while this file exists, journal appends fail with EIO, or only
        blob writes when the file holds 'blob'.
    clock : callable
        Monotonic seconds (tests pass a fake one to check compaction back-off).
    schema : LogSchema
        Which log this is: durable S3's (the default) or another with the same file format.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        schema: LogSchema = S3_SCHEMA,
        recovery: str = "strict",
        compact_bytes: int = DEFAULT_COMPACT_BYTES,
        fault_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if compact_bytes <= 0:
            raise ValueError(f"compact_bytes must be > 0, got {compact_bytes}")
        if recovery not in RECOVERY_MODES:
            raise ValueError(f"recovery must be one of {RECOVERY_MODES}, got {recovery!r}")
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        self._dir_lock: int | None = _lock_exclusively(data_dir / "lock", schema.fmt.name)
        self.schema = schema
        self.data_dir = data_dir
        self.compact_bytes = compact_bytes
        self.fault_file = fault_file
        self.clock = clock
        self.lock = threading.Lock()
        self.blobs = BlobStore(data_dir / "blobs", check_space=self._before_blob_write)
        try:
            self.recovery: Recovery = recover(data_dir, self.blobs, mode=recovery, schema=schema)
        except BaseException:
            self.close()
            raise
        self.state = self.recovery.state
        self.generation = self.recovery.generation
        self._base = self.recovery.base
        self._snapshot_bytes = self.recovery.snapshot_bytes
        self._journal: JournalFile | None = None
        self._retry_compaction_at = 0.0
        self._backoff_s = COMPACTION_BACKOFF_S[0]
        self._rolled_back: dict[Thing, float] = {}

    # Start and stop ----------------------------------------------------------------------------
    def open(self) -> None:
        """Start journaling: append to the recovered journal, or compact first when recovery
        needs a fresh generation (a torn tail, an older format, a salvage). Raises OSError when
        that compaction fails (the server must not start)."""
        with self.lock:
            if self.recovery.needs_compaction:
                self._compact_locked()
            else:
                path = journal_path(self.data_dir, self.generation)
                self._journal = JournalFile(path, self.generation, fmt=self.schema.fmt)

    def collect_blobs(self) -> int | None:
        """Delete blobs no record names (and half-written ones); returns how many, or None when
        collection is off because a recovery lost records (see Recovery.keeps_blobs)."""
        removed = self.blobs.remove_temporaries()
        if self.recovery.keeps_blobs:
            return None
        with self.lock:
            return removed + self.blobs.collect(self.state.referenced_blobs())

    def compact(self) -> None:
        """Snapshot the state as the next generation (on a clean stop; failures are logged)."""
        with self.lock:
            if self._journal is None:
                return
            try:
                self._compact_locked()
            except OSError as error:
                LOG.error("%s: compaction at stop failed, the journal stays: %s", self._name, error)

    def close(self) -> None:
        with self.lock:
            if getattr(self, "_journal", None) is not None:
                self._journal.close()
                self._journal = None
            if self._dir_lock is not None:
                os.close(self._dir_lock)
                self._dir_lock = None

    # Commits -----------------------------------------------------------------------------------
    def commit(
        self, things: list[Thing], capture: Callable[[], list[Record]], *, started: float
    ) -> list[Record]:
        """Append the records `capture` returns (called under the lock).

        Capturing under the same lock as appending keeps the journal in the order the state was
        read, so the last record of a thing is always its newest state. Raises OSError when
        nothing of this commit is in the journal: the journal is closed or failed, the disk
        reserve would be eaten into (DiskFull), or a thing was rolled back after `started`
        (ChangeUndone). A compaction failure after a successful append is not an error of this
        commit: it is logged and retried later.
        """
        with self.lock:
            if self._journal is None:
                raise OSError(f"the {self._name} journal is closed")
            self._check_not_undone(things, started)
            records = capture()
            if not records:
                return records
            frames = b"".join(encode_record(r, fmt=self.schema.fmt) for r in records)
            self._inject_fault("journal")
            self.check_space(len(frames))
            self.blobs.sync_folder()
            self._journal.append(frames)
            for record in records:
                self.state.apply(record)
            self._compact_if_due()
            return records

    def rollback(self, things: list[Thing], undo: Callable[[str, tuple, list[Record]], set[str]]):
        """Put each thing back to its durable state: `undo(kind, ident, records)` restores the
        live state from `records` and returns the blob ids it dropped. Blobs no record names
        are deleted; requests on these things that started earlier will fail (ChangeUndone)."""
        with self.lock:
            now = self.clock()
            dropped: set[str] = set()
            for kind, ident in things:
                dropped |= undo(kind, ident, self.state.get(kind, ident))
                self._rolled_back[(kind, ident)] = now
            self.blobs.discard({b for b in dropped if not self.state.is_referenced(b)})
            if len(self._rolled_back) > 10_000:
                self._rolled_back = {
                    t: at for t, at in self._rolled_back.items() if now - at < ROLLBACK_MEMORY_S
                }

    def check_space(self, incoming: int) -> None:
        """Raise DiskFull unless `incoming` bytes leave the reserve free: room for a snapshot of
        the current size plus the journal growth that triggers the next compaction."""
        reserve = self._snapshot_bytes + self.compact_bytes
        free = free_bytes(self.data_dir)
        if free - incoming < reserve:
            raise DiskFull(
                f"not enough disk space for {self._name} in {self.data_dir}: {free / MIB:.1f} MiB "
                f"free, {incoming} bytes to write, and {reserve / MIB:.1f} MiB are kept free so "
                f"that the journal can always be compacted; free some space and retry"
            )

    # Internals ---------------------------------------------------------------------------------
    @property
    def _name(self) -> str:
        return self.schema.fmt.name

    def _check_not_undone(self, things: list[Thing], started: float) -> None:
        for kind, ident in things:
            related = [(kind, ident), ("bucket", ident[:1])]
            if kind == "part":
                related.append(("mpu", ident[:2]))
            for thing in related:
                if self._rolled_back.get(thing, float("-inf")) > started:
                    raise ChangeUndone(
                        errno.EAGAIN,
                        f"a concurrent change to {thing[0]} {'/'.join(thing[1])} could not be "
                        f"saved and was undone while this request ran; retry it",
                    )

    def _before_blob_write(self, size: int) -> None:
        self._inject_fault("blob")
        self.check_space(size)

    def _inject_fault(self, where: str) -> None:
        if self.fault_file is None or not self.fault_file.exists():
            return
        target = self.fault_file.read_text().strip() or "journal"
        if target == where:
            raise OSError(errno.EIO, f"{where} write failed: fault injected by {self.fault_file}")

    def _compact_if_due(self) -> None:
        if self._journal.size <= self.compact_bytes or self.clock() < self._retry_compaction_at:
            return
        try:
            self._compact_locked()
        except OSError as error:
            LOG.error(
                "%s: compaction failed, writes go on in the journal and it is retried in "
                "%.0f s: %s",
                self._name,
                self._backoff_s,
                error,
            )
            self._retry_compaction_at = self.clock() + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, COMPACTION_BACKOFF_S[1])
        else:
            self._backoff_s = COMPACTION_BACKOFF_S[0]

    def _compact_locked(self) -> None:
        next_generation = self.generation + 1
        fmt = self.schema.fmt
        journal = JournalFile(
            journal_path(self.data_dir, next_generation), next_generation, fmt=fmt
        )
        try:
            self._snapshot_bytes = write_snapshot(
                self.data_dir, next_generation, self.state.records(), fmt
            )
        except BaseException:
            journal.close()
            raise
        if self._journal is not None:
            self._journal.close()
        self._journal = journal
        self.generation = next_generation
        if self._base is not None:  # keep the previous generation: the old base and later
            remove_generations_before(self.data_dir, self._base)
        self._base = next_generation
