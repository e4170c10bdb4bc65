"""Features Parquet: round trips, schema info, compatibility checks, multi-subject reading."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from p300.features_io import (
    METADATA_KEY,
    FeaturesSchemaInfo,
    IncompatibleFeaturesError,
    check_compatible,
    features_schema_info,
    features_to_parquet_bytes,
    params_hash,
    read_features,
    read_features_info,
    read_kept_epochs,
    read_training_set,
    write_features,
)
from p300.preprocessing import PreprocessingParams
from p300.types import EpochFeatures

PARAMS = {"l_freq": 1.0, "h_freq": 20.0, "tmin": -0.1, "tmax": 0.6, "baseline": [-0.1, 0.0]}
CHANNELS = ("Fz", "Cz", "Pz")


def make_features(subject: str = "subject_01", *, n_flashes: int = 60, n_times: int = 71, seed=0):
    """Synthetic features of one subject: every 7th flash rejected, every 5th a target."""
    rng = np.random.default_rng(seed)
    kept = np.arange(n_flashes) % 7 != 3
    labels_all = (np.arange(n_flashes) % 5 == 0).astype(np.int8)
    n_epochs = int(kept.sum())
    epochs = rng.normal(0, 5, (n_epochs, len(CHANNELS), n_times)).astype(np.float32)
    metadata = pd.DataFrame(
        {
            "subject": subject,
            "onset_sample": np.arange(n_flashes, dtype=np.int64) * 64 + 256,
            "stim_item": (np.arange(n_flashes) % 12).astype(np.int32),
            "label": labels_all,
            "kept": kept,
            "reject_reason": np.where(kept, "", "peak_to_peak 140.2 µV on Cz"),
            "epoch_index": np.where(kept, np.cumsum(kept) - 1, -1).astype(np.int64),
        }
    )
    return EpochFeatures(
        epochs=epochs,
        features=epochs.reshape(n_epochs, -1),
        labels=labels_all[kept],
        metadata=metadata,
        ch_names=CHANNELS,
        sfreq=100.0,
        times=np.linspace(-0.1, 0.6, n_times),
        params=PARAMS,
        summary={"n_flashes": n_flashes, "n_kept": n_epochs},
    )


def test_round_trip_restores_everything(tmp_path):
    original = make_features()
    path = tmp_path / "features.parquet"

    write_features(original, path)
    restored = read_features(path)

    np.testing.assert_array_equal(restored.features, original.features)
    np.testing.assert_array_equal(restored.epochs, original.epochs)
    np.testing.assert_array_equal(restored.labels, original.labels)
    np.testing.assert_allclose(restored.times, original.times, atol=1e-12)
    pd.testing.assert_frame_equal(restored.metadata, original.metadata, check_dtype=False)
    assert [restored.metadata[c].dtype for c in ("onset_sample", "label", "kept")] == [
        np.int64,
        np.int8,
        bool,
    ]
    assert (restored.ch_names, restored.sfreq) == (CHANNELS, 100.0)
    assert (restored.params, restored.summary) == (PARAMS, original.summary)


def test_kept_epochs_are_read_features_epochs_without_metadata():
    features = make_features()
    data = features_to_parquet_bytes(features)

    epochs, info = read_kept_epochs(data)

    assert epochs.shape == (51, 3, 71) and epochs.dtype == np.float32
    np.testing.assert_array_equal(epochs, read_features(data).epochs)
    assert info == features_schema_info(features)


def test_kept_epochs_follow_epoch_index_not_file_order():
    features = make_features()
    metadata = features.metadata.copy()
    kept = metadata["kept"].to_numpy()
    # Kept epochs numbered backwards: epoch_index 0 is the last kept flash.
    metadata.loc[kept, "epoch_index"] = np.arange(kept.sum())[::-1]
    reordered = dataclasses.replace(features, metadata=metadata)

    epochs, _ = read_kept_epochs(features_to_parquet_bytes(reordered))

    np.testing.assert_array_equal(epochs, features.epochs)


def test_file_holds_one_row_per_flash_with_nan_features_when_rejected():
    table = pq.read_table(pa.BufferReader(features_to_parquet_bytes(make_features())))

    assert table.num_rows == 60
    assert table.schema.field("features").type == pa.list_(pa.float32(), 3 * 71)
    rejected = ~table.column("kept").to_numpy()
    values = np.stack(table.column("features").to_numpy(zero_copy_only=False))
    assert np.isnan(values[rejected]).all() and np.isfinite(values[~rejected]).all()


def test_schema_metadata_describes_the_features():
    data = features_to_parquet_bytes(make_features())

    stored = json.loads(pq.read_schema(pa.BufferReader(data)).metadata[METADATA_KEY])

    assert stored["ch_names"] == list(CHANNELS)
    assert (stored["sfreq"], stored["tmin"], stored["tmax"], stored["n_times"]) == (
        100.0,
        -0.1,
        0.6,
        71,
    )
    assert stored["n_features"] == 213 and stored["format_version"] == 1
    assert stored["params"] == PARAMS and stored["params_hash"] == params_hash(PARAMS)


def test_info_is_read_from_the_schema_and_survives_json():
    features = make_features()
    info = read_features_info(features_to_parquet_bytes(features))

    assert info == features_schema_info(features)
    assert FeaturesSchemaInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info


def test_params_hash_is_stable_and_order_independent():
    reordered = dict(reversed(PARAMS.items()))

    assert params_hash(reordered) == params_hash(PARAMS)
    assert len(params_hash(PARAMS)) == 16
    assert params_hash(PARAMS | {"h_freq": 30.0}) != params_hash(PARAMS)
    with pytest.raises(ValueError, match="params must be JSON-serialisable"):
        params_hash({"window": np.float32})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ch_names": ("Fz", "Cz", "Oz")}, r"channel names: expected \('Fz', 'Cz', 'Pz'\)"),
        ({"sfreq": 128.0}, r"sampling rate \(Hz\): expected 100.0, got 128.0"),
        ({"tmin": -0.2}, r"epoch start tmin \(s\): expected -0.1, got -0.2"),
        ({"tmax": 0.8}, r"epoch end tmax \(s\)"),
        ({"n_times": 70}, "samples per epoch: expected 71, got 70"),
        ({"n_features": 10}, "n_features: expected 213, got 10"),
    ],
)
def test_check_compatible_names_the_first_difference(change, message):
    info = features_schema_info(make_features())

    with pytest.raises(IncompatibleFeaturesError, match=message):
        check_compatible(info, dataclasses.replace(info, **change))


def test_check_compatible_names_differing_params():
    info = features_schema_info(make_features())
    other_params = PARAMS | {"h_freq": 30.0}
    other = dataclasses.replace(info, params=other_params, params_hash=params_hash(other_params))

    with pytest.raises(IncompatibleFeaturesError, match=r"params differ in h_freq: 20.0 vs 30.0"):
        check_compatible(info, other)
    check_compatible(info, features_schema_info(make_features("subject_02", seed=1)))


def test_newer_format_versions_are_refused():
    info = features_schema_info(make_features()).to_dict() | {"format_version": 99}

    with pytest.raises(ValueError, match="format_version 99 is newer"):
        FeaturesSchemaInfo.from_dict(info)


def test_training_set_of_ten_subjects_is_read_in_order():
    files = [
        features_to_parquet_bytes(make_features(f"subject_{i:02d}", n_flashes=1500, seed=i))
        for i in range(1, 11)
    ]

    training = read_training_set(files)

    n_kept_per_subject = int((np.arange(1500) % 7 != 3).sum())
    assert training.features.shape == (10 * n_kept_per_subject, 213)
    assert training.labels.shape == training.subjects.shape == (10 * n_kept_per_subject,)
    assert training.subjects[0] == "subject_01" and training.subjects[-1] == "subject_10"
    np.testing.assert_array_equal(
        training.features[:n_kept_per_subject],
        make_features("subject_01", n_flashes=1500, seed=1).features,
    )


def test_training_set_refuses_mixed_preprocessing():
    other_params = PARAMS | {"l_freq": 0.5}
    mixed = dataclasses.replace(make_features("subject_02"), params=other_params)
    files = [features_to_parquet_bytes(make_features()), features_to_parquet_bytes(mixed)]

    with pytest.raises(IncompatibleFeaturesError, match=r"source 1 vs source 0: .*l_freq"):
        read_training_set(files)


def test_reading_a_file_without_features_metadata_says_so():
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.table({"eeg_ch1": [1.0]}), buffer)

    with pytest.raises(ValueError, match=r"not a p300 features file.*eeg_ch1"):
        read_features(buffer.getvalue().to_pybytes())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda f: {"features": f.features[:, :-1]},
            r"shape \(n_epochs, n_channels \* n_times\) = \(51, 213\), got \(51, 212\)",
        ),
        (lambda f: {"metadata": f.metadata.drop(columns="kept")}, r"lacks columns \['kept'\]"),
        (
            lambda f: {"metadata": f.metadata.assign(epoch_index=f.metadata["epoch_index"] * 2)},
            "must number the 51 epochs",
        ),
    ],
)
def test_writer_refuses_inconsistent_features(change, message):
    features = make_features()

    with pytest.raises(ValueError, match=message):
        features_to_parquet_bytes(dataclasses.replace(features, **change(features)))


def test_params_hash_matches_the_preprocessing_parameters_own_hash():
    params = PreprocessingParams(h_freq=30.0)

    assert params_hash(params.to_dict()) == params.hash()
