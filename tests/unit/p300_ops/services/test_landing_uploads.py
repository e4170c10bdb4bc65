from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from p300_ops.services.landing_uploads import plan_uploads


def _parquet(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"eeg_ch1": [0.0, 1.0], "stim": pa.array([0, 2], pa.int8())}), path)
    return path


@pytest.fixture
def system_a_folder(tmp_path) -> Path:
    root = tmp_path / "bi"
    for n in (1, 2):
        _parquet(root / f"subject_{n:02d}" / f"subject_{n:02d}_eeg_stim.parquet")
    (root / "README.txt").write_text("not data")
    return root


def test_folder_keeps_system_a_keys(system_a_folder):
    plan = plan_uploads([system_a_folder])
    assert [u.key for u in plan.uploads] == [
        "subject_01/subject_01_eeg_stim.parquet",
        "subject_02/subject_02_eeg_stim.parquet",
    ]
    assert plan.rejected == []
    assert all(u.size > 0 for u in plan.uploads)


def test_subject_folder_itself_and_session_folders(tmp_path):
    file = _parquet(tmp_path / "subject_07" / "session_02" / "run.parquet")
    assert [u.key for u in plan_uploads([tmp_path / "subject_07"]).uploads] == [
        "subject_07/session_02/run.parquet"
    ]
    assert [u.key for u in plan_uploads([file]).uploads] == ["subject_07/session_02/run.parquet"]


@pytest.mark.parametrize(
    ("subject", "session", "key"),
    [
        ("3", None, "subject_03/rec.parquet"),
        ("12", "1", "subject_12/session_01/rec.parquet"),
        ("P7x", "b-1", "subject_P7x/session_b-1/rec.parquet"),
    ],
)
def test_loose_file_goes_under_the_given_subject(tmp_path, subject, session, key):
    file = _parquet(tmp_path / "rec.parquet")
    plan = plan_uploads([file], subject=subject, session=session)
    assert [u.key for u in plan.uploads] == [key]


def test_session_option_is_inserted_into_a_system_a_key(system_a_folder):
    plan = plan_uploads([system_a_folder / "subject_01"], session="2")
    assert [u.key for u in plan.uploads] == ["subject_01/session_02/subject_01_eeg_stim.parquet"]


@pytest.mark.parametrize(
    ("make", "options", "reason"),
    [
        (lambda d: d / "missing.parquet", {}, "no such file or folder"),
        (lambda d: _parquet(d / "rec.parquet"), {}, "pass --subject"),
        (lambda d: _write(d / "notes.csv", b"a,b\n"), {"subject": "1"}, "not a .parquet file"),
        (lambda d: _write(d / "fake.parquet", b"hello"), {"subject": "1"}, "no PAR1 marker"),
        (lambda d: _write(d / "empty.parquet", b""), {"subject": "1"}, "no PAR1 marker"),
        (lambda d: _mkdir(d / "nothing"), {}, "folder holds no .parquet files"),
        (
            lambda d: _parquet(d / "subject_01" / "x.parquet"),
            {"subject": "02"},
            "its folder says subject 01 but --subject is 02",
        ),
        (
            lambda d: _parquet(d / "subject_01" / "session_01" / "x.parquet"),
            {"session": "3"},
            "its folder says session 01 but --session is 03",
        ),
        (
            lambda d: _parquet(d / "subject_01" / "a" / "b" / "x.parquet"),
            {},
            "landing key must be",
        ),
    ],
)
def test_rejected_with_a_reason(tmp_path, make, options, reason):
    plan = plan_uploads([make(tmp_path)], **options)
    assert plan.uploads == []
    assert len(plan.rejected) == 1
    assert reason in plan.rejected[0].reason


def test_loose_file_of_our_form_goes_under_its_metadata_subject(tmp_path):
    path = tmp_path / "rec.parquet"
    table = pa.table({"Cz": [0.0, 1.0], "stim": pa.array([0, 2], pa.int8())})
    pq.write_table(table.replace_schema_metadata({"sfreq": "512", "subject": "7"}), path)
    assert [u.key for u in plan_uploads([path]).uploads] == ["subject_07/rec.parquet"]
    assert [u.key for u in plan_uploads([path], subject="8").uploads] == ["subject_08/rec.parquet"]


def test_duplicate_keys_are_rejected(tmp_path):
    first = _parquet(tmp_path / "a" / "rec.parquet")
    second = _parquet(tmp_path / "b" / "rec.parquet")
    plan = plan_uploads([first, second], subject="1")
    assert [u.path for u in plan.uploads] == [first]
    assert "same landing key subject_01/rec.parquet" in plan.rejected[0].reason


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_a_study_prefixes_every_key(system_a_folder, tmp_path):
    plan = plan_uploads([system_a_folder], study="speller")
    assert [u.key for u in plan.uploads] == [
        "study_speller/subject_01/subject_01_eeg_stim.parquet",
        "study_speller/subject_02/subject_02_eeg_stim.parquet",
    ]
    loose = _parquet(tmp_path / "run.parquet")
    plan = plan_uploads([loose], subject="1", session="2", study="speller")
    assert [u.key for u in plan.uploads] == ["study_speller/subject_01/session_02/run.parquet"]


def test_a_study_folder_above_the_subject_folder_is_kept(tmp_path):
    file = _parquet(tmp_path / "study_lab" / "subject_03" / "session_01" / "run.parquet")
    assert [u.key for u in plan_uploads([tmp_path]).uploads] == [
        "study_lab/subject_03/session_01/run.parquet"
    ]
    plan = plan_uploads([file], study="speller")
    assert plan.uploads == []
    assert [r.reason for r in plan.rejected] == ["its folder says study lab but --study is speller"]


def test_a_bad_study_name_is_refused_naming_the_option(tmp_path):
    with pytest.raises(ValueError, match="--study must be 1–64 lowercase letters"):
        plan_uploads([tmp_path], study="My Study")
