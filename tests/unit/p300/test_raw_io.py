"""Raw Parquet recordings: real files, System A's form, round trips, speed."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from p300.contract import InvalidRecordingError
from p300.raw_io import (
    read_recording,
    recording_to_parquet_bytes,
    validate_recording_bytes,
    validate_recording_file,
    write_recording_parquet,
)
from p300.types import RawRecording
from tests.real_data import MUSE_RECORDINGS, muse_file


def system_a_bytes(*, n_channels: int = 16, seconds: float = 30.0, stim_dtype=np.int64) -> bytes:
    """A file exactly as System A stores one subject: eeg_ch1…eeg_chN (µV) + stim, no metadata."""
    rng = np.random.default_rng(3)
    n_times = int(seconds * 512)
    stim = np.zeros(n_times, stim_dtype)
    onsets = np.arange(512, n_times - 512, 64)
    stim[onsets] = np.where(np.arange(onsets.size) % 6 == 0, 2, 1)
    columns = {f"eeg_ch{i + 1}": rng.normal(0, 8, n_times) for i in range(n_channels)}
    columns["stim"] = stim
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns).replace_schema_metadata(None), buffer)
    return buffer.getvalue()


def small_recording(**overrides) -> RawRecording:
    rng = np.random.default_rng(5)
    stim = np.zeros(2560, np.int8)
    stim[[300, 500, 700, 900]] = [1, 2, 1, 1]
    fields = {
        "data": rng.normal(0, 12, (3, 2560)),
        "ch_names": ("C3", "Cz", "C4"),
        "sfreq": 256.0,
        "stim": stim,
        "stim_item": np.where(stim > 0, np.arange(2560) % 7, -1).astype(np.int32),
        "subject": "subject_03",
        "session": "s1",
    }
    return RawRecording(**(fields | overrides))


@pytest.mark.parametrize("name", MUSE_RECORDINGS)
def test_real_muse_recordings_validate_without_problems(name):
    report = validate_recording_file(muse_file(name))

    assert report.ok and report.problems == ()
    recording = report.recording
    assert recording.ch_names == ("TP9", "AF7", "AF8", "TP10")
    assert recording.sfreq == 256.0
    assert recording.data.dtype == np.float64 and recording.stim.dtype == np.int8
    assert set(np.unique(recording.stim)) == {0, 1, 2}
    assert 20 < np.median(np.abs(recording.data)) < 100  # µV, not volts


@pytest.mark.parametrize("stim_dtype", [np.int64, np.float64], ids=["int-stim", "float-stim"])
def test_system_a_files_are_accepted_verbatim_at_512_hz(stim_dtype):
    recording = read_recording(system_a_bytes(stim_dtype=stim_dtype))

    assert recording.ch_names == tuple(f"eeg_ch{i}" for i in range(1, 17))
    assert recording.sfreq == 512.0
    assert recording.data.shape == (16, 30 * 512)
    assert recording.stim_item is None and recording.subject is None
    assert np.count_nonzero(recording.stim == 2) > 0


def test_round_trip_keeps_everything_at_float32_precision(tmp_path):
    original = small_recording()
    path = tmp_path / "subject_03.parquet"

    write_recording_parquet(original, path)
    restored = read_recording(path)

    np.testing.assert_allclose(restored.data, original.data, rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(restored.stim, original.stim)
    np.testing.assert_array_equal(restored.stim_item, original.stim_item)
    assert (restored.ch_names, restored.sfreq) == (original.ch_names, original.sfreq)
    assert (restored.subject, restored.session) == ("subject_03", "s1")


def test_written_schema_is_our_form():
    schema = pq.read_schema(io.BytesIO(recording_to_parquet_bytes(small_recording(sfreq=250.5))))

    assert [str(t) for t in schema.types] == ["float", "float", "float", "int8", "int32"]
    assert schema.metadata[b"sfreq"] == b"250.5"
    assert schema.metadata[b"units"] == b"uV"
    assert schema.metadata[b"stim_coding"] == b"0=none,1=non-target,2=target"
    assert schema.metadata[b"subject"] == b"subject_03"


def test_recording_without_stim_item_or_subject_round_trips():
    original = small_recording(stim_item=None, subject=None, session=None)

    restored = read_recording(recording_to_parquet_bytes(original))

    assert restored.stim_item is None and restored.subject is None
    assert (
        b"subject" not in pq.read_schema(io.BytesIO(recording_to_parquet_bytes(original))).metadata
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ch_names": ("C3", "stim", "C4")}, "not 'stim'/'stim_item'"),
        ({"ch_names": ("C3", "C3", "C4")}, "must be unique"),
        ({"ch_names": ("C3", "Cz")}, "name the 3 rows of data, got 2 names"),
        ({"stim": np.zeros(10, np.int8)}, r"stim must have shape \(2560,\), got \(10,\)"),
    ],
)
def test_writer_refuses_recordings_it_cannot_store(overrides, message):
    with pytest.raises(ValueError, match=message):
        recording_to_parquet_bytes(small_recording(**overrides))


def test_reader_raises_with_the_problems():
    with pytest.raises(InvalidRecordingError, match="NOT_PARQUET") as error:
        read_recording(b"hello")
    assert error.value.problems[0].code == "NOT_PARQUET"


def test_file_size_is_checked_before_reading(tmp_path):
    path = tmp_path / "big.parquet"
    path.write_bytes(b"x" * 5000)  # not Parquet: only the size check can have run

    report = validate_recording_file(path, max_bytes=4096)

    assert report.codes == ("FILE_TOO_LARGE",)
    assert "5000 bytes" in report.problems[0].message


def test_missing_file_is_reported_not_raised(tmp_path):
    report = validate_recording_file(tmp_path / "absent.parquet")

    assert report.codes == ("NOT_PARQUET",)
    assert "absent.parquet" in report.problems[0].message


def test_ten_minutes_of_16_channels_at_512_hz_validate():
    # Its speed is measured by bench/bench_io.py, not asserted here.
    report = validate_recording_bytes(system_a_bytes(seconds=600.0))

    assert report.ok and report.recording.data.shape == (16, 600 * 512)


def test_pandas_index_columns_are_not_taken_for_channels():
    frame = pq.read_table(io.BytesIO(system_a_bytes(n_channels=2))).to_pandas()
    frame.index = frame.index.to_numpy() * 10  # not a RangeIndex: pandas stores it as a column
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    assert "__index_level_0__" in pq.read_schema(io.BytesIO(buffer.getvalue())).names

    recording = read_recording(buffer.getvalue())

    assert recording.ch_names == ("eeg_ch1", "eeg_ch2") and recording.sfreq == 512.0
