"""The file format of durable S3's snapshots and journals (pure: no LocalStack imports).

The same format serves every durable log of the extension (see `LogFormat`): durable S3 and the
cloud state (`p300_localstack.cloud_state`) differ only in the magic that starts their files and in
the kinds of record they hold.

A file starts with a header::

    <8s magic b"P300S3\\x00\\x01"><u16 format version><1s kind b"S" | b"J"><x><u64 generation>
    <u32 crc32 of the 20 bytes before>

followed by frames::

    <4s b"P3fr"><u32 length><u32 crc32(body)><u32 crc32 of the 12 bytes before><body>

A snapshot ends with a trailer frame whose body is ``b"P3END" <u64 number of records>``, and must
decode to its very end: a snapshot is written once, fsynced and renamed, so any damage in it is
corruption. A journal is appended to while the server runs; only its last frame may be incomplete
or bad (a write torn by a crash or a power loss). A bad frame followed by a good one is corruption.
Each frame carries its own marker, so a reader finds the frames after a damaged one.

Files written before this format (format 0) have no header and ``<u32 length><u32 crc32>`` frames;
they are read (strictly) so that stored data survives the upgrade, and rewritten at the next
compaction.
"""

import contextlib
import os
import pickle
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

MAGIC = b"P300S3\x00\x01"
FORMAT_VERSION = 1
HEADER = struct.Struct("<8sHcxQ")
HEADER_CRC = struct.Struct("<I")
HEADER_SIZE = HEADER.size + HEADER_CRC.size
FRAME_MARK = b"P3fr"
FRAME_HEADER = struct.Struct("<4sIII")
TRAILER_TAG = b"P3END"
TRAILER = struct.Struct("<5sQ")
LEGACY_FRAME_HEADER = struct.Struct("<II")
SNAPSHOT_KIND = b"S"
JOURNAL_KIND = b"J"
#: Kinds of state a record carries the resulting state of.
RECORD_KINDS = ("bucket", "key", "mpu", "part")


class LogFormat(NamedTuple):
    """What tells one durable log's files from another's.

    name : how messages name the log, e.g. "durable S3".
    magic : the 8 bytes every file of the log starts with.
    record_kinds : the kinds of record the log holds.
    reads_format_0 : whether files without a header (format 0, durable S3's first) are read.
    """

    name: str
    magic: bytes
    record_kinds: tuple[str, ...]
    reads_format_0: bool = False


S3_FORMAT = LogFormat("durable S3", MAGIC, RECORD_KINDS, reads_format_0=True)


class BlobRef(NamedTuple):
    """A blob file and what its content must be: size in bytes and MD5 hex digest (None in
    records written before sizes and digests were kept)."""

    id: str
    size: int | None
    md5: str | None


class Record(NamedTuple):
    """The resulting state of one thing a request touched.

    kind : one of RECORD_KINDS.
    ident : (bucket,) for a bucket, (bucket, key) for a key, (bucket, upload_id) for a multipart
        upload (without its parts), (bucket, upload_id, part_number) for one part of it.
    payload : the pickled state, or None when the thing no longer exists.
    blobs : the blob files the state refers to.
    """

    kind: str
    ident: tuple[str, ...]
    payload: bytes | None
    blobs: tuple[BlobRef, ...] = ()


class CorruptFile(Exception):
    """A snapshot or journal that cannot be trusted.

    Parameters
    ----------
    path : Path
        The file.
    offset : int
        Byte offset of the first damage found.
    reason : str
        What is wrong there.
    """

    def __init__(self, path: Path, offset: int, reason: str):
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"{path.name} is corrupt at byte {offset}: {reason}")


class Decoded(NamedTuple):
    """What a reader found in a file: its records, and the bytes of a torn last frame ignored."""

    records: list[Record]
    torn_bytes: int
    format_version: int


def encode_header(kind: bytes, generation: int, *, fmt: LogFormat = S3_FORMAT) -> bytes:
    head = HEADER.pack(fmt.magic, FORMAT_VERSION, kind, generation)
    return head + HEADER_CRC.pack(zlib.crc32(head))


def encode_frame(body: bytes) -> bytes:
    """Frame `body` with its marker, length, CRC32 and header CRC32."""
    head = FRAME_MARK + struct.pack("<II", len(body), zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


def encode_record(record: Record, *, fmt: LogFormat = S3_FORMAT) -> bytes:
    """A framed record, ready to append."""
    if record.kind not in fmt.record_kinds:
        raise ValueError(f"record kind must be one of {fmt.record_kinds}, got {record.kind!r}")
    blobs = tuple(tuple(ref) for ref in record.blobs)
    body = (record.kind, record.ident, record.payload, blobs)
    return encode_frame(pickle.dumps(body, protocol=pickle.HIGHEST_PROTOCOL))


def encode_trailer(n_records: int) -> bytes:
    return encode_frame(TRAILER.pack(TRAILER_TAG, n_records))


def read_snapshot(path: Path, generation: int, *, fmt: LogFormat = S3_FORMAT) -> Decoded:
    """Every record of a snapshot; raises CorruptFile unless it decodes completely to its
    trailer and end."""
    data = path.read_bytes()
    if not data.startswith(fmt.magic):
        return _legacy(path, data, allow_torn_tail=False, fmt=fmt)
    pos = _check_header(path, data, SNAPSHOT_KIND, generation, fmt)
    records, n_trailer = [], None
    for start, body in _frames(path, data, pos, allow_torn_tail=False):
        if n_trailer is not None:
            raise CorruptFile(path, start, "data after the trailer")
        if body.startswith(TRAILER_TAG):
            n_trailer = TRAILER.unpack(body)[1]
        else:
            records.append(_record(path, start, body))
    if n_trailer is None:
        raise CorruptFile(path, len(data), "no trailer: the snapshot is incomplete")
    if n_trailer != len(records):
        raise CorruptFile(path, len(data), f"trailer counts {n_trailer}, found {len(records)}")
    return Decoded(records, 0, FORMAT_VERSION)


def read_journal(path: Path, generation: int, *, fmt: LogFormat = S3_FORMAT) -> Decoded:
    """Every record of a journal; a bad last frame is a torn tail (ignored, counted), a bad frame
    anywhere else raises CorruptFile."""
    data = path.read_bytes()
    if not data.startswith(fmt.magic):
        if len(data) < len(fmt.magic) and fmt.magic.startswith(data):
            return Decoded([], len(data), FORMAT_VERSION)  # torn while writing the header
        return _legacy(path, data, allow_torn_tail=True, fmt=fmt)
    pos = _check_header(path, data, JOURNAL_KIND, generation, fmt)
    records, end = [], pos
    for start, body in _frames(path, data, pos, allow_torn_tail=True):
        records.append(_record(path, start, body))
        end = start + FRAME_HEADER.size + len(body)
    return Decoded(records, len(data) - end, FORMAT_VERSION)


def salvage(path: Path) -> list[Record]:
    """Every intact record anywhere in a damaged file (for an explicit salvage recovery)."""
    data = path.read_bytes()
    found, pos = [], 0
    while (start := data.find(FRAME_MARK, pos)) >= 0:
        frame = _frame_at(data, start)
        if frame is None:
            pos = start + 1
            continue
        with contextlib.suppress(CorruptFile):  # a trailer, or a frame that is not a record
            found.append(_record(path, start, frame))
        pos = start + FRAME_HEADER.size + len(frame)
    return found


def _check_header(path: Path, data: bytes, kind: bytes, generation: int, fmt: LogFormat) -> int:
    if len(data) < HEADER_SIZE:
        raise CorruptFile(path, 0, "the file header is incomplete")
    head = data[: HEADER.size]
    (crc,) = HEADER_CRC.unpack_from(data, HEADER.size)
    if zlib.crc32(head) != crc:
        raise CorruptFile(path, 0, "the file header's CRC does not match")
    _, version, found_kind, found_generation = HEADER.unpack(head)
    if version != FORMAT_VERSION:
        raise CorruptFile(
            path, 8, f"format version {version}; this {fmt.name} reads {FORMAT_VERSION}"
        )
    if found_kind != kind or found_generation != generation:
        raise CorruptFile(
            path,
            10,
            f"the header says {found_kind!r} generation {found_generation}, the name says "
            f"{kind!r} generation {generation}",
        )
    return HEADER_SIZE


def _frame_at(data: bytes, pos: int) -> bytes | None:
    """The body of the intact frame starting at `pos`, or None."""
    if pos + FRAME_HEADER.size > len(data):
        return None
    mark, length, crc, head_crc = FRAME_HEADER.unpack_from(data, pos)
    if mark != FRAME_MARK or zlib.crc32(data[pos : pos + 12]) != head_crc:
        return None
    body = data[pos + FRAME_HEADER.size : pos + FRAME_HEADER.size + length]
    if len(body) != length or zlib.crc32(body) != crc:
        return None
    return body


def _frames(path: Path, data: bytes, pos: int, *, allow_torn_tail: bool) -> Iterator[tuple]:
    """(offset, body) of each frame from `pos` to the end of `data`."""
    while pos < len(data):
        body = _frame_at(data, pos)
        if body is None:
            if allow_torn_tail and _no_frame_after(data, pos):
                return
            raise CorruptFile(path, pos, _damage(data, pos))
        yield pos, body
        pos += FRAME_HEADER.size + len(body)


def _no_frame_after(data: bytes, pos: int) -> bool:
    start = pos + 1
    while (start := data.find(FRAME_MARK, start)) >= 0:
        if _frame_at(data, start) is not None:
            return False
        start += 1
    return True


def _damage(data: bytes, pos: int) -> str:
    if pos + FRAME_HEADER.size > len(data):
        return "an incomplete frame header"
    mark, length, _, head_crc = FRAME_HEADER.unpack_from(data, pos)
    if mark != FRAME_MARK:
        return "no frame marker"
    if zlib.crc32(data[pos : pos + 12]) != head_crc:
        return "the frame header's CRC does not match"
    if pos + FRAME_HEADER.size + length > len(data):
        return f"a frame of {length} bytes runs past the end of the file"
    return "the frame's CRC does not match its content"


def _record(path: Path, offset: int, body: bytes) -> Record:
    try:
        kind, ident, payload, blobs = pickle.loads(body)
    except Exception as error:  # a frame with a valid CRC whose body is not a record
        raise CorruptFile(path, offset, f"the frame is not a record ({error})") from None
    refs = tuple(BlobRef(b, None, None) if isinstance(b, str) else BlobRef(*b) for b in blobs)
    return Record(kind, tuple(ident), payload, refs)


def _legacy(path: Path, data: bytes, *, allow_torn_tail: bool, fmt: LogFormat) -> Decoded:
    """Format 0: ``<u32 length><u32 crc32>`` frames from byte 0, no header, no trailer."""
    if not fmt.reads_format_0:
        raise CorruptFile(path, 0, f"the file does not start with {fmt.name}'s magic")
    records, pos = [], 0
    while pos < len(data):
        if pos + LEGACY_FRAME_HEADER.size <= len(data):
            length, crc = LEGACY_FRAME_HEADER.unpack_from(data, pos)
            start = pos + LEGACY_FRAME_HEADER.size
            body = data[start : start + length]
            if len(body) == length and zlib.crc32(body) == crc:
                records.append(_record(path, pos, body))
                pos = start + length
                continue
        if pos == 0:
            raise CorruptFile(path, 0, "the file header is damaged (neither format 1 nor 0)")
        # Format 0 has no frame markers: a torn tail cannot be told from damage further on, so
        # only a bad frame that reaches the end of a journal is taken for a torn tail.
        if allow_torn_tail and _legacy_reaches_end(data, pos):
            return Decoded(records, len(data) - pos, 0)
        raise CorruptFile(path, pos, "a bad frame (format 0, written before format headers)")
    return Decoded(records, 0, 0)


def _legacy_reaches_end(data: bytes, pos: int) -> bool:
    if pos + LEGACY_FRAME_HEADER.size > len(data):
        return True
    length, _ = LEGACY_FRAME_HEADER.unpack_from(data, pos)
    return pos + LEGACY_FRAME_HEADER.size + length >= len(data)


class JournalFile:
    """An append-only journal: one ``write`` system call per commit, no fsync.

    A record whose ``write`` returned is in the kernel's page cache and survives the death of this
    process (kill -9); surviving a power loss would need an fsync per commit. The blobs a record
    names are fsynced before it is appended (see blobs.py).

    Parameters
    ----------
    path : Path
        The journal file. A new file gets its header (fsynced); an existing one is appended to.
    generation : int
        The generation its header names.
    fmt : LogFormat
        The log's format (its magic goes into the header).
    """

    def __init__(self, path: Path, generation: int, *, fmt: LogFormat = S3_FORMAT):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self.size = os.fstat(self._fd).st_size
            if self.size == 0:
                header = encode_header(JOURNAL_KIND, generation, fmt=fmt)
                os.write(self._fd, header)
                os.fsync(self._fd)
                self.size = len(header)
        except OSError:
            os.close(self._fd)
            raise
        self._broken = False

    def append(self, frames: bytes) -> None:
        """Append already framed records; raises OSError when they were not all written.

        A failed append is cut off again, so that a torn record never hides later ones; when
        even that fails, the journal refuses every further append.
        """
        if self._broken:
            raise OSError(f"journal {self.path} is unusable after a failed append")
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
