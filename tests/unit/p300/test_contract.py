"""Every problem code of the raw-recording contract, each triggered by a crafted Parquet file."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from p300.contract import (
    PROBLEM_CODES,
    InvalidRecordingError,
    ProblemCode,
    Severity,
    check_recording,
)
from p300.raw_io import validate_recording_bytes
from p300.types import RawRecording

SFREQ = 256
N_TIMES = 20 * SFREQ
CHANNELS = ("Fz", "Cz", "Pz", "Oz")


def good_columns() -> dict[str, np.ndarray]:
    """Columns of a valid 20 s, 4-channel, 256 Hz recording: 10 µV noise, a flash every 0.25 s."""
    rng = np.random.default_rng(7)
    columns = {name: rng.normal(0.0, 10.0, N_TIMES).astype(np.float32) for name in CHANNELS}
    stim = np.zeros(N_TIMES, np.int8)
    onsets = np.arange(SFREQ, N_TIMES - SFREQ, SFREQ // 4)
    stim[onsets] = np.where(np.arange(onsets.size) % 5 == 0, 2, 1)
    columns["stim"] = stim
    return columns


GOOD_METADATA = {"sfreq": str(SFREQ), "units": "uV"}


def parquet_bytes(columns: dict, metadata: dict | None = GOOD_METADATA) -> bytes:
    table = pa.Table.from_arrays([pa.array(v) for v in columns.values()], names=list(columns))
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(metadata), buffer)
    return buffer.getvalue()


def with_columns(**changes) -> bytes:
    columns = good_columns()
    for name, value in changes.items():
        if value is None:
            del columns[name]
        else:
            columns[name] = value(columns) if callable(value) else value
    return parquet_bytes(columns)


def stim_with(values_at: dict[int, int]):
    def edit(columns):
        stim = columns["stim"].copy()
        for sample, value in values_at.items():
            stim[sample] = value
        return stim

    return edit


def all_channels_times(factor: float) -> bytes:
    columns = good_columns()
    for name in CHANNELS:
        columns[name] = columns[name] * np.float32(factor)
    return parquet_bytes(columns)


def duplicated_channel() -> bytes:
    columns = good_columns()
    arrays = [pa.array(columns[name]) for name in (*CHANNELS, "Fz", "stim")]
    table = pa.Table.from_arrays(arrays, names=[*CHANNELS, "Fz", "stim"])
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(GOOD_METADATA), buffer)
    return buffer.getvalue()


def clipped(columns):
    signal = columns["Pz"].copy()
    signal[1000:1600] = 50.0  # 600 samples (12 %) stuck at the positive rail
    return np.clip(signal, -50.0, 50.0)


def short_recording() -> bytes:
    columns = {name: values[: SFREQ // 2] for name, values in good_columns().items()}
    columns["stim"] = np.zeros(SFREQ // 2, np.int8)
    columns["stim"][[10, 60]] = [1, 2]
    return parquet_bytes(columns)


def stim_items(columns):
    return np.where(columns["stim"] > 0, -5, -1).astype(np.int32)


# code, crafted file, expected words in the message, extra validation options
CASES = [
    (ProblemCode.FILE_TOO_LARGE, lambda: with_columns(), "max_bytes=1000", {"max_bytes": 1000}),
    (ProblemCode.NOT_PARQUET, lambda: b"eeg_ch1,stim\n1.0,0\n", "as Parquet", {}),
    (
        ProblemCode.EMPTY,
        lambda: parquet_bytes({"Fz": np.zeros(0), "stim": np.zeros(0)}),
        "no rows",
        {},
    ),
    (ProblemCode.DUPLICATE_COLUMNS, duplicated_channel, "repeated: 'Fz'", {}),
    (ProblemCode.MISSING_STIM, lambda: with_columns(stim=None), "no 'stim' column", {}),
    (
        ProblemCode.NO_EEG_CHANNELS,
        lambda: parquet_bytes({"stim": good_columns()["stim"]}),
        "no EEG channel",
        {},
    ),
    (
        ProblemCode.NON_NUMERIC_COLUMN,
        lambda: with_columns(Cz=np.array(["1.0"] * N_TIMES)),
        "'Cz' must be integer or floating point, got string",
        {},
    ),
    (ProblemCode.MISSING_SFREQ, lambda: parquet_bytes(good_columns(), None), "Fz, Cz", {}),
    (
        ProblemCode.INVALID_SFREQ,
        lambda: parquet_bytes(good_columns(), {"sfreq": "20"}),
        "64–4096 Hz, got 20.0",
        {},
    ),
    (
        ProblemCode.INVALID_SFREQ,
        lambda: parquet_bytes(good_columns(), {"sfreq": "fast"}),
        "got 'fast'",
        {},
    ),
    (
        ProblemCode.UNSUPPORTED_UNITS,
        lambda: parquet_bytes(good_columns(), {"sfreq": "256", "units": "V"}),
        "got 'V'",
        {},
    ),
    (
        ProblemCode.INVALID_STIM_VALUES,
        lambda: with_columns(stim=lambda c: c["stim"].astype(float) + 0.5),
        "whole numbers, got 0.5 at sample 0",
        {},
    ),
    (
        ProblemCode.INVALID_STIM_VALUES,
        lambda: with_columns(stim=pa.array([None] * 3 + [0] * (N_TIMES - 3), pa.int8())),
        "3 missing or non-finite",
        {},
    ),
    (
        ProblemCode.UNKNOWN_STIM_CODES,
        lambda: with_columns(stim=stim_with({5: 7, 9: 33})),
        "unknown codes 7, 33",
        {},
    ),
    (
        ProblemCode.STIM_NOT_SINGLE_SAMPLE,
        lambda: with_columns(stim=stim_with({SFREQ + 1: 2, SFREQ + 2: 2})),
        "2 samples continue an event (first at sample 257)",
        {},
    ),
    (
        ProblemCode.INVALID_STIM_ITEM,
        lambda: with_columns(stim_item=stim_items),
        "whole numbers >= -1",
        {},
    ),
    (ProblemCode.NO_TARGETS, lambda: with_columns(stim=lambda c: c["stim"] % 2), "no target", {}),
    (
        ProblemCode.NO_NONTARGETS,
        lambda: with_columns(stim=lambda c: np.where(c["stim"] > 0, 2, 0).astype(np.int8)),
        "no non-target",
        {},
    ),
    (ProblemCode.TOO_SHORT, short_recording, "0.5 s (128 samples at 256 Hz)", {}),
    (
        ProblemCode.NON_FINITE_VALUES,
        lambda: with_columns(Pz=lambda c: np.where(np.arange(N_TIMES) < 4, np.nan, c["Pz"])),
        "channel 'Pz' has 4 missing, NaN or infinite samples",
        {},
    ),
    (ProblemCode.VALUES_LOOK_LIKE_VOLTS, lambda: all_channels_times(1e-6), "volts", {}),
    (
        ProblemCode.FLAT_CHANNEL,
        lambda: with_columns(Oz=np.full(N_TIMES, 3.0, np.float32)),
        "channel 'Oz' is flat",
        {},
    ),
    (
        ProblemCode.ALL_CHANNELS_FLAT,
        lambda: all_channels_times(0.0),
        "every EEG channel",
        {},
    ),
    (
        ProblemCode.SATURATED_CHANNEL,
        lambda: with_columns(Pz=clipped),
        "channel 'Pz' is clipped at its extreme values for 1",
        {},
    ),
]


@pytest.mark.parametrize(
    ("code", "make_file", "expected_text", "options"),
    CASES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(CASES)],
)
def test_each_problem_is_reported_with_its_code_and_an_explicit_message(
    code, make_file, expected_text, options
):
    report = validate_recording_bytes(make_file(), **options)

    matching = [p for p in report.problems if p.code is code]
    assert matching, f"expected {code}, got {report.codes}: {report.problems}"
    assert expected_text in matching[0].message
    assert report.ok is (PROBLEM_CODES[code].severity is Severity.WARNING)
    assert (report.recording is None) is (not report.ok)


def test_the_cases_cover_every_code():
    assert {case[0] for case in CASES} == set(ProblemCode)


def test_codes_are_stable_strings_with_a_severity_and_description():
    for code in ProblemCode:
        assert code.value == code.name
        assert PROBLEM_CODES[code].description
    assert set(PROBLEM_CODES) == set(ProblemCode)


def test_warnings_keep_the_recording():
    report = validate_recording_bytes(with_columns(Oz=np.zeros(N_TIMES, np.float32)))

    assert report.ok and report.codes == ("FLAT_CHANNEL",)
    assert report.recording.ch_names == CHANNELS
    assert report.recording_or_raise() is report.recording


def test_recording_or_raise_carries_every_error():
    report = validate_recording_bytes(with_columns(stim=lambda c: np.zeros(N_TIMES, np.int8)))

    with pytest.raises(InvalidRecordingError, match=r"NO_TARGETS: .*NO_NONTARGETS") as error:
        report.recording_or_raise()
    assert [p.code for p in error.value.problems] == ["NO_TARGETS", "NO_NONTARGETS"]
    assert error.value.problems[0].to_dict()["severity"] == "error"


@pytest.mark.parametrize(
    "data",
    [b"", b"PAR1", b"PAR1" + bytes(range(256)) * 4 + b"PAR1", bytes(1000)],
    ids=["empty", "magic-only", "garbage-between-magic", "zeros"],
)
def test_garbage_is_reported_not_raised(data):
    report = validate_recording_bytes(data)

    assert report.codes == ("NOT_PARQUET",)
    assert f"{len(data)} bytes" in report.problems[0].message


def test_check_recording_validates_in_memory_recordings():
    columns = good_columns()
    recording = RawRecording(
        data=np.stack([columns[name] for name in CHANNELS]).astype(float) * 1e-6,
        ch_names=CHANNELS,
        sfreq=float(SFREQ),
        stim=columns["stim"],
    )

    report = check_recording(recording)

    assert report.codes == ("VALUES_LOOK_LIKE_VOLTS",)
    assert report.recording is None
