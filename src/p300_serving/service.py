"""What each endpoint computes, as plain functions of a `ServedModel` and a request model.

Raw windows go through `p300.preprocessing.preprocess` with the parameters stored in the bundle,
then through `p300.features_io.check_compatible` against the model's features schema. ``/decode``
pads a raw window's two ends with a mirror image of the signal before the band-pass filter (as
`p300.decoding.decode_window` does), so the flashes near its edges are scored much as inside a
long recording; ``/predict/raw`` keeps the pipeline's padding, System A's. Those
modules are imported on the first raw request only: scipy and pandas take seconds to import,
and batches of feature vectors need neither.
"""

import base64
import binascii

import numpy as np

from p300.decoding import rank_items
from p300_serving.errors import InputError
from p300_serving.model import ServedModel
from p300_serving.schemas import DecodeRequest, FeatureBatch, RawWindow

#: How ``/decode`` pads a raw window's ends before filtering: a mirror image of the signal.
DECODE_PAD = "symmetric"


def feature_matrix(batch: FeatureBatch | DecodeRequest, n_features: int) -> np.ndarray:
    """The batch as float32, shape (n_epochs, n_features), µV; InputError names what is wrong."""
    if batch.features_b64 is not None:
        values = _decode_float32(batch.features_b64)
        if values.size == 0 or values.size % n_features:
            raise InputError(
                f"features_b64 must hold n_epochs × {n_features} float32 values (the model's "
                f"n_features), got {values.size} values"
            )
        matrix = values.reshape(-1, n_features)
    else:
        rows = batch.features
        if not rows:
            raise InputError("features must hold at least one epoch, got none")
        lengths = {len(row) for row in rows}
        if lengths != {n_features}:
            wrong = next(i for i, row in enumerate(rows) if len(row) != n_features)
            raise InputError(
                f"features must have {n_features} values per epoch (the model's n_features), "
                f"got {len(rows[wrong])} in row {wrong}"
            )
        matrix = np.asarray(rows, dtype=np.float32)
    _check_finite(matrix, "features")
    return matrix


def predict_batch(model: ServedModel, batch: FeatureBatch) -> dict:
    """Labels and target probabilities of a batch (the /predict response)."""
    return predict_features(model, feature_matrix(batch, model.info.n_features))


def predict_features(model: ServedModel, features: np.ndarray) -> dict:
    """The /predict response for ``features`` (n_epochs, n_features) float32 µV."""
    _check_finite(features, "features")
    labels, probability, _ = model.predict(features)
    return {
        "labels": labels.tolist(),
        "target_probability": probability.tolist(),
        "model": model.info.reference(),
    }


def predict_raw(model: ServedModel, window: RawWindow, *, return_features: bool) -> dict:
    """Per kept epoch of a raw window: onset, item, prediction; rejected epochs with reasons."""
    epochs = preprocess_window(model, window)
    labels, probability, score = model.predict(epochs.features)
    kept = epochs.metadata[epochs.metadata["kept"]].sort_values("epoch_index")
    predictions = [
        {
            "onset_sample": int(onset),
            "stim_item": int(item),
            "label": int(label),
            "target_probability": float(p),
            "score": float(s),
        }
        | ({"features": row.tolist()} if return_features else {})
        for onset, item, label, p, s, row in zip(
            kept["onset_sample"], kept["stim_item"], labels, probability, score, epochs.features,
            strict=True,
        )
    ]  # fmt: skip
    return {"epochs": predictions, "rejected": _rejected(epochs.metadata),
            "model": model.info.reference()}  # fmt: skip


def decode(model: ServedModel, request: DecodeRequest) -> dict:
    """Items ranked by summed (or mean) decision scores of the flashes that showed them."""
    if request.raw is not None:
        features, flashed, rejected = _raw_flashes(model, request.raw)
    else:
        features, flashed, rejected = _feature_flashes(model, request)
    _, _, score = model.predict(features)
    shown = [_group_items(items, request.groups) for items in flashed]
    try:
        ranking = rank_items(score, shown, candidates=request.candidates,
                             aggregate=request.aggregate)  # fmt: skip
    except ValueError as exc:
        raise InputError(f"cannot decode these flashes: {exc}") from exc
    return {
        "best": ranking.best,
        "ranking": [
            {"item": item, "evidence": float(evidence), "n_flashes": int(n)}
            for item, evidence, n in zip(
                ranking.items, ranking.evidence, ranking.n_flashes, strict=True
            )
        ],
        "n_flashes_used": len(features),
        "rejected": rejected,
        "model": model.info.reference(),
    }


def _raw_flashes(model: ServedModel, window: RawWindow) -> tuple[np.ndarray, list, list[dict]]:
    """Features (n_flashes, n_features), items and rejected epochs of a raw window's flashes."""
    epochs = preprocess_window(model, window, pad=DECODE_PAD)
    kept = epochs.metadata[epochs.metadata["kept"]].sort_values("epoch_index")
    # Flashes without an item (-1) carry no evidence for any candidate.
    with_item = kept["stim_item"].to_numpy() >= 0
    if not with_item.any():
        raise InputError(
            "no flash left to decode: every epoch of the raw window was rejected or has no item"
        )
    flashed = kept["stim_item"][with_item].tolist()
    return epochs.features[with_item], flashed, _rejected(epochs.metadata)


def _feature_flashes(model: ServedModel, request: DecodeRequest) -> tuple[np.ndarray, list, list]:
    """Features (n_flashes, n_features) and items of flashes sent as feature vectors."""
    features = feature_matrix(request, model.info.n_features)
    if len(request.flashed_items) != len(features):
        raise InputError(
            f"flashed_items must name the items of each of the {len(features)} flashes, "
            f"got {len(request.flashed_items)} entries"
        )
    return features, request.flashed_items, []


def preload_preprocessing() -> None:
    """Import what raw windows need now (pandas, pyarrow, the fast path), not on first use."""
    import p300.features_io
    import p300.preprocessing.epoching
    import p300.preprocessing.fast  # noqa: F401


def preprocess_window(model: ServedModel, window: RawWindow, *, pad: str = "reflect_limited"):
    """`p300.preprocessing.preprocess` of a raw window with the model's stored parameters.

    ``pad`` is how the band-pass filter extends the window's ends (`p300.preprocessing.PADS`).

    Returns
    -------
    EpochFeatures
        ``features`` shape (n_kept, n_features), float32 µV, checked compatible with the model.
    """
    from p300.features_io import (
        FeaturesSchemaInfo,
        IncompatibleFeaturesError,
        check_compatible,
        features_schema_info,
    )
    from p300.preprocessing import PreprocessingParams, preprocess

    expected = FeaturesSchemaInfo.from_dict(model.info.features_schema)
    recording = window_recording(window, expected.ch_names)
    try:
        epochs = preprocess(recording, PreprocessingParams(**expected.params), pad=pad)
        check_compatible(expected, features_schema_info(epochs))
    except IncompatibleFeaturesError as exc:
        raise InputError(f"raw window does not match the model: {exc}") from exc
    except ValueError as exc:
        raise InputError(f"raw window cannot be preprocessed: {exc}") from exc
    return epochs


def window_recording(window: RawWindow, ch_names: tuple[str, ...]):
    """The window as a `p300.types.RawRecording`, its channels checked against ``ch_names``."""
    from p300.types import RawRecording

    if tuple(window.ch_names) != ch_names:
        missing = [name for name in ch_names if name not in window.ch_names]
        extra = [name for name in window.ch_names if name not in ch_names]
        raise InputError(
            f"ch_names must be the model's {len(ch_names)} channels in order {list(ch_names)}, "
            f"got {window.ch_names} (missing {missing}, unexpected {extra})"
        )
    n_times = len(window.stim)
    lengths = [len(row) for row in window.data]
    if len(lengths) != len(ch_names) or set(lengths) != {n_times}:
        raise InputError(
            f"data must have shape (n_channels, n_times) = ({len(ch_names)}, {n_times}) "
            f"(n_times from stim), got {len(lengths)} rows of lengths {sorted(set(lengths))}"
        )
    if window.stim_item is not None and len(window.stim_item) != n_times:
        raise InputError(
            f"stim_item must have {n_times} values like stim, got {len(window.stim_item)}"
        )
    data = np.asarray(window.data, dtype=np.float64)
    _check_finite(data, "data")
    stim_item = None if window.stim_item is None else np.asarray(window.stim_item, np.int32)
    stim = np.asarray(window.stim, dtype=np.int64)
    return RawRecording(
        data=data, ch_names=ch_names, sfreq=float(window.sfreq), stim=stim, stim_item=stim_item
    )


def _group_items(flashed, groups: dict | None):
    """The items one flash showed: its own value(s), or the members of the group it names."""
    if groups is None or isinstance(flashed, list):
        return flashed
    if str(flashed) not in groups:
        raise InputError(
            f"groups must list the items of every flashed group, but has no entry for "
            f"{flashed!r} (groups given: {sorted(groups)})"
        )
    return groups[str(flashed)]


def _rejected(metadata) -> list[dict]:
    dropped = metadata[~metadata["kept"]]
    return [{"onset_sample": int(onset), "reason": str(reason)}
            for onset, reason in zip(dropped["onset_sample"], dropped["reject_reason"],
                                     strict=True)]  # fmt: skip


def _decode_float32(text: str) -> np.ndarray:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"features_b64 must be valid base64: {exc}") from exc
    if len(raw) % 4:
        raise InputError(f"features_b64 must decode to whole float32 values, got {len(raw)} bytes")
    return np.frombuffer(raw, dtype="<f4")


def _check_finite(values: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(
            f"{name} must be finite numbers, got {int(bad.sum())} NaN or infinite values "
            f"(first at index {list(where)})"
        )
