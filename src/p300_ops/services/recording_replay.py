"""Replaying a recording the way a headset collector sends one: time chunks, streamed as Parquet.

A collector cannot write a whole file and then upload it: samples arrive over time. Here each
chunk of ``chunk_seconds`` becomes one Parquet row group appended to a stream, and whenever the
stream holds ``part_size`` bytes they leave as one upload part; closing the stream writes the
Parquet footer into the last part. The parts, concatenated, are one valid Parquet file holding
exactly the source table (schema metadata included). `send_recording` sends those parts through
the upload API (`p300 record --replay`).
"""

import contextlib
import io
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from p300 import raw_io
from p300_aws.names import UPLOAD_API_NAME
from p300_ops.services.errors import ServiceError
from p300_ops.services.upload_api_client import (
    MultipartUpload,
    UploadApiError,
    UploadClient,
    api_key,
)

#: S3's smallest part (except the last one) of a multipart upload: 5 MiB.
MIN_PART_BYTES = 5 * 1024 * 1024


class _PartBuffer(io.RawIOBase):
    """A write-only stream whose bytes are taken out as parts; `tell` counts every byte."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._pending += data
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def pending_bytes(self) -> int:
        return len(self._pending)

    def take(self) -> bytes:
        part, self._pending = bytes(self._pending), bytearray()
        return part


class StreamingParquet:
    """A Parquet file written chunk by chunk and handed out in parts of at least ``part_size``.

    Parameters
    ----------
    schema : pyarrow.Schema
        Schema (with metadata) of every chunk.
    part_size : int
        Bytes a part must reach before it is handed out (the last part may be smaller).
    """

    def __init__(self, schema: pa.Schema, *, part_size: int = MIN_PART_BYTES) -> None:
        if part_size < 1:
            raise ValueError(f"part_size must be a positive number of bytes, got {part_size}")
        self.part_size = part_size
        self._buffer = _PartBuffer()
        self._writer = pq.ParquetWriter(self._buffer, schema, compression="zstd")

    def write(self, chunk: pa.Table) -> list[bytes]:
        """Append ``chunk`` as one row group; returns the parts that filled (zero or one)."""
        self._writer.write_table(chunk, row_group_size=max(chunk.num_rows, 1))
        if self._buffer.pending_bytes() >= self.part_size:
            return [self._buffer.take()]
        return []

    def close(self) -> bytes:
        """Write the footer; returns the last part (never empty: it holds at least the footer)."""
        self._writer.close()
        return self._buffer.take()

    @property
    def bytes_written(self) -> int:
        return self._buffer.tell()


def time_chunks(table: pa.Table, *, sfreq: float, chunk_seconds: float) -> Iterator[pa.Table]:
    """Consecutive slices of ``table`` (one row per sample) of ``chunk_seconds`` each.

    Parameters
    ----------
    table : pyarrow.Table
        The recording, shape (n_times, n_columns).
    sfreq : float
        Sampling frequency in Hz.
    chunk_seconds : float
        Duration of a chunk in s; the last chunk holds what remains.
    """
    if not sfreq > 0:
        raise ValueError(f"sfreq must be a positive frequency in Hz, got {sfreq}")
    if not chunk_seconds > 0:
        raise ValueError(f"chunk_seconds must be a positive duration in s, got {chunk_seconds}")
    rows = max(round(sfreq * chunk_seconds), 1)
    for start in range(0, table.num_rows, rows):
        yield table.slice(start, rows)


def chunk_due_s(end_row: int, *, sfreq: float, speed: float | None) -> float:
    """When (s after the replay starts) a chunk ending before row ``end_row`` is recorded.

    A headset has a chunk only once its last sample is recorded: at ``end_row / sfreq`` s of
    recording time, divided by ``speed``; ``speed=None`` replays as fast as possible (0 s).
    """
    if speed is None:
        return 0.0
    if not speed > 0:
        raise ValueError(f"speed must be a positive factor of real time or None, got {speed}")
    return end_row / sfreq / speed


@dataclass(frozen=True)
class ChunkSent:
    """Progress after one chunk: rows and recording seconds so far, bytes in parts so far."""

    rows: int
    recorded_s: float
    parts: int
    part_bytes: int


def replay(
    table: pa.Table,
    *,
    sfreq: float,
    chunk_seconds: float,
    speed: float | None,
    send_part: Callable[[int, bytes], None],
    part_size: int = MIN_PART_BYTES,
    on_chunk: Callable[[ChunkSent], None] = lambda _: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Stream ``table`` in time chunks as Parquet parts; returns the number of parts sent.

    Parameters
    ----------
    table : pyarrow.Table
        The recording, shape (n_times, n_columns), one row per sample.
    sfreq : float
        Sampling frequency in Hz.
    chunk_seconds : float
        Duration of each chunk (row group) in s.
    speed : float or None
        Pace as a factor of real time (2.0: twice as fast); None: as fast as possible.
    send_part : callable
        Called with (part number from 1, bytes) for each part, in order.
    part_size : int
        Bytes a part must reach before it is sent (the last part may be smaller).
    on_chunk : callable
        Called with a `ChunkSent` after each chunk.
    """
    stream = StreamingParquet(table.schema, part_size=part_size)
    sent = sent_bytes = rows = 0
    started = clock()
    for chunk in time_chunks(table, sfreq=sfreq, chunk_seconds=chunk_seconds):
        rows += chunk.num_rows
        wait = started + chunk_due_s(rows, sfreq=sfreq, speed=speed) - clock()
        if wait > 0:
            sleep(wait)
        for part in stream.write(chunk):
            sent += 1
            send_part(sent, part)
            sent_bytes += len(part)
        on_chunk(ChunkSent(rows, rows / sfreq, sent, sent_bytes))
    last = stream.close()
    send_part(sent + 1, last)
    on_chunk(ChunkSent(rows, rows / sfreq, sent + 1, sent_bytes + len(last)))
    return sent + 1


#: Where a collector finds the API key when it is not read with AWS credentials.
API_KEY_VARIABLE = "P300_UPLOAD_API_KEY"
#: A collector's bearer token (`p300 keys create --api upload`); else the CLI's own.
TOKEN_VARIABLE = "P300_UPLOAD_TOKEN"


@dataclass(frozen=True)
class Recorded:
    """A finished replay: the landing key, parts and bytes sent, recording length in s."""

    key: str
    parts: int
    bytes_sent: int
    duration_s: float


def load_recording(path: Path) -> tuple[pa.Table, float]:
    """The recording at ``path`` as stored (one row per sample) and its sampling rate in Hz.

    Raises
    ------
    p300.contract.InvalidRecordingError
        When the file is not a valid raw recording: it is refused before anything is sent.
    """
    sfreq = raw_io.read_recording(path).sfreq
    return pq.read_table(path), sfreq


def send_recording(
    client: UploadClient,
    table: pa.Table,
    *,
    sfreq: float,
    subject: str,
    session: str,
    chunk_seconds: float,
    speed: float | None,
    file_name: str | None = None,
    study: str | None = None,
    part_size: int = MIN_PART_BYTES,
    on_chunk: Callable[[ChunkSent], None] = lambda _: None,
) -> Recorded:
    """Stream ``table`` (shape (n_times, n_columns), ``sfreq`` Hz) to the landing zone as one
    multipart upload (see `replay` for the options); a replay that fails
    midway aborts its upload, so no partial object ever lands.

    Raises
    ------
    UploadApiError
        When the API or S3 refuses a request (the upload is then aborted).
    """
    upload = client.start(subject=subject, session=session, file_name=file_name, study=study)
    etags: list[str] = []
    sent_bytes = [0]

    def send_part(number: int, data: bytes) -> None:
        etags.append(client.send_part(upload, number, data))
        sent_bytes[0] += len(data)

    try:
        replay(
            table,
            sfreq=sfreq,
            chunk_seconds=chunk_seconds,
            speed=speed,
            send_part=send_part,
            part_size=part_size,
            on_chunk=on_chunk,
        )
        client.complete(upload, etags)
    except BaseException:
        _abort_quietly(client, upload)
        raise
    return Recorded(upload.key, len(etags), sent_bytes[0], table.num_rows / sfreq)


def _abort_quietly(client: UploadClient, upload: MultipartUpload) -> None:
    # The replay's own error is the one to report; a failed abort leaves only an unfinished
    # multipart upload, which never becomes an object.
    with contextlib.suppress(UploadApiError):
        client.abort(upload)


def upload_client(cloud_of: Callable[[], object], url: str | None) -> UploadClient:
    """A client of the upload API at ``url`` (default: the running cloud's, from ``cloud_of()``,
    a `p300_ops.services.cloud.Cloud`); the key from $P300_UPLOAD_API_KEY, else read with the
    AWS credentials of that cloud; the bearer token from $P300_UPLOAD_TOKEN, else the CLI's own
    (`Cloud.api_token`).

    Raises
    ------
    ServiceError
        When the upload API or its key cannot be found (is the platform deployed?).
    """
    key, token = os.environ.get(API_KEY_VARIABLE), os.environ.get(TOKEN_VARIABLE)
    if url is None or not key or not token:
        connected = cloud_of()
        try:
            url = url or connected.api_url(UPLOAD_API_NAME)
            key = key or api_key(connected.apigateway)
            token = token or connected.api_token("upload")
        except ServiceError as exc:
            raise ServiceError(f"{exc} (is the platform deployed?)") from None
    return UploadClient(url, key, token=token)
