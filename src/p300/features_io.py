"""One subject's preprocessed features as one Parquet file, and the checks that keep data unmixed.

Layout (format version 1)
-------------------------
One row per flash, kept or rejected, in flash order, with the columns of
`EpochFeatures.metadata` (``subject``, ``onset_sample``, ``stim_item``, ``label``, ``kept``,
``reject_reason``, ``epoch_index``) plus ``features``: a fixed-size list of ``n_features`` float32
values, the kept epoch flattened channel-major (µV). Rejected flashes carry NaN features, so a
reader that forgets to filter on ``kept`` fails loudly instead of training on made-up values.
(pyarrow 25 cannot read back null entries of a fixed-size list, hence NaN rather than null.)

The schema metadata key ``p300.features`` holds JSON: the `FeaturesSchemaInfo` fields (format
version, channel names, epoch sampling rate, ``tmin``/``tmax``/``n_times``, ``n_features``,
the preprocessing ``params`` and their ``params_hash``) and the preprocessing ``summary``.
"""

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from p300.arrow_values import numeric_values
from p300.types import EpochFeatures

FORMAT_VERSION = 1
METADATA_KEY = b"p300.features"
FEATURES_COLUMN = "features"
#: Arrow types of the per-flash metadata columns, in file order.
FLASH_COLUMNS = {
    "subject": pa.string(),
    "onset_sample": pa.int64(),
    "stim_item": pa.int32(),
    "label": pa.int8(),
    "kept": pa.bool_(),
    "reject_reason": pa.string(),
    "epoch_index": pa.int64(),
}
_TIME_TOLERANCE_S = 1e-9

Source = str | os.PathLike | BinaryIO | bytes


class IncompatibleFeaturesError(ValueError):
    """Two sets of features were not made the same way and must not be mixed."""


@dataclass(frozen=True)
class FeaturesSchemaInfo:
    """What makes two feature sets comparable; store it with a model to refuse mismatched input.

    Attributes
    ----------
    ch_names : tuple of str
    sfreq : float
        Sampling frequency of the epochs in Hz.
    tmin, tmax : float
        First and last epoch sample time in s relative to the onset.
    n_times : int
        Samples per epoch and channel.
    n_features : int
        ``len(ch_names) * n_times``.
    params_hash : str
        `params_hash` of ``params``.
    params : dict
        The preprocessing parameters (JSON-serialisable); compared through ``params_hash``.
    format_version : int
    """

    ch_names: tuple[str, ...]
    sfreq: float
    tmin: float
    tmax: float
    n_times: int
    n_features: int
    params_hash: str
    params: dict = field(compare=False)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (``from_dict`` reverses it)."""
        return asdict(self) | {"ch_names": list(self.ch_names)}

    @classmethod
    def from_dict(cls, info: dict) -> "FeaturesSchemaInfo":
        names = {f.name for f in fields(cls)}
        missing = names - set(info) - {"format_version"}
        if missing:
            raise ValueError(
                f"features schema info lacks {sorted(missing)}; got keys {sorted(info)}"
            )
        version = info.get("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise ValueError(
                f"features format_version {version} is newer than this reader's {FORMAT_VERSION}"
            )
        values = {key: info[key] for key in names if key in info}
        return cls(**values | {"ch_names": tuple(info["ch_names"])})


def params_hash(params: dict) -> str:
    """A stable 16-hex-digit SHA-256 digest of canonical JSON of ``params`` (sorted keys).

    Equal to ``PreprocessingParams.hash()`` for ``params = PreprocessingParams(...).to_dict()``.
    """
    try:
        canonical = json.dumps(params, sort_keys=True, separators=(",", ":"))
    except TypeError as exc:
        raise ValueError(f"params must be JSON-serialisable, got {params!r}: {exc}") from exc
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def features_schema_info(features: EpochFeatures) -> FeaturesSchemaInfo:
    """The `FeaturesSchemaInfo` of one subject's features."""
    return FeaturesSchemaInfo(
        ch_names=tuple(features.ch_names),
        sfreq=float(features.sfreq),
        tmin=float(features.times[0]),
        tmax=float(features.times[-1]),
        n_times=len(features.times),
        n_features=len(features.ch_names) * len(features.times),
        params_hash=params_hash(features.params),
        params=features.params,
    )


def check_compatible(expected: FeaturesSchemaInfo, actual: FeaturesSchemaInfo) -> None:
    """Raise `IncompatibleFeaturesError` naming the first difference between two feature sets.

    Compared in order: channel names, sampling rate, epoch times (``tmin``, ``tmax``,
    ``n_times``), preprocessing ``params_hash``, ``n_features``.
    """
    for what, attribute in _COMPARED:
        wanted, got = getattr(expected, attribute), getattr(actual, attribute)
        same = _same_time(wanted, got) if attribute in ("tmin", "tmax") else wanted == got
        if not same:
            detail = _params_difference(expected.params, actual.params) if what == _PARAMS else ""
            raise IncompatibleFeaturesError(
                f"features differ in {what}: expected {wanted}, got {got}{detail}"
            )


_PARAMS = "preprocessing params_hash"
_COMPARED = (
    ("channel names", "ch_names"),
    ("sampling rate (Hz)", "sfreq"),
    ("epoch start tmin (s)", "tmin"),
    ("epoch end tmax (s)", "tmax"),
    ("samples per epoch", "n_times"),
    (_PARAMS, "params_hash"),
    ("n_features", "n_features"),
)


def _params_difference(expected: dict, actual: dict) -> str:
    keys = sorted(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))
    shown = ", ".join(f"{k}: {expected.get(k)!r} vs {actual.get(k)!r}" for k in keys)
    return f" (params differ in {shown})" if keys else ""


def _same_time(a: float, b: float) -> bool:
    return abs(a - b) <= _TIME_TOLERANCE_S


def features_to_table(features: EpochFeatures) -> pa.Table:
    """One subject's features as an Arrow table in the layout described in the module docstring."""
    info = features_schema_info(features)
    _check_consistent(features, info)
    metadata = features.metadata
    n_flashes = len(metadata)
    epoch_index = metadata["epoch_index"].to_numpy()
    kept = metadata["kept"].to_numpy(dtype=bool)
    per_flash = np.full((n_flashes, info.n_features), np.nan, dtype=np.float32)
    per_flash[kept] = features.features[epoch_index[kept]]
    columns = [
        pa.array(
            metadata[name].to_numpy() if name != "subject" else metadata[name], type=arrow_type
        )
        for name, arrow_type in FLASH_COLUMNS.items()
    ]
    columns.append(pa.FixedSizeListArray.from_arrays(pa.array(per_flash.ravel()), info.n_features))
    table = pa.Table.from_arrays(columns, names=[*FLASH_COLUMNS, FEATURES_COLUMN])
    schema_json = json.dumps(info.to_dict() | {"summary": features.summary})
    return table.replace_schema_metadata({METADATA_KEY: schema_json.encode()})


def write_features(features: EpochFeatures, destination: str | os.PathLike | BinaryIO) -> None:
    """Write one subject's features as Parquet (see the module docstring for the layout)."""
    pq.write_table(features_to_table(features), destination, compression="zstd")


def features_to_parquet_bytes(features: EpochFeatures) -> bytes:
    """The Parquet file `write_features` would write, as bytes."""
    sink = pa.BufferOutputStream()
    write_features(features, sink)
    return sink.getvalue().to_pybytes()


def read_features_info(source: Source) -> FeaturesSchemaInfo:
    """The `FeaturesSchemaInfo` of a features file, from its schema only (no data read)."""
    return FeaturesSchemaInfo.from_dict(_schema_json(pq.read_schema(_as_readable(source))))


def read_features(source: Source) -> EpochFeatures:
    """Read one subject's features written by `write_features`."""
    table = _read_table(source)
    stored = _schema_json(table.schema)
    info = FeaturesSchemaInfo.from_dict(stored)
    metadata = table.drop_columns([FEATURES_COLUMN]).to_pandas()
    for name, arrow_type in FLASH_COLUMNS.items():
        if name not in ("subject", "reject_reason"):
            metadata[name] = metadata[name].astype(arrow_type.to_pandas_dtype())
    kept_rows = np.flatnonzero(metadata["kept"].to_numpy())
    kept_rows = kept_rows[np.argsort(metadata["epoch_index"].to_numpy()[kept_rows])]
    flat = _feature_matrix(table.column(FEATURES_COLUMN), info.n_features)[kept_rows]
    return EpochFeatures(
        epochs=flat.reshape(len(kept_rows), len(info.ch_names), info.n_times),
        features=flat,
        labels=metadata["label"].to_numpy()[kept_rows],
        metadata=metadata,
        ch_names=info.ch_names,
        sfreq=info.sfreq,
        times=np.linspace(info.tmin, info.tmax, info.n_times),
        params=info.params,
        summary=stored.get("summary", {}),
    )


def read_kept_epochs(source: Source) -> tuple[np.ndarray, FeaturesSchemaInfo]:
    """The kept epochs of one features file and its `FeaturesSchemaInfo`, without the per-flash
    metadata (`read_features` builds it as a DataFrame; this loads no pandas).

    Returns
    -------
    epochs : ndarray, shape (n_kept, n_channels, n_times)
        float32, µV, in ``epoch_index`` order: ``read_features(source).epochs``.
    info : FeaturesSchemaInfo
    """
    table = _read_table(source, columns=["kept", "epoch_index", FEATURES_COLUMN])
    info = FeaturesSchemaInfo.from_dict(_schema_json(table.schema))
    # Bit-packed booleans have no DLPack form; one per flash, so a list is cheap.
    kept_rows = np.flatnonzero(np.array(table.column("kept").to_pylist(), dtype=bool))
    epoch_index = numeric_values(table.column("epoch_index"))
    kept_rows = kept_rows[np.argsort(epoch_index[kept_rows])]
    flat = _feature_matrix(table.column(FEATURES_COLUMN), info.n_features)[kept_rows]
    return flat.reshape(len(kept_rows), len(info.ch_names), info.n_times), info


@dataclass(frozen=True)
class TrainingSet:
    """Kept epochs of several subjects, ready for a classifier.

    Attributes
    ----------
    features : ndarray, shape (n_epochs, n_features)
        float32, µV, flattened channel-major.
    labels : ndarray, shape (n_epochs,)
        int8: 1 target, 0 non-target.
    subjects : ndarray of str, shape (n_epochs,)
    info : FeaturesSchemaInfo
        Shared by every subject.
    """

    features: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    info: FeaturesSchemaInfo


def read_training_set(sources: Sequence[Source]) -> TrainingSet:
    """Read the kept epochs of several subjects' features files into one matrix.

    Raises `IncompatibleFeaturesError` (naming the source and the first difference) when the files
    were not preprocessed the same way.
    """
    if not sources:
        raise ValueError("sources must name at least one features file, got none")
    columns = ["subject", "label", "kept", FEATURES_COLUMN]
    tables = [_read_table(source, columns=columns) for source in sources]
    infos = [FeaturesSchemaInfo.from_dict(_schema_json(table.schema)) for table in tables]
    for index, info in enumerate(infos[1:], start=1):
        try:
            check_compatible(infos[0], info)
        except IncompatibleFeaturesError as exc:
            raise IncompatibleFeaturesError(f"source {index} vs source 0: {exc}") from None
    parts = [_kept_arrays(table, infos[0].n_features) for table in tables]
    features, labels, subjects = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
    return TrainingSet(features=features, labels=labels, subjects=subjects, info=infos[0])


def _kept_arrays(table: pa.Table, n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (n_kept, n_features), labels (n_kept,) and subjects (n_kept,) of kept flashes."""
    kept = table.column("kept").to_numpy()
    return (
        _feature_matrix(table.column(FEATURES_COLUMN), n_features)[kept],
        table.column("label").to_numpy()[kept],
        np.asarray(table.column("subject").to_pylist(), dtype=str)[kept],
    )


def _feature_matrix(column: pa.ChunkedArray, n_features: int) -> np.ndarray:
    """The fixed-size-list column as a float32 matrix, shape (n_rows, n_features)."""
    lists = column.combine_chunks()
    # The child array itself: `flatten` would load pyarrow.compute (~35 ms of a cold start).
    # No row is null (rejected flashes hold NaN), so the rows are the child's slice.
    values = lists.values.slice(lists.offset * n_features, len(lists) * n_features)
    return numeric_values(values).reshape(-1, n_features)


def _schema_json(schema: pa.Schema) -> dict:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ValueError(
            f"not a p300 features file: schema metadata lacks {METADATA_KEY.decode()!r} "
            f"(columns: {', '.join(schema.names)})"
        )
    return json.loads(raw)


def _read_table(source: Source, columns: list[str] | None = None) -> pa.Table:
    # One file needs no pyarrow.dataset, which pq.read_table imports (~0.3 s of a cold start).
    return pq.ParquetFile(_as_readable(source)).read(columns=columns)


def _as_readable(source: Source):
    return pa.BufferReader(source) if isinstance(source, bytes) else source


def _check_consistent(features: EpochFeatures, info: FeaturesSchemaInfo) -> None:
    n_epochs = len(features.labels)
    if features.features.shape != (n_epochs, info.n_features):
        raise ValueError(
            f"features must have shape (n_epochs, n_channels * n_times) = "
            f"({n_epochs}, {info.n_features}), got {features.features.shape}"
        )
    missing = set(FLASH_COLUMNS) - set(features.metadata.columns)
    if missing:
        raise ValueError(f"metadata lacks columns {sorted(missing)}")
    kept_index = np.sort(features.metadata["epoch_index"].to_numpy()[features.metadata["kept"]])
    if not np.array_equal(kept_index, np.arange(n_epochs)):
        raise ValueError(
            f"metadata epoch_index of kept flashes must number the {n_epochs} epochs 0…"
            f"{n_epochs - 1} once each, got {kept_index[:10]}…"
        )
