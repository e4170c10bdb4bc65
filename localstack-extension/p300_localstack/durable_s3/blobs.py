"""Immutable blob files holding object and part contents (pure: no LocalStack imports).

A blob is written to a temporary file and renamed into place, so a blob id that a journal record
names always refers to a complete file. Blobs are never modified; an overwritten object gets a new
blob and the old one is collected at the next start-up compaction.
"""

import os
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".tmp-"
COPY_CHUNK_BYTES = 1024 * 1024


class BlobStore:
    """A directory of blob files named by random ids.

    Parameters
    ----------
    root : Path
        The blob directory (created when missing).
    """

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        self.root = root

    def path(self, blob_id: str) -> Path:
        return self.root / blob_id

    def write(self, source: BinaryIO) -> str:
        """Copy `source` from its start into a new blob; returns the blob id."""
        blob_id = secrets.token_hex(16)
        temporary = self.root / f"{TEMP_PREFIX}{blob_id}"
        source.seek(0)
        with open(temporary, "wb") as out:
            shutil.copyfileobj(source, out, COPY_CHUNK_BYTES)
        os.replace(temporary, self.path(blob_id))
        return blob_id

    def read_into(self, blob_id: str, target: BinaryIO) -> int:
        """Copy blob `blob_id` into `target`; returns the number of bytes copied."""
        with open(self.path(blob_id), "rb") as source:
            shutil.copyfileobj(source, target, COPY_CHUNK_BYTES)
            return source.tell()

    def collect(self, keep: set[str]) -> int:
        """Delete every blob not in `keep` and every leftover temp file; returns how many."""
        removed = 0
        for entry in os.scandir(self.root):
            if entry.name not in keep:
                os.unlink(entry.path)
                removed += 1
        return removed
