import pyarrow.parquet as pq
import pytest

from p300.raw_io import SYSTEM_A_SFREQ, validate_recording_bytes
from p300_ops.services.synthetic_subjects import synthetic_object


@pytest.mark.parametrize(
    ("form", "session", "key"),
    [
        ("system-a", None, "subject_03/subject_03_eeg_stim.parquet"),
        ("ours", "02", "subject_03/session_02/subject_03_eeg_stim.parquet"),
    ],
)
def test_each_form_is_a_valid_recording_under_its_key(form, session, key):
    got_key, body = synthetic_object(3, seed=1, duration_s=20, form=form, session=session)
    assert got_key == key
    report = validate_recording_bytes(body)
    assert report.ok, report.problems
    assert report.recording.sfreq == SYSTEM_A_SFREQ
    assert report.recording.n_times == 20 * SYSTEM_A_SFREQ


def test_system_a_form_has_its_columns_and_no_metadata(tmp_path):
    _, body = synthetic_object(1, seed=1, duration_s=10, form="system-a")
    path = tmp_path / "a.parquet"
    path.write_bytes(body)
    schema = pq.read_schema(path)
    assert schema.names == [*(f"eeg_ch{i}" for i in range(1, 17)), "stim"]
    assert not (schema.metadata or {}).get(b"sfreq")


def test_ours_carries_subject_and_session_metadata():
    _, body = synthetic_object(5, seed=1, duration_s=10, form="ours", session="02")
    recording = validate_recording_bytes(body).recording
    assert (recording.subject, recording.session) == ("05", "02")
    assert recording.stim_item is not None


def test_same_seed_same_bytes_other_seed_other_bytes():
    def body(seed):
        return synthetic_object(2, seed=seed, duration_s=10, form="system-a")[1]

    assert body(7) == body(7)
    assert body(7) != body(8)


def test_unknown_form_is_refused():
    with pytest.raises(ValueError, match=r"form must be one of \('system-a', 'ours'\), got 'b'"):
        synthetic_object(1, seed=1, duration_s=10, form="b")
