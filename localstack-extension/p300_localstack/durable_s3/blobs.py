"""Immutable blob files holding object and part contents (pure: no LocalStack imports).

A blob is written to a temporary file, fsynced, and renamed into place; the folder is fsynced
before any record naming the blob is appended (`sync_folder`). So a blob a journal record names is
complete even after a power loss, and its size and MD5 (kept in the record) say so on every read.
Blobs are never modified; an overwritten object gets a new blob and the old one is collected at a
later start-up, unless a recovery lost records (then nothing is collected).
"""

import hashlib
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .journal import BlobRef

TEMP_PREFIX = ".tmp-"
COPY_CHUNK_BYTES = 1024 * 1024


class BlobMismatch(Exception):
    """A blob is missing or its content is not what its record says."""


class BlobStore:
    """A directory of blob files named by random ids.

    Parameters
    ----------
    root : Path
        The blob directory (created when missing).
    check_space : callable or None
        Called with the size of each blob before it is written; raises OSError (ENOSPC) to refuse
        a write that would eat into the space kept for compaction.
    """

    def __init__(self, root: Path, *, check_space: Callable[[int], None] | None = None):
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.check_space = check_space
        self._unsynced = False
        self._sync_lock = threading.Lock()

    def path(self, blob_id: str) -> Path:
        return self.root / blob_id

    def write(self, source: BinaryIO) -> BlobRef:
        """Copy `source` from its start into a new blob (fsynced); returns its reference.

        On any error the temporary file is removed and the error raised: no partial blob stays.
        """
        size = source.seek(0, os.SEEK_END)
        if self.check_space is not None:
            self.check_space(size)
        blob_id = secrets.token_hex(16)
        temporary = self.root / f"{TEMP_PREFIX}{blob_id}"
        digest = hashlib.md5(usedforsecurity=False)
        source.seek(0)
        try:
            with open(temporary, "wb") as out:
                while chunk := source.read(COPY_CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path(blob_id))
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        self._unsynced = True
        return BlobRef(blob_id, size, digest.hexdigest())

    def sync_folder(self) -> None:
        """fsync the folder if a blob was renamed into it since the last call: then the names of
        all blobs written so far survive a power loss."""
        with self._sync_lock:
            if not self._unsynced:
                return
            self._unsynced = False
            try:
                fsync_directory(self.root)
            except OSError:
                self._unsynced = True
                raise

    def read_into(self, ref: BlobRef, target: BinaryIO, *, what: str) -> int:
        """Copy blob `ref` into `target`, checking its size and MD5; returns the bytes copied.

        Raises BlobMismatch naming `what` (e.g. "s3://bucket/key") when the blob is missing or
        its content differs from the record.
        """
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with open(self.path(ref.id), "rb") as source:
                while chunk := source.read(COPY_CHUNK_BYTES):
                    digest.update(chunk)
                    target.write(chunk)
                size = source.tell()
        except FileNotFoundError:
            raise BlobMismatch(f"the content of {what} is lost: blob {ref.id} is missing") from None
        if ref.size is not None and size != ref.size:
            raise BlobMismatch(
                f"the content of {what} is damaged: blob {ref.id} has {size} bytes, "
                f"the record says {ref.size}"
            )
        if ref.md5 is not None and digest.hexdigest() != ref.md5:
            raise BlobMismatch(
                f"the content of {what} is damaged: blob {ref.id} has MD5 "
                f"{digest.hexdigest()}, the record says {ref.md5}"
            )
        return size

    def problem(self, ref: BlobRef) -> str | None:
        """Why blob `ref` cannot be what its record says (missing, wrong size), or None: a cheap
        check by file size, made for every blob at start-up."""
        try:
            size = self.path(ref.id).stat().st_size
        except FileNotFoundError:
            return f"blob {ref.id} is missing"
        if ref.size is not None and size != ref.size:
            return f"blob {ref.id} has {size} bytes, the record says {ref.size}"
        return None

    def remove_temporaries(self) -> int:
        """Delete blobs left half-written by a crash; returns how many."""
        removed = 0
        for entry in os.scandir(self.root):
            if entry.name.startswith(TEMP_PREFIX):
                os.unlink(entry.path)
                removed += 1
        return removed

    def collect(self, keep: set[str]) -> int:
        """Delete every blob not in `keep`; returns how many."""
        removed = 0
        for entry in os.scandir(self.root):
            if entry.name not in keep:
                os.unlink(entry.path)
                removed += 1
        return removed

    def discard(self, blob_ids: set[str]) -> None:
        """Delete blobs no record names any more (the writes they held were rolled back)."""
        for blob_id in blob_ids:
            self.path(blob_id).unlink(missing_ok=True)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
