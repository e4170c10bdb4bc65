"""Durable S3's file format: headers, frames, trailers, torn tails and corruption."""

import struct
import zlib

import pytest
from p300_localstack.durable_s3.journal import (
    FRAME_HEADER,
    HEADER_SIZE,
    JOURNAL_KIND,
    SNAPSHOT_KIND,
    BlobRef,
    CorruptFile,
    JournalFile,
    Record,
    encode_header,
    encode_record,
    encode_trailer,
    read_journal,
    read_snapshot,
    salvage,
)


def key_record(key: str, payload: bytes | None = b"state") -> Record:
    blobs = (BlobRef(f"blob-{key}", 5, "0" * 32),) if payload is not None else ()
    return Record("key", ("bkt", key), payload, blobs)


RECORDS = [key_record(f"k{n}", f"v{n}".encode() * 20) for n in range(5)]


def journal_bytes(records=RECORDS, generation: int = 3) -> bytes:
    return encode_header(JOURNAL_KIND, generation) + b"".join(encode_record(r) for r in records)


def snapshot_bytes(records=RECORDS, generation: int = 3) -> bytes:
    frames = b"".join(encode_record(r) for r in records)
    return encode_header(SNAPSHOT_KIND, generation) + frames + encode_trailer(len(records))


def frame_starts(data: bytes) -> list[int]:
    """Offsets of the frames after the header."""
    starts, pos = [], HEADER_SIZE
    while pos < len(data):
        starts.append(pos)
        pos += FRAME_HEADER.size + struct.unpack_from("<I", data, pos + 4)[0]
    return starts


def flipped(data: bytes, offset: int) -> bytes:
    damaged = bytearray(data)
    damaged[offset] ^= 0x01
    return bytes(damaged)


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_records_round_trip_with_their_blob_sizes_and_digests(tmp_path):
    records = [*RECORDS, Record("bucket", ("bkt",), None), Record("part", ("b", "u", "3"), b"p")]
    snapshot = write(tmp_path, "snapshot-3.snap", snapshot_bytes(records))
    journal = write(tmp_path, "journal-3.log", journal_bytes(records))
    assert read_snapshot(snapshot, 3).records == records
    assert read_journal(journal, 3).records == records
    assert read_snapshot(snapshot, 3).records[0].blobs[0].md5 == "0" * 32


@pytest.mark.parametrize("cut", [1, FRAME_HEADER.size - 1, FRAME_HEADER.size, 20])
def test_a_torn_journal_tail_is_ignored_and_counted(tmp_path, cut):
    data = journal_bytes()
    decoded = read_journal(write(tmp_path, "journal-3.log", data[:-cut]), 3)
    assert decoded.records == RECORDS[:-1]
    assert decoded.torn_bytes > 0


def test_a_bad_crc_in_the_last_journal_frame_is_a_torn_tail(tmp_path):
    data = flipped(journal_bytes(), len(journal_bytes()) - 3)
    decoded = read_journal(write(tmp_path, "journal-3.log", data), 3)
    assert decoded.records == RECORDS[:-1]


@pytest.mark.parametrize("where", ["body", "length", "marker"])
def test_a_flipped_bit_in_the_middle_of_a_journal_is_corruption(tmp_path, where):
    """Before format 1, replay stopped at the bad frame and dropped every later record."""
    data = journal_bytes()
    start = frame_starts(data)[2]
    offset = {"body": start + FRAME_HEADER.size + 10, "length": start + 5, "marker": start}[where]
    path = write(tmp_path, "journal-3.log", flipped(data, offset))
    with pytest.raises(CorruptFile, match=rf"journal-3.log is corrupt at byte {start}: "):
        read_journal(path, 3)


@pytest.mark.parametrize("frame", [0, 2, 4, 5])  # 5 is the trailer
def test_a_flipped_bit_anywhere_in_a_snapshot_is_corruption(tmp_path, frame):
    """Before format 1, a bad frame in a snapshot was taken for a torn tail: 4 of 5 keys lost."""
    data = snapshot_bytes()
    start = frame_starts(data)[frame]
    path = write(tmp_path, "snapshot-3.snap", flipped(data, start + FRAME_HEADER.size + 2))
    with pytest.raises(
        CorruptFile, match=rf"snapshot-3.snap is corrupt at byte {start}: the frame"
    ):
        read_snapshot(path, 3)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (snapshot_bytes()[:-30], "the frame's CRC|runs past the end"),
        (snapshot_bytes(RECORDS)[: frame_starts(snapshot_bytes())[-1]], "no trailer"),
        (snapshot_bytes() + encode_record(RECORDS[0]), "data after the trailer"),
        (snapshot_bytes()[: frame_starts(snapshot_bytes())[-1]] + encode_trailer(2), "counts 2"),
        (flipped(snapshot_bytes(), 3), "the file header is damaged"),
        (flipped(snapshot_bytes(), 12), "the file header's CRC does not match"),
    ],
)
def test_a_snapshot_must_decode_to_its_end(tmp_path, data, reason):
    with pytest.raises(CorruptFile, match=reason):
        read_snapshot(write(tmp_path, "snapshot-3.snap", data), 3)


def test_a_snapshot_under_another_generation_s_name_is_refused(tmp_path):
    path = write(tmp_path, "snapshot-4.snap", snapshot_bytes(generation=3))
    with pytest.raises(CorruptFile, match=r"header says b'S' generation 3, the name says"):
        read_snapshot(path, 4)


def test_an_unknown_format_version_is_refused(tmp_path):
    data = bytearray(snapshot_bytes())
    data[8:10] = struct.pack("<H", 9)
    data[20:24] = struct.pack("<I", zlib.crc32(bytes(data[:20])))
    with pytest.raises(CorruptFile, match="format version 9; this durable S3 reads 1"):
        read_snapshot(write(tmp_path, "snapshot-3.snap", bytes(data)), 3)


def legacy_frames(records) -> bytes:
    """Format 0: <u32 length><u32 crc32> frames from byte 0; blobs named by id alone."""
    import pickle

    out = b""
    for r in records:
        body = pickle.dumps((r.kind, r.ident, r.payload, tuple(b.id for b in r.blobs)))
        out += struct.pack("<II", len(body), zlib.crc32(body)) + body
    return out


def test_files_of_format_0_are_still_read(tmp_path):
    snapshot = write(tmp_path, "snapshot-2.snap", legacy_frames(RECORDS))
    journal = write(tmp_path, "journal-2.log", legacy_frames(RECORDS[:2]) + b"\x10\x00")
    decoded = read_snapshot(snapshot, 2)
    assert decoded.format_version == 0
    assert [r.ident for r in decoded.records] == [r.ident for r in RECORDS]
    assert decoded.records[0].blobs == (BlobRef("blob-k0", None, None),)
    assert len(read_journal(journal, 2).records) == 2
    third_frame = len(legacy_frames(RECORDS[:2]))
    damaged = write(tmp_path, "snapshot-5.snap", flipped(legacy_frames(RECORDS), third_frame + 12))
    with pytest.raises(CorruptFile, match=rf"at byte {third_frame}: a bad frame \(format 0"):
        read_snapshot(damaged, 5)


def test_salvage_finds_the_records_after_damage(tmp_path):
    data = journal_bytes()
    path = write(tmp_path, "journal-3.log", flipped(data, frame_starts(data)[1] + 20))
    assert salvage(path) == [RECORDS[0], *RECORDS[2:]]


def test_unknown_record_kind_is_refused():
    with pytest.raises(ValueError, match=r"record kind must be one of .* got 'object'"):
        encode_record(Record("object", ("bkt", "k"), b""))


def test_journal_file_writes_its_header_and_appends_across_reopen(tmp_path):
    path = tmp_path / "journal-1.log"
    for record in RECORDS[:2]:
        journal = JournalFile(path, 1)
        journal.append(encode_record(record))
        journal.close()
    assert read_journal(path, 1).records == RECORDS[:2]


def test_a_failed_append_is_cut_off_again(tmp_path, monkeypatch):
    path = tmp_path / "journal-1.log"
    journal = JournalFile(path, 1)
    journal.append(encode_record(RECORDS[0]))
    real_write = __import__("os").write

    def half_write(fd, data):
        real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("p300_localstack.durable_s3.journal.os.write", half_write)
    with pytest.raises(OSError, match="No space left"):
        journal.append(encode_record(RECORDS[1]))
    monkeypatch.undo()
    journal.append(encode_record(RECORDS[2]))
    journal.close()
    assert read_journal(path, 1).records == [RECORDS[0], RECORDS[2]]
