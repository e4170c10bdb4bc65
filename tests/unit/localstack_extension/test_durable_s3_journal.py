"""Pure parts of durable S3: journal framing, snapshot + replay, compaction, blobs, touched()."""

import io
import sys
from pathlib import Path

import pytest

# The extension is installed into LocalStack's venv, not this one; its pure modules import alone.
sys.path.insert(0, str(Path(__file__).parents[3] / "localstack-extension"))

from p300_localstack.durable_s3.blobs import BlobStore
from p300_localstack.durable_s3.journal import (
    FRAME_HEADER,
    JournalFile,
    Record,
    decode_frames,
    encode_frame,
    encode_record,
    read_records,
)
from p300_localstack.durable_s3.state import (
    DurableLog,
    DurableState,
    journal_path,
    recover,
    snapshot_path,
)
from p300_localstack.durable_s3.touched import touched


def key_record(key: str, payload: bytes | None = b"state", blobs=("b1",)) -> Record:
    return Record("key", ("bkt", key), payload, blobs if payload is not None else ())


@pytest.mark.parametrize("sizes", [[0], [1, 2, 3], [100_000, 5, 0]])
def test_frames_round_trip(sizes):
    bodies = [bytes([n % 251]) * n for n in sizes]
    data = b"".join(encode_frame(b) for b in bodies)
    assert list(decode_frames(data)) == bodies


@pytest.mark.parametrize("cut", [1, FRAME_HEADER.size - 1, FRAME_HEADER.size, 20])
def test_a_torn_tail_record_is_ignored(cut):
    whole = [encode_frame(b"first"), encode_frame(b"second"), encode_frame(b"x" * 40)]
    data = b"".join(whole)
    assert list(decode_frames(data[: len(data) - cut])) == [b"first", b"second"]


def test_a_bad_crc_stops_replay_there(tmp_path):
    records = [key_record(f"k{n}") for n in range(4)]
    frames = [encode_record(r) for r in records]
    corrupt = bytearray(frames[1])
    corrupt[-1] ^= 0xFF
    path = tmp_path / "journal-0.log"
    path.write_bytes(frames[0] + bytes(corrupt) + frames[2] + frames[3])
    assert list(read_records(path)) == records[:1]


def test_records_round_trip_through_a_file(tmp_path):
    records = [key_record("a"), Record("bucket", ("bkt",), None), Record("mpu", ("bkt", "u"), b"m")]
    path = tmp_path / "journal-0.log"
    path.write_bytes(b"".join(encode_record(r) for r in records))
    assert list(read_records(path)) == records


def test_unknown_record_kind_is_refused():
    with pytest.raises(ValueError, match=r"record kind must be one of .* got 'object'"):
        encode_record(Record("object", ("bkt", "k"), b""))


def test_state_keeps_the_last_record_and_deletes_on_none():
    state = DurableState()
    state.apply(Record("bucket", ("bkt",), b"bucket"))
    state.apply(key_record("a", b"v1", ("b1",)))
    state.apply(key_record("a", b"v2", ("b2",)))
    state.apply(key_record("gone"))
    state.apply(key_record("gone", None))
    state.apply(Record("mpu", ("bkt", "u1"), b"upload", ("p1",)))
    assert [r.payload for r in state.records()] == [b"bucket", b"v2", b"upload"]
    assert state.referenced_blobs() == {"b2", "p1"}
    state.apply(Record("bucket", ("bkt",), None))
    assert list(state.records()) == []


def test_recover_replays_snapshot_then_journal(tmp_path):
    snapshot_path(tmp_path, 3).write_bytes(encode_record(key_record("a", b"old")))
    journal_path(tmp_path, 3).write_bytes(
        encode_record(key_record("a", b"new")) + encode_record(key_record("b")) + b"torn"
    )
    # A journal of an older generation is already inside snapshot 3 and must not be replayed.
    journal_path(tmp_path, 2).write_bytes(encode_record(key_record("stale")))
    state, generation = recover(tmp_path)
    assert generation == 3
    assert {r.ident[1]: r.payload for r in state.records()} == {"a": b"new", "b": b"state"}


def test_log_commits_compacts_and_recovers(tmp_path):
    log = DurableLog(tmp_path, compact_bytes=2_000)
    log.compact()
    for n in range(100):
        log.commit(lambda n=n: [key_record(f"k{n % 10}", f"v{n}".encode())])
    assert log.generation > 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"journal-{log.generation}.log",
        "lock",
        f"snapshot-{log.generation}.snap",
    ]
    log.close()
    state, _ = recover(tmp_path)
    assert {r.ident[1]: r.payload for r in state.records()} == {
        f"k{k}": f"v{90 + k}".encode() for k in range(10)
    }


def test_a_failed_commit_leaves_nothing_behind(tmp_path):
    fault = tmp_path / "fault"
    log = DurableLog(tmp_path / "data", fault_file=fault)
    log.compact()
    log.commit(lambda: [key_record("kept")])
    fault.touch()
    with pytest.raises(OSError, match="fault injected"):
        log.commit(lambda: [key_record("lost")])
    fault.unlink()
    log.commit(lambda: [key_record("after")])
    log.close()
    state, _ = recover(tmp_path / "data")
    assert sorted(r.ident[1] for r in state.records()) == ["after", "kept"]
    with pytest.raises(OSError, match="closed"):
        log.commit(lambda: [key_record("late")])


def test_journal_file_appends_across_reopen(tmp_path):
    path = tmp_path / "journal-1.log"
    for name in ("a", "b"):
        journal = JournalFile(path)
        journal.append(encode_record(key_record(name)))
        journal.close()
    assert [r.ident[1] for r in read_records(path)] == ["a", "b"]


def test_a_data_dir_serves_one_process_at_a_time(tmp_path):
    first = DurableLog(tmp_path)
    with pytest.raises(RuntimeError, match="is in use by another process"):
        DurableLog(tmp_path)
    first.close()
    DurableLog(tmp_path).close()


def test_compact_bytes_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="compact_bytes must be > 0, got 0"):
        DurableLog(tmp_path, compact_bytes=0)


def test_blobs_write_read_and_collect(tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    kept = blobs.write(io.BytesIO(b"kept content"))
    dropped = blobs.write(io.BytesIO(b"dropped"))
    (blobs.root / ".tmp-leftover").write_bytes(b"half")
    target = io.BytesIO()
    assert blobs.read_into(kept, target) == len(b"kept content")
    assert target.getvalue() == b"kept content"
    assert blobs.collect({kept}) == 2
    assert sorted(p.name for p in blobs.root.iterdir()) == [kept]
    assert dropped != kept


@pytest.mark.parametrize(
    ("operation", "request_", "response", "expected"),
    [
        ("PutObject", {"Bucket": "b", "Key": "k"}, {}, [("key", ("b", "k"))]),
        ("GetObject", {"Bucket": "b", "Key": "k"}, {}, []),
        ("ListObjectsV2", {"Bucket": "b"}, {}, []),
        ("CreateBucket", {"Bucket": "b"}, {}, [("bucket", ("b",))]),
        ("PutBucketVersioning", {"Bucket": "b"}, {}, [("bucket", ("b",))]),
        (
            "CreateMultipartUpload",
            {"Bucket": "b", "Key": "k"},
            {"UploadId": "u"},
            [("mpu", ("b", "u"))],
        ),
        ("UploadPart", {"Bucket": "b", "Key": "k", "UploadId": "u"}, {}, [("mpu", ("b", "u"))]),
        (
            "CompleteMultipartUpload",
            {"Bucket": "b", "Key": "k", "UploadId": "u"},
            {},
            [("key", ("b", "k")), ("mpu", ("b", "u"))],
        ),
        (
            "DeleteObjects",
            {"Bucket": "b", "Delete": {"Objects": [{"Key": "x"}, {"Key": "y"}, {"Key": "x"}]}},
            {},
            [("key", ("b", "x")), ("key", ("b", "y"))],
        ),
        ("PostObject", {"Bucket": "b"}, {"Key": "form-key"}, [("key", ("b", "form-key"))]),
    ],
)
def test_touched_names_what_a_request_changed(operation, request_, response, expected):
    assert touched(operation, request_, response) == expected
