"""Start-up recovery: strict by default, a report instead of silent loss, salvage on request."""

import pytest
from p300_localstack.durable_s3.blobs import BlobStore
from p300_localstack.durable_s3.journal import FRAME_HEADER, HEADER_SIZE, Record
from p300_localstack.durable_s3.log import DurableLog
from p300_localstack.durable_s3.recovery import KEEP_BLOBS_MARKER, RecoveryRefused, recover

ALL_KEYS = ["k0", "k1", "k2", "k3", "k4"]


def flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def listing(data_dir) -> dict[str, bytes]:
    return {
        str(p.relative_to(data_dir)): p.read_bytes()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file()
    }


def recover_dir(data_dir, mode="strict"):
    return recover(data_dir, BlobStore(data_dir / "blobs"), mode=mode)


def test_a_clean_directory_recovers_everything_and_appends_on(durable_dir, keys_of):
    recovery = recover_dir(durable_dir)
    assert keys_of(recovery.state) == ALL_KEYS
    assert recovery.generation == 2 and recovery.base == 2
    assert not recovery.needs_compaction and not recovery.keeps_blobs
    assert {"snapshot-1.snap", "journal-1.log"} <= set(listing(durable_dir))  # previous kept


def test_a_flipped_bit_in_a_snapshot_stops_start_up_and_changes_nothing(durable_dir):
    """Before: replay stopped at the bad frame, compacted, deleted the old files and collected
    the blobs of the keys after it: one flipped bit lost 4 of 5 keys, silently."""
    flip(durable_dir / "snapshot-2.snap", HEADER_SIZE + FRAME_HEADER.size + 3)
    before = listing(durable_dir)
    with pytest.raises(RecoveryRefused) as refused:
        recover_dir(durable_dir)
    report = str(refused.value)
    assert report.startswith(f"durable S3 refused to start: damaged files in {durable_dir}:")
    assert f"snapshot-2.snap is corrupt at byte {HEADER_SIZE}: the frame's CRC" in report
    assert "Nothing was changed, moved or deleted." in report
    assert "The previous generation is complete" in report
    assert "P300_S3_RECOVERY=salvage" in report
    assert listing(durable_dir) == before


def test_salvage_recovers_losslessly_from_the_previous_generation(durable_dir, keys_of):
    flip(durable_dir / "snapshot-2.snap", HEADER_SIZE + FRAME_HEADER.size + 3)
    recovery = recover_dir(durable_dir, mode="salvage")
    assert keys_of(recovery.state) == ALL_KEYS
    assert recovery.needs_compaction and not recovery.keeps_blobs
    assert [p.name.split("-", 1)[1] for p in (durable_dir / "quarantine").iterdir()] == [
        "snapshot-2.snap"
    ]
    assert "recovered from the previous generation" in recovery.notes[0]


def first_journal_frame(durable_dir) -> int:
    return HEADER_SIZE + FRAME_HEADER.size + 5


def test_a_flipped_bit_in_the_middle_of_a_journal_stops_start_up(durable_dir):
    flip(durable_dir / "journal-2.log", first_journal_frame(durable_dir))
    with pytest.raises(RecoveryRefused, match=r"journal-2.log is corrupt at byte \d+") as refused:
        recover_dir(durable_dir)
    assert "No complete copy exists" in str(refused.value)
    assert "(1 can still be read from the damaged files)" in str(refused.value)


def test_salvage_keeps_intact_records_and_never_collects_blobs_again(durable_dir, keys_of):
    flip(durable_dir / "journal-2.log", first_journal_frame(durable_dir))
    log = DurableLog(durable_dir, recovery="salvage")
    log.open()
    assert keys_of(log.state) == ["k0", "k1", "k2", "k4"]  # k3's record is lost
    assert log.recovery.keeps_blobs
    blobs_before = set((durable_dir / "blobs").iterdir())
    assert log.collect_blobs() is None
    assert set((durable_dir / "blobs").iterdir()) == blobs_before  # k3's content is still there
    assert len(list((durable_dir / "quarantine").iterdir())) == 1
    log.close()
    later = DurableLog(durable_dir)  # a later, clean start keeps collection off
    assert later.recovery.keeps_blobs and (durable_dir / KEEP_BLOBS_MARKER).exists()
    later.close()


def test_a_torn_journal_tail_is_not_an_error(durable_dir, keys_of):
    journal = durable_dir / "journal-2.log"
    journal.write_bytes(journal.read_bytes()[:-7])
    recovery = recover_dir(durable_dir)
    assert keys_of(recovery.state) == ALL_KEYS[:4]
    assert recovery.needs_compaction  # a torn tail is never appended to
    assert "a torn last record" in recovery.notes[0]


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda path: path.unlink(), r"s3://bkt/k\d: blob \w+ is missing"),
        (
            lambda path: path.write_bytes(b"short"),
            r"s3://bkt/k\d: blob \w+ has 5 bytes, the record",
        ),
    ],
)
def test_a_lost_or_truncated_blob_stops_start_up_naming_the_key(durable_dir, damage, problem):
    blob = next((durable_dir / "blobs").iterdir())
    damage(blob)
    with pytest.raises(RecoveryRefused, match=problem) as refused:
        recover_dir(durable_dir)
    assert "1 records in" in str(refused.value) and "name contents that are lost" in str(
        refused.value
    )


def test_a_key_whose_bucket_record_is_lost_stops_start_up(tmp_path):
    data_dir = tmp_path / "s3"
    log = DurableLog(data_dir)
    log.open()
    record = Record("key", ("nobucket", "k"), b"state")
    log.commit([("key", ("nobucket", "k"))], lambda: [record], started=0.0)
    log.close()
    with pytest.raises(RecoveryRefused, match=r"s3://nobucket/k: the record of what holds it"):
        recover_dir(data_dir)


def test_an_empty_directory_starts_fresh(tmp_path):
    recovery = recover_dir(tmp_path)
    assert list(recovery.state.records()) == [] and recovery.needs_compaction


def test_an_unfinished_snapshot_is_removed(durable_dir):
    (durable_dir / "snapshot-3.tmp").write_bytes(b"half a snapshot")
    recovery = recover_dir(durable_dir)
    assert recovery.notes == ["removed the unfinished snapshot snapshot-3.tmp"]
    assert not (durable_dir / "snapshot-3.tmp").exists()
