"""Length+CRC framed records and the append-only journal file (pure: no LocalStack imports).

A frame is ``<u32 length><u32 crc32(body)><body>`` (little endian). A reader stops at the first
frame that is short (a torn tail written while the process died) or whose CRC does not match: what
follows it cannot be trusted, and nothing after it was ever acknowledged as durable on its own.
"""

import os
import pickle
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

FRAME_HEADER = struct.Struct("<II")
#: Kinds of state a record carries the resulting state of.
RECORD_KINDS = ("bucket", "key", "mpu")


class Record(NamedTuple):
    """The resulting state of one thing a request touched.

    kind : one of RECORD_KINDS.
    ident : ("bucket",) for a bucket, (bucket, key) for a key, (bucket, upload_id) for a multipart.
    payload : the pickled state, or None when the thing no longer exists.
    blobs : ids of the blob files the state refers to (kept by garbage collection).
    """

    kind: str
    ident: tuple[str, ...]
    payload: bytes | None
    blobs: tuple[str, ...] = ()


def encode_frame(body: bytes) -> bytes:
    """Frame `body` with its length and CRC32."""
    return FRAME_HEADER.pack(len(body), zlib.crc32(body)) + body


def decode_frames(data: bytes) -> Iterator[bytes]:
    """Yield the bodies of the intact frames at the start of `data`, up to the first bad one."""
    pos = 0
    while pos + FRAME_HEADER.size <= len(data):
        length, crc = FRAME_HEADER.unpack_from(data, pos)
        start = pos + FRAME_HEADER.size
        body = data[start : start + length]
        if len(body) < length or zlib.crc32(body) != crc:
            return
        yield body
        pos = start + length


def encode_record(record: Record) -> bytes:
    """A framed record, ready to append."""
    if record.kind not in RECORD_KINDS:
        raise ValueError(f"record kind must be one of {RECORD_KINDS}, got {record.kind!r}")
    return encode_frame(pickle.dumps(tuple(record), protocol=pickle.HIGHEST_PROTOCOL))


def read_records(path: Path) -> Iterator[Record]:
    """The intact records of a journal or snapshot file, in order ([] when it does not exist)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    for body in decode_frames(data):
        yield Record(*pickle.loads(body))


class JournalFile:
    """An append-only journal: one ``write`` system call per record, no fsync.

    A record whose ``write`` returned is in the kernel's page cache and survives the death of this
    process (kill -9); surviving a power loss would need an fsync per record.

    Parameters
    ----------
    path : Path
        The journal file; created when missing, appended to otherwise.
    fault_file : Path or None
        Fault injection for tests: while this file exists, every append fails with OSError.
    """

    def __init__(self, path: Path, *, fault_file: Path | None = None):
        self.path = path
        self.fault_file = fault_file
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.size = os.fstat(self._fd).st_size
        self._broken = False

    def append(self, frames: bytes) -> None:
        """Append already framed records; raises OSError when they were not all written.

        A failed append is cut off again, so that a torn record never hides later ones; when
        even that fails, the journal refuses every further append.
        """
        if self._broken:
            raise OSError(f"journal {self.path} is unusable after a failed append")
        if self.fault_file is not None and self.fault_file.exists():
            raise OSError(f"journal append failed: fault injected by {self.fault_file}")
        try:
            written = os.write(self._fd, frames)
            if written != len(frames):
                raise OSError(f"wrote {written} of {len(frames)} bytes to {self.path}")
        except OSError:
            try:
                os.ftruncate(self._fd, self.size)
            except OSError:
                self._broken = True
            raise
        self.size += written

    def close(self) -> None:
        os.close(self._fd)
