"""The durable S3 state in memory and the names of its files (pure: no LocalStack imports).

Layout of the data directory (mode 0700; generation ``g`` counts compactions)::

    snapshot-<g>.snap   every live record at compaction g (temp file, fsync, rename, fsync folder)
    journal-<g>.log     records appended since snapshot g
    blobs/<blob id>     immutable object and part contents (see blobs.py)
    quarantine/         damaged files moved aside by a salvage recovery (never deleted)

The state is the newest snapshot plus every journal of that generation or later, replayed in
order (a record holds a thing's whole resulting state, so replaying a later journal over an older
snapshot is right too). See log.py for compaction and recovery.py for start-up.
"""

import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from .blobs import fsync_directory
from .journal import (
    S3_FORMAT,
    SNAPSHOT_KIND,
    BlobRef,
    LogFormat,
    Record,
    encode_header,
    encode_record,
    encode_trailer,
)

SNAPSHOT_NAME = re.compile(r"snapshot-(\d+)\.snap")
JOURNAL_NAME = re.compile(r"journal-(\d+)\.log")


class UploadEntry:
    """A multipart upload's record and the records of its parts, by part number."""

    def __init__(self):
        self.record: Record | None = None
        self.parts: dict[str, Record] = {}


class BucketEntry:
    """A bucket's record with the records of its keys and in-progress multipart uploads."""

    def __init__(self):
        self.bucket: Record | None = None
        self.keys: dict[str, Record] = {}
        self.uploads: dict[str, UploadEntry] = {}


class DurableState:
    """The latest record of every bucket, key, multipart upload and part, by bucket name."""

    def __init__(self):
        self.buckets: dict[str, BucketEntry] = {}
        self._blob_counts: Counter[str] = Counter()

    def apply(self, record: Record) -> None:
        """Replace what `record` describes with its state; a None payload deletes it (a deleted
        bucket or upload takes its keys or parts with it)."""
        name = record.ident[0]
        if record.kind == "bucket" and record.payload is None:
            self._forget(self.buckets.pop(name, None))
            return
        entry = self.buckets.setdefault(name, BucketEntry())
        if record.kind == "bucket":
            entry.bucket = self._swap(entry.bucket, record)
        elif record.kind == "key":
            self._put(entry.keys, record.ident[1], record)
        elif record.kind == "mpu":
            upload_id = record.ident[1]
            if record.payload is None:
                upload = entry.uploads.pop(upload_id, None)
                if upload is not None:
                    self._forget_upload(upload)
            else:
                upload = entry.uploads.setdefault(upload_id, UploadEntry())
                upload.record = self._swap(upload.record, record)
        elif record.payload is not None or record.ident[1] in entry.uploads:
            upload = entry.uploads.setdefault(record.ident[1], UploadEntry())
            self._put(upload.parts, record.ident[2], record)

    def get(self, kind: str, ident: tuple[str, ...]) -> list[Record]:
        """The records that make up one thing: a bucket with all its keys, uploads and parts; an
        upload with its parts; a key; a part. Empty when the thing has no durable state."""
        entry = self.buckets.get(ident[0])
        if entry is None:
            return []
        if kind == "bucket":
            return list(_bucket_records(entry))
        if kind == "key":
            return [entry.keys[ident[1]]] if ident[1] in entry.keys else []
        upload = entry.uploads.get(ident[1])
        if upload is None:
            return []
        if kind == "mpu":
            return list(_upload_records(upload))
        return [upload.parts[ident[2]]] if ident[2] in upload.parts else []

    def has_bucket(self, name: str) -> bool:
        entry = self.buckets.get(name)
        return entry is not None and entry.bucket is not None

    def records(self) -> Iterator[Record]:
        """Every live record, each bucket's own record before those of its keys and uploads,
        each upload's record before those of its parts."""
        for entry in self.buckets.values():
            yield from _bucket_records(entry)

    def blob_refs(self) -> Iterator[tuple[Record, BlobRef]]:
        for record in self.records():
            for ref in record.blobs:
                yield record, ref

    def is_referenced(self, blob_id: str) -> bool:
        return self._blob_counts[blob_id] > 0

    def referenced_blobs(self) -> set[str]:
        return {blob for blob, n in self._blob_counts.items() if n > 0}

    def orphans(self) -> list[Record]:
        """Records that cannot be restored: keys and uploads of a bucket without a record,
        parts of an upload without a record."""
        found = []
        for entry in self.buckets.values():
            if entry.bucket is None:
                found += entry.keys.values()
            for upload in entry.uploads.values():
                if entry.bucket is None or upload.record is None:
                    found += _upload_records(upload)
        return found

    def count(self, kind: str) -> int:
        return sum(1 for record in self.records() if record.kind == kind)

    def _put(self, table: dict[str, Record], name: str, record: Record) -> None:
        old = table.pop(name, None)
        if record.payload is not None:
            table[name] = record
            self._swap(old, record)
        else:
            self._swap(old, None)

    def _swap(self, old: Record | None, new: Record | None) -> Record | None:
        if old is not None:
            self._blob_counts.subtract(ref.id for ref in old.blobs)
        if new is not None:
            self._blob_counts.update(ref.id for ref in new.blobs)
        return new

    def _forget(self, entry: BucketEntry | None) -> None:
        if entry is not None:
            for record in _bucket_records(entry):
                self._swap(record, None)

    def _forget_upload(self, upload: UploadEntry) -> None:
        for record in _upload_records(upload):
            self._swap(record, None)


def _bucket_records(entry: BucketEntry) -> Iterator[Record]:
    if entry.bucket is not None:
        yield entry.bucket
    yield from entry.keys.values()
    for upload in entry.uploads.values():
        yield from _upload_records(upload)


def _upload_records(upload: UploadEntry) -> Iterator[Record]:
    if upload.record is not None:
        yield upload.record
    yield from upload.parts.values()


def snapshot_path(data_dir: Path, generation: int) -> Path:
    return data_dir / f"snapshot-{generation}.snap"


def journal_path(data_dir: Path, generation: int) -> Path:
    return data_dir / f"journal-{generation}.log"


def generations(data_dir: Path, pattern: re.Pattern) -> list[int]:
    """The generations of the files in `data_dir` whose names match `pattern`, ascending."""
    return sorted(int(m.group(1)) for p in data_dir.iterdir() if (m := pattern.fullmatch(p.name)))


def write_snapshot(
    data_dir: Path, generation: int, records: Iterable[Record], fmt: LogFormat = S3_FORMAT
) -> int:
    """Write `records` as snapshot `generation`, durably (fsync of file and folder); returns its
    size in bytes. On failure the temporary file is removed and nothing else changed."""
    final = snapshot_path(data_dir, generation)
    temporary = final.with_suffix(".tmp")
    try:
        with open(temporary, "wb") as out:
            out.write(encode_header(SNAPSHOT_KIND, generation, fmt=fmt))
            n_records = 0
            for record in records:
                out.write(encode_record(record, fmt=fmt))
                n_records += 1
            out.write(encode_trailer(n_records))
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(data_dir)
    return size


def remove_generations_before(data_dir: Path, generation: int) -> None:
    """Delete snapshots and journals older than `generation` (and stray snapshot temp files)."""
    for path in data_dir.iterdir():
        match = SNAPSHOT_NAME.fullmatch(path.name) or JOURNAL_NAME.fullmatch(path.name)
        if (match and int(match.group(1)) < generation) or path.suffix == ".tmp":
            path.unlink(missing_ok=True)


def quarantine(data_dir: Path, path: Path) -> Path:
    """Move a damaged file to ``quarantine/`` (never deleted); returns where it went."""
    folder = data_dir / "quarantine"
    folder.mkdir(mode=0o700, exist_ok=True)
    target = folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{path.name}"
    shutil.move(path, target)
    return target
