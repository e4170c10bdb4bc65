"""The cloud-state journal: what a restart recovers, what it drops, what it refuses.

It is durable S3's journal machinery with its own magic and record kinds: these tests check the
cloud state's own promises (damage is reported naming its variable, torn tails are dropped and
said so, the previous run's state stays as it was) rather than the shared machinery again.
"""

import pytest
from p300_localstack.cloud_state.recorder import Recorder, loaded, record
from p300_localstack.cloud_state.schema import CLOUD_FORMAT, RECOVERY_VARIABLE
from p300_localstack.durable_s3.journal import CorruptFile, read_journal
from p300_localstack.durable_s3.recovery import RecoveryRefused

ACCOUNT = ("000000000000", "us-east-1")


def alarm(name: str, state: str):
    return record("alarm", (*ACCOUNT, name), {"state": {"StateValue": state}, "history": []})


def states(recorder: Recorder, *, previous: bool = False) -> dict[str, str]:
    source = recorder.previous if previous else recorder.state
    return {r.ident[2]: loaded(r)["state"]["StateValue"] for r in source.of_kind("alarm")}


@pytest.fixture
def cloud_dir(tmp_path):
    """Three alarm records in the journal of generation 1, the last one deleting 'c'."""
    data_dir = tmp_path / "cloud-state"
    recorder = Recorder(data_dir)
    for change in (alarm("a", "ALARM"), alarm("b", "OK"), alarm("c", "OK")):
        recorder.commit(lambda change=change: [change])
    recorder.commit(lambda: [record("alarm", (*ACCOUNT, "c"), None)])
    recorder.log.close()  # a kill: no compaction
    return data_dir


def test_a_restart_recovers_every_record_as_the_previous_state(cloud_dir):
    recorder = Recorder(cloud_dir)
    assert states(recorder, previous=True) == {"a": "ALARM", "b": "OK"}
    recorder.commit(lambda: [alarm("a", "OK")])
    assert states(recorder) == {"a": "OK", "b": "OK"}
    assert states(recorder, previous=True) == {"a": "ALARM", "b": "OK"}
    assert recorder.notes == []


def test_a_clean_stop_compacts_and_the_next_start_recovers_the_snapshot(cloud_dir):
    Recorder(cloud_dir).close()
    assert sorted(p.name for p in cloud_dir.glob("snapshot-*")) == ["snapshot-1.snap",
                                                                     "snapshot-2.snap"]  # fmt: skip
    assert states(Recorder(cloud_dir), previous=True) == {"a": "ALARM", "b": "OK"}


def test_a_torn_last_record_is_dropped_and_reported(cloud_dir):
    journal = cloud_dir / "journal-1.log"
    journal.write_bytes(journal.read_bytes()[:-7])  # the deletion of 'c', cut mid-write
    recorder = Recorder(cloud_dir)
    assert states(recorder, previous=True) == {"a": "ALARM", "b": "OK", "c": "OK"}
    assert len(recorder.notes) == 1
    assert "journal-1.log: a torn last record" in recorder.notes[0]
    assert "ignored" in recorder.notes[0]


def test_damage_before_the_last_record_refuses_to_start_naming_the_salvage_variable(cloud_dir):
    journal = cloud_dir / "journal-1.log"
    data = bytearray(journal.read_bytes())
    data[60] ^= 0xFF  # inside the first record
    journal.write_bytes(bytes(data))
    before = sorted((p.name, p.stat().st_size) for p in cloud_dir.iterdir())
    with pytest.raises(RecoveryRefused) as refused:
        Recorder(cloud_dir)
    report = str(refused.value)
    assert report.startswith(f"cloud state refused to start: damaged files in {cloud_dir}:")
    assert "journal-1.log is corrupt at byte" in report
    assert f"{RECOVERY_VARIABLE}=salvage" in report
    assert sorted((p.name, p.stat().st_size) for p in cloud_dir.iterdir()) == before

    salvaged = Recorder(cloud_dir, recovery="salvage")
    assert states(salvaged, previous=True) == {"b": "OK"}  # 'a' was damaged; 'c' deleted
    assert any("moved to" in note for note in salvaged.notes)
    assert list((cloud_dir / "quarantine").iterdir())


def test_cloud_state_files_are_not_read_as_durable_s3_files(cloud_dir):
    journal = cloud_dir / "journal-1.log"
    assert journal.read_bytes().startswith(CLOUD_FORMAT.magic)
    assert len(read_journal(journal, 1, fmt=CLOUD_FORMAT).records) == 4
    with pytest.raises(CorruptFile, match="header is damaged"):
        read_journal(journal, 1)


def test_a_record_of_another_kind_is_refused(tmp_path):
    recorder = Recorder(tmp_path / "cloud-state")
    with pytest.raises(ValueError, match=r"record kind must be one of \('resource_id'"):
        recorder.commit(lambda: [record("bucket", ("b",), {})])


def test_one_server_per_data_directory(cloud_dir):
    Recorder(cloud_dir)
    with pytest.raises(RuntimeError, match=r"cloud state data directory .* is in use"):
        Recorder(cloud_dir)


def test_commit_or_log_never_raises(tmp_path, caplog):
    recorder = Recorder(tmp_path / "cloud-state")
    recorder.log.close()
    recorder.commit_or_log(lambda: [alarm("a", "OK")], what="the state of alarm a")
    assert "could not save the state of alarm a" in caplog.text
