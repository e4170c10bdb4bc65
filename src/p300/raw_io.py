"""Reading, validating and writing raw recordings as Parquet.

Two forms of one Parquet file per subject/session are accepted:

- **System A verbatim**: columns ``eeg_ch1`` … ``eeg_chN`` (µV) and ``stim``, no metadata; the
  sampling rate is then System A's 512 Hz.
- **Ours**: one float column per named EEG channel (µV), integer ``stim``, optional integer
  ``stim_item``, and ``sfreq`` (Hz, as text) in the Parquet schema metadata. Optional metadata:
  ``units`` (must mean µV), ``subject``, ``session``, ``stim_coding`` and anything else.

Every column except ``stim`` and ``stim_item`` is an EEG channel.
"""

import io
import json
import os
import re
from collections.abc import Mapping
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from p300.arrow_values import numeric_values
from p300.contract import (
    DEFAULT_MAX_BYTES,
    EPOCH_WINDOW_S,
    MICROVOLT_UNITS,
    Problem,
    ProblemCode,
    Severity,
    ValidationReport,
    check_arrays,
)
from p300.types import RawRecording

STIM_COLUMN, STIM_ITEM_COLUMN = "stim", "stim_item"
_EVENT_COLUMNS = (STIM_COLUMN, STIM_ITEM_COLUMN)
#: Sampling frequency (Hz) of System A's files, which carry no metadata.
SYSTEM_A_SFREQ = 512.0
STIM_CODING = "0=none,1=non-target,2=target"
_SYSTEM_A_CHANNEL = re.compile(r"eeg_ch\d+")


def validate_recording_bytes(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    epoch_window: tuple[float, float] = EPOCH_WINDOW_S,
) -> ValidationReport:
    """Decode and validate one raw Parquet file held in memory; never raises on bad content.

    Parameters
    ----------
    data : bytes
        The file's content.
    max_bytes : int
        Larger files are refused (``FILE_TOO_LARGE``) without being parsed.
    epoch_window : (float, float)
        Epoch window in s around an onset that at least one flash must fit in.

    Returns
    -------
    ValidationReport
        With the `RawRecording` (float64 µV) when there is no error.
    """
    if len(data) > max_bytes:
        return _fail(
            ProblemCode.FILE_TOO_LARGE,
            f"file is {len(data)} bytes, more than the limit max_bytes={max_bytes}",
        )
    try:
        table = pq.ParquetFile(io.BytesIO(data)).read()
    # Untrusted bytes can fail inside pyarrow in many ways; each one means "not readable Parquet".
    except Exception as exc:
        return _fail(ProblemCode.NOT_PARQUET, f"cannot read {len(data)} bytes as Parquet: {exc}")
    return _decode_table(table, epoch_window=epoch_window)


def validate_recording_file(
    path: str | os.PathLike,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    epoch_window: tuple[float, float] = EPOCH_WINDOW_S,
) -> ValidationReport:
    """Like `validate_recording_bytes`, for a file; its size is checked before it is read."""
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            return _fail(
                ProblemCode.FILE_TOO_LARGE,
                f"file {os.fspath(path)!r} is {size} bytes, more than the limit "
                f"max_bytes={max_bytes}",
            )
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        return _fail(ProblemCode.NOT_PARQUET, f"cannot read file {os.fspath(path)!r}: {exc}")
    return validate_recording_bytes(data, max_bytes=max_bytes, epoch_window=epoch_window)


def read_recording(
    source: bytes | str | os.PathLike,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    epoch_window: tuple[float, float] = EPOCH_WINDOW_S,
) -> RawRecording:
    """Read a raw Parquet recording (bytes or path), raising `InvalidRecordingError` if invalid."""
    if isinstance(source, bytes):
        report = validate_recording_bytes(source, max_bytes=max_bytes, epoch_window=epoch_window)
    else:
        report = validate_recording_file(source, max_bytes=max_bytes, epoch_window=epoch_window)
    return report.recording_or_raise()


def recording_to_table(
    recording: RawRecording, *, extra_metadata: Mapping[str, str] | None = None
) -> pa.Table:
    """The recording as an Arrow table in our form: float32 µV channels, int8 ``stim``,
    int32 ``stim_item`` when known, and schema metadata sfreq/units/stim_coding/subject/session,
    plus ``extra_metadata`` (text; e.g. an importer's matrix size), which may not redefine those."""
    _check_writable(recording)
    columns = {
        name: pa.array(recording.data[i].astype(np.float32))
        for i, name in enumerate(recording.ch_names)
    }
    columns[STIM_COLUMN] = pa.array(recording.stim.astype(np.int8))
    if recording.stim_item is not None:
        columns[STIM_ITEM_COLUMN] = pa.array(recording.stim_item.astype(np.int32))
    metadata = {"sfreq": _format_sfreq(recording.sfreq), "units": "uV", "stim_coding": STIM_CODING}
    for key in ("subject", "session"):
        if getattr(recording, key) is not None:
            metadata[key] = str(getattr(recording, key))
    clashing = sorted(set(extra_metadata or {}) & {*metadata, "subject", "session"})
    if clashing:
        raise ValueError(
            f"extra_metadata may not set {clashing}: they come from the recording itself"
        )
    return pa.table(columns).replace_schema_metadata(metadata | dict(extra_metadata or {}))


def write_recording_parquet(
    recording: RawRecording,
    destination: str | os.PathLike | BinaryIO,
    *,
    extra_metadata: Mapping[str, str] | None = None,
):
    """Write the recording as Parquet in our form (see `recording_to_table`)."""
    table = recording_to_table(recording, extra_metadata=extra_metadata)
    pq.write_table(table, destination, compression="zstd")


def recording_to_parquet_bytes(
    recording: RawRecording, *, extra_metadata: Mapping[str, str] | None = None
) -> bytes:
    """The Parquet file `write_recording_parquet` would write, as bytes."""
    buffer = io.BytesIO()
    write_recording_parquet(recording, buffer, extra_metadata=extra_metadata)
    return buffer.getvalue()


def _fail(code: ProblemCode, message: str) -> ValidationReport:
    return ValidationReport(None, (Problem(code, message),))


def _decode_table(table: pa.Table, *, epoch_window: tuple[float, float]) -> ValidationReport:
    table = table.drop_columns(_pandas_index_columns(table))
    problems = _check_columns(table)
    if problems:
        return ValidationReport(None, tuple(problems))
    metadata = {
        key.decode(errors="replace"): value.decode(errors="replace")
        for key, value in (table.schema.metadata or {}).items()
    }
    ch_names = tuple(name for name in table.column_names if name not in _EVENT_COLUMNS)
    sfreq, problems = _sampling_rate(metadata, ch_names)
    problems += _check_units(metadata)
    if problems:
        return ValidationReport(None, tuple(problems))
    data = np.empty((len(ch_names), table.num_rows))
    for i, name in enumerate(ch_names):
        data[i] = numeric_values(table.column(name))
    stim = numeric_values(table.column(STIM_COLUMN))
    stim_item = (
        numeric_values(table.column(STIM_ITEM_COLUMN))
        if STIM_ITEM_COLUMN in table.column_names
        else None
    )
    problems = tuple(
        check_arrays(data, ch_names, sfreq, stim, stim_item, epoch_window=epoch_window)
    )
    if any(p.severity is Severity.ERROR for p in problems):
        return ValidationReport(None, problems)
    recording = RawRecording(
        data=data,
        ch_names=ch_names,
        sfreq=sfreq,
        stim=stim.astype(np.int8),
        stim_item=None if stim_item is None else stim_item.astype(np.int32),
        subject=metadata.get("subject"),
        session=metadata.get("session"),
    )
    return ValidationReport(recording, problems)


def _pandas_index_columns(table: pa.Table) -> list[str]:
    """Columns that only store a pandas DataFrame's index (``DataFrame.to_parquet`` adds them)."""
    try:
        pandas_metadata = json.loads((table.schema.metadata or {})[b"pandas"])
        index_columns = pandas_metadata["index_columns"]
    except (KeyError, TypeError, ValueError):
        return []
    names = table.column_names
    if not isinstance(index_columns, list):
        return []
    return [name for name in index_columns if isinstance(name, str) and names.count(name) == 1]


def _check_columns(table: pa.Table) -> list[Problem]:
    names = table.column_names
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        return [
            Problem(
                ProblemCode.DUPLICATE_COLUMNS,
                f"column names must be unique; repeated: {', '.join(map(repr, duplicates))}",
            )
        ]
    if table.num_rows == 0:
        return [Problem(ProblemCode.EMPTY, f"file has no rows (columns: {', '.join(names)})")]
    problems = []
    if STIM_COLUMN not in names:
        problems.append(
            Problem(
                ProblemCode.MISSING_STIM,
                f"no 'stim' column; columns are: {', '.join(map(repr, names))}",
            )
        )
    if not [name for name in names if name not in _EVENT_COLUMNS]:
        problems.append(
            Problem(
                ProblemCode.NO_EEG_CHANNELS,
                f"no EEG channel column besides stim/stim_item; columns are: {', '.join(names)}",
            )
        )
    for field in table.schema:
        if not (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)):
            problems.append(
                Problem(
                    ProblemCode.NON_NUMERIC_COLUMN,
                    f"column {field.name!r} must be integer or floating point, got {field.type}",
                )
            )
    return problems


def _sampling_rate(metadata: dict[str, str], ch_names: tuple[str, ...]) -> tuple[float, list]:
    if "sfreq" not in metadata:
        if all(_SYSTEM_A_CHANNEL.fullmatch(name) for name in ch_names):
            return SYSTEM_A_SFREQ, []
        return float("nan"), [
            Problem(
                ProblemCode.MISSING_SFREQ,
                "schema metadata 'sfreq' (Hz) is required unless the channels are System A's "
                f"eeg_ch1…eeg_chN; got channels {', '.join(ch_names[:5])}"
                + (", ..." if len(ch_names) > 5 else ""),
            )
        ]
    try:
        return float(metadata["sfreq"]), []
    except ValueError:
        return float("nan"), [
            Problem(
                ProblemCode.INVALID_SFREQ,
                f"schema metadata 'sfreq' must be a number in Hz, got {metadata['sfreq']!r}",
            )
        ]


def _check_units(metadata: dict[str, str]) -> list[Problem]:
    units = metadata.get("units")
    if units is None or units.strip().lower() in MICROVOLT_UNITS:
        return []
    return [
        Problem(
            ProblemCode.UNSUPPORTED_UNITS,
            f"schema metadata 'units' must mean microvolts ({', '.join(MICROVOLT_UNITS)}), "
            f"got {units!r}",
        )
    ]


def _format_sfreq(sfreq: float) -> str:
    return str(int(sfreq)) if float(sfreq).is_integer() else repr(float(sfreq))


def _check_writable(recording: RawRecording) -> None:
    n_channels, n_times = recording.data.shape
    if len(recording.ch_names) != n_channels:
        raise ValueError(
            f"ch_names must name the {n_channels} rows of data, got {len(recording.ch_names)} names"
        )
    clashing = set(recording.ch_names) & set(_EVENT_COLUMNS)
    if clashing or len(set(recording.ch_names)) != n_channels:
        raise ValueError(
            f"ch_names must be unique and not 'stim'/'stim_item', got {recording.ch_names}"
        )
    for name in ("stim", "stim_item"):
        array = getattr(recording, name)
        if array is not None and array.shape != (n_times,):
            raise ValueError(f"{name} must have shape ({n_times},), got {array.shape}")
