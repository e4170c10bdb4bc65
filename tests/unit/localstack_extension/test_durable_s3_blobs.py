"""Blob files: fsynced before they are named, checked on every read, never left half-written."""

import errno
import hashlib
import io
import os

import pytest
from p300_localstack.durable_s3 import blobs as blobs_module
from p300_localstack.durable_s3.blobs import TEMP_PREFIX, BlobMismatch, BlobStore
from p300_localstack.durable_s3.journal import BlobRef


@pytest.fixture
def store(tmp_path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def test_a_blob_comes_back_with_its_size_and_md5(store):
    content = b"eeg" * 1000
    ref = store.write(io.BytesIO(content))
    target = io.BytesIO()
    assert ref.size == len(content)
    assert ref.md5 == hashlib.md5(content).hexdigest()
    assert store.read_into(ref, target, what="s3://b/k") == len(content)
    assert target.getvalue() == content


def test_a_blob_and_its_folder_are_fsynced_before_a_record_may_name_it(store, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(blobs_module.os, "fsync", recording_fsync)
    ref = store.write(io.BytesIO(b"content"))
    store.sync_folder()
    store.sync_folder()  # nothing new since: no second folder fsync
    assert synced == [str(store.root / f"{TEMP_PREFIX}{ref.id}"), str(store.root)]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_failed_blob_write_leaves_no_file(store, monkeypatch, code):
    def failing_fsync(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(blobs_module.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match=os.strerror(code)):
        store.write(io.BytesIO(b"x" * 10_000))
    assert list(store.root.iterdir()) == []


def test_a_write_the_space_check_refuses_creates_nothing(tmp_path):
    def refuse(size):
        raise OSError(errno.ENOSPC, f"no room for {size} bytes")

    store = BlobStore(tmp_path / "blobs", check_space=refuse)
    with pytest.raises(OSError, match="no room for 4 bytes"):
        store.write(io.BytesIO(b"data"))
    assert list(store.root.iterdir()) == []


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda path: path.write_bytes(b""), r"blob \w+ has 0 bytes, the record says 11"),
        (lambda path: path.write_bytes(b"hello w0rld"), r"blob \w+ has MD5 \w+, the record says"),
        (lambda path: path.unlink(), r"content of s3://b/k is lost: blob \w+ is missing"),
    ],
)
def test_a_lost_or_damaged_blob_is_an_error_naming_the_key(store, damage, message):
    ref = store.write(io.BytesIO(b"hello world"))
    damage(store.path(ref.id))
    with pytest.raises(BlobMismatch, match=message) as failure:
        store.read_into(ref, io.BytesIO(), what="s3://b/k")
    assert "s3://b/k" in str(failure.value)


def test_problem_checks_presence_and_size(store):
    ref = store.write(io.BytesIO(b"12345"))
    assert store.problem(ref) is None
    assert store.problem(ref._replace(size=9)) == f"blob {ref.id} has 5 bytes, the record says 9"
    assert store.problem(BlobRef("gone", 1, None)) == "blob gone is missing"
    assert store.problem(ref._replace(size=None)) is None  # format 0 records know no size


def test_collect_discard_and_half_written_blobs(store):
    kept = store.write(io.BytesIO(b"kept"))
    dropped = store.write(io.BytesIO(b"dropped"))
    rolled_back = store.write(io.BytesIO(b"rolled back"))
    (store.root / f"{TEMP_PREFIX}leftover").write_bytes(b"half")
    assert store.remove_temporaries() == 1
    store.discard({rolled_back.id})
    assert store.collect({kept.id}) == 1
    assert [p.name for p in store.root.iterdir()] == [kept.id]
    assert dropped.id != kept.id
