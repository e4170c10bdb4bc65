"""The durable S3 state: snapshot + journal replay, compaction (pure: no LocalStack imports).

Layout of the data directory (generation ``g`` counts compactions)::

    snapshot-<g>.snap   every live record at compaction g (written to a temp file, fsynced, renamed)
    journal-<g>.log     records appended since snapshot g
    blobs/<blob id>     immutable object and part contents (see blobs.py)

Recovery loads the newest snapshot, replays its journal up to the first torn or corrupt record,
then compacts into generation g+1, so a torn tail is never appended to.
"""

import fcntl
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .journal import JournalFile, Record, encode_record, read_records

SNAPSHOT_NAME = re.compile(r"snapshot-(\d+)\.snap")
JOURNAL_NAME = re.compile(r"journal-(\d+)\.log")
#: Compact when the journal grows beyond this many bytes.
DEFAULT_COMPACT_BYTES = 64 * 1024 * 1024


class BucketEntry:
    """A bucket's record with the records of its keys and in-progress multipart uploads."""

    def __init__(self):
        self.bucket: Record | None = None
        self.keys: dict[str, Record] = {}
        self.mpus: dict[str, Record] = {}


class DurableState:
    """The latest record of every bucket, key and multipart upload, by bucket name."""

    def __init__(self):
        self.buckets: dict[str, BucketEntry] = {}

    def apply(self, record: Record) -> None:
        """Replace what `record` describes with its state; a None payload deletes it."""
        name = record.ident[0]
        if record.kind == "bucket" and record.payload is None:
            self.buckets.pop(name, None)
            return
        entry = self.buckets.setdefault(name, BucketEntry())
        if record.kind == "bucket":
            entry.bucket = record
            return
        table = entry.keys if record.kind == "key" else entry.mpus
        if record.payload is None:
            table.pop(record.ident[1], None)
        else:
            table[record.ident[1]] = record

    def records(self) -> Iterator[Record]:
        """Every live record, each bucket's own record before those of its keys and uploads."""
        for entry in self.buckets.values():
            if entry.bucket is not None:
                yield entry.bucket
            yield from entry.keys.values()
            yield from entry.mpus.values()

    def referenced_blobs(self) -> set[str]:
        return {blob for record in self.records() for blob in record.blobs}

    def count(self, kind: str) -> int:
        return sum(1 for record in self.records() if record.kind == kind)


def snapshot_path(data_dir: Path, generation: int) -> Path:
    return data_dir / f"snapshot-{generation}.snap"


def journal_path(data_dir: Path, generation: int) -> Path:
    return data_dir / f"journal-{generation}.log"


def latest_generation(data_dir: Path) -> int:
    """The generation of the newest snapshot (0 when there is none)."""
    found = [int(m.group(1)) for p in data_dir.iterdir() if (m := SNAPSHOT_NAME.fullmatch(p.name))]
    return max(found, default=0)


def recover(data_dir: Path) -> tuple[DurableState, int]:
    """Load the newest snapshot and replay its journal; returns the state and its generation."""
    generation = latest_generation(data_dir)
    state = DurableState()
    for source in (snapshot_path(data_dir, generation), journal_path(data_dir, generation)):
        for record in read_records(source):
            state.apply(record)
    return state, generation


def write_snapshot(data_dir: Path, generation: int, records: Iterable[Record]) -> Path:
    """Write `records` as snapshot `generation`, durably (fsync of file and directory)."""
    final = snapshot_path(data_dir, generation)
    temporary = final.with_suffix(".tmp")
    with open(temporary, "wb") as out:
        for record in records:
            out.write(encode_record(record))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, final)
    _fsync_directory(data_dir)
    return final


def remove_older_generations(data_dir: Path, generation: int) -> None:
    """Delete snapshots and journals older than `generation` (and stray snapshot temp files)."""
    for path in data_dir.iterdir():
        match = SNAPSHOT_NAME.fullmatch(path.name) or JOURNAL_NAME.fullmatch(path.name)
        if (match and int(match.group(1)) < generation) or path.suffix == ".tmp":
            path.unlink(missing_ok=True)


def _lock_exclusively(path: Path) -> int:
    """Hold an exclusive lock on `path` for this process's lifetime (released by the kernel
    when it dies), so two servers never write the same data directory."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeError(
            f"the durable S3 data directory {path.parent} is in use by another process; "
            f"give each LocalStack its own P300_S3_DATA_DIR"
        ) from None
    return fd


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DurableLog:
    """The live journal: commits records under one lock and compacts when it grows.

    Parameters
    ----------
    data_dir : Path
        The data directory (created when missing).
    fault_file : Path or None
        Passed to JournalFile: while it exists, commits fail (fault injection for tests).
    compact_bytes : int
        Compact once the journal is larger than this, in bytes.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        fault_file: Path | None = None,
        compact_bytes: int = DEFAULT_COMPACT_BYTES,
    ):
        if compact_bytes <= 0:
            raise ValueError(f"compact_bytes must be > 0, got {compact_bytes}")
        data_dir.mkdir(parents=True, exist_ok=True)
        self._dir_lock: int | None = _lock_exclusively(data_dir / "lock")
        self.data_dir = data_dir
        self.fault_file = fault_file
        self.compact_bytes = compact_bytes
        self.lock = threading.Lock()
        self.state, self.generation = recover(data_dir)
        self._journal: JournalFile | None = None

    def compact(self) -> None:
        """Snapshot the state as the next generation, start its journal, drop older files."""
        with self.lock:
            self._compact_locked()

    def commit(self, capture: Callable[[], list[Record]]) -> list[Record]:
        """Append the records `capture` returns, calling it under the lock.

        Capturing under the same lock as appending keeps the journal in the order the state was
        read, so the last record of a thing is always its newest state. Raises OSError when the
        append failed: then nothing of this commit is in the journal.
        """
        with self.lock:
            if self._journal is None:
                raise OSError("the durable S3 journal is closed")
            records = capture()
            if records:
                self._journal.append(b"".join(encode_record(r) for r in records))
                for record in records:
                    self.state.apply(record)
                if self._journal.size > self.compact_bytes:
                    self._compact_locked()
            return records

    def close(self) -> None:
        with self.lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None
            if self._dir_lock is not None:
                os.close(self._dir_lock)
                self._dir_lock = None

    def _compact_locked(self) -> None:
        next_generation = self.generation + 1
        write_snapshot(self.data_dir, next_generation, self.state.records())
        journal = JournalFile(
            journal_path(self.data_dir, next_generation), fault_file=self.fault_file
        )
        if self._journal is not None:
            self._journal.close()
        self._journal = journal
        self.generation = next_generation
        remove_older_generations(self.data_dir, next_generation)
