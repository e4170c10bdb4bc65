"""Crop and decimate the time axis of flattened epochs, as a step of the fitted model.

Features are epochs flattened channel-major (see `p300.features_io`): column
``c * n_times + t`` holds channel ``c`` at sample time ``tmin + t / sfreq`` s. A time window
keeps the samples whose time lies in ``[start, stop]`` s; decimation then keeps every k-th of
them. The output stays channel-major, so every model of `p300.models` accepts it.

`make_time_selector` builds the step placed first in the model pipeline, so a registered model
takes the full feature vector and serving needs to know nothing about it. It is a plain
scikit-learn ``ColumnTransformer`` (no class of ours): MLflow's skops format trusts it, and
loading the model needs no p300 code.

>>> selector = make_time_selector(n_channels=16, n_times=70, tmin=-0.1, sfreq=100.0,
...                               window=(0.0, 0.6), decimation=2)
"""

import numpy as np
from sklearn.compose import ColumnTransformer

#: Sample times within this many s of a window edge count as inside (float rounding).
_TIME_TOLERANCE_S = 1e-6


def time_indices(
    n_times: int, *, tmin: float, sfreq: float, window: tuple[float, float] | None = None,
    decimation: int = 1,
) -> np.ndarray:  # fmt: skip
    """Indices of the samples a window and a decimation keep, along one channel's time axis.

    Parameters
    ----------
    n_times : int
        Samples per channel in each epoch.
    tmin : float
        Time of the first sample in s relative to the flash.
    sfreq : float
        Sampling frequency of the epochs in Hz.
    window : (start, stop) in s, optional
        Keep samples with ``start <= time <= stop``; None keeps all. A window reaching past
        the epoch keeps the epoch's samples within it (resampling shifts the epoch edges by
        a few ms, so 0–0.6 s must still work on an epoch ending at 0.59 s).
    decimation : int >= 1
        Keep every ``decimation``-th sample of the window, starting with its first.

    Returns
    -------
    ndarray of int, shape (n_kept,)
        Increasing sample indices in ``[0, n_times)``.
    """
    if not (isinstance(n_times, int | np.integer) and n_times >= 1):
        raise ValueError(f"n_times must be a positive integer, got {n_times!r}")
    if not (isinstance(sfreq, int | float) and sfreq > 0):
        raise ValueError(f"sfreq must be a positive number of Hz, got {sfreq!r}")
    if not (isinstance(decimation, int | np.integer) and decimation >= 1):
        raise ValueError(f"decimation must be an integer >= 1, got {decimation!r}")
    times = tmin + np.arange(n_times) / sfreq
    if window is None:
        return np.arange(0, n_times, decimation)
    start, stop = _check_window(window)
    inside = np.flatnonzero(
        (times >= start - _TIME_TOLERANCE_S) & (times <= stop + _TIME_TOLERANCE_S)
    )
    if inside.size == 0:
        raise ValueError(
            f"window {window!r} s holds no sample of the epoch's times "
            f"{times[0]:.4g}…{times[-1]:.4g} s at {sfreq:g} Hz"
        )
    return inside[::decimation]


def select_times(X: np.ndarray, *, n_channels: int, indices: np.ndarray) -> np.ndarray:
    """Keep the samples ``indices`` of every channel of flattened epochs.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_channels * n_times)
        Epochs flattened channel-major, µV.
    n_channels : int
        Channels in each flattened vector.
    indices : ndarray of int, shape (n_kept,)
        Sample indices along the time axis, from `time_indices`.

    Returns
    -------
    ndarray, shape (n_epochs, n_channels * n_kept)
        Still channel-major, same dtype and units as ``X``.
    """
    X = np.asarray(X)
    n_times = _n_times(X, n_channels)
    if len(indices) and (min(indices) < 0 or max(indices) >= n_times):
        raise ValueError(f"indices must lie in [0, {n_times}), got {min(indices)}…{max(indices)}")
    return X.reshape(len(X), n_channels, n_times)[:, :, indices].reshape(len(X), -1)


def feature_columns(n_channels: int, n_times: int, indices: np.ndarray) -> np.ndarray:
    """Columns of flattened epochs that hold the samples ``indices`` of every channel.

    Returns
    -------
    ndarray of int, shape (n_channels * n_kept,)
        Channel-major: all kept samples of channel 0, then of channel 1, …
    """
    indices = np.asarray(indices, dtype=int)
    return (np.arange(n_channels)[:, None] * n_times + indices[None, :]).ravel()


def make_time_selector(
    *, n_channels: int, n_times: int, tmin: float, sfreq: float,
    window: tuple[float, float] | None = None, decimation: int = 1,
) -> ColumnTransformer:  # fmt: skip
    """A pipeline step that keeps a time window of flattened epochs, decimated.

    Parameters
    ----------
    n_channels, n_times : int
        Layout of the input vectors: shape (n_epochs, n_channels * n_times), channel-major, µV.
    tmin : float
        Time in s of the first sample of the input epochs.
    sfreq : float
        Sampling frequency of the input epochs in Hz.
    window : (start, stop) in s, optional
        Samples kept (see `time_indices`); None keeps the whole epoch.
    decimation : int >= 1
        Keep every k-th sample of the window.

    Returns
    -------
    ColumnTransformer
        Maps X, shape (n_epochs, n_channels * n_times), to shape (n_epochs, n_channels *
        n_kept), like `select_times`; it learns nothing when fitted and refuses inputs of
        another width.
    """
    if not (isinstance(n_channels, int | np.integer) and n_channels >= 1):
        raise ValueError(f"n_channels must be a positive integer, got {n_channels!r}")
    indices = time_indices(n_times, tmin=tmin, sfreq=sfreq, window=window, decimation=decimation)
    columns = feature_columns(n_channels, n_times, indices)
    return ColumnTransformer([("kept_times", "passthrough", columns)], remainder="drop")


def _check_window(window) -> tuple[float, float]:
    try:
        start, stop = (float(edge) for edge in window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be (start, stop) in s, got {window!r}") from None
    if not start < stop:
        raise ValueError(f"window start must be before its stop, got {window!r}")
    return start, stop


def _n_times(X: np.ndarray, n_channels) -> int:
    """Samples per channel of X, shape (n_epochs, n_channels * n_times), after checking it."""
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, shape (n_epochs, n_channels * n_times); got {X.shape}")
    if not (isinstance(n_channels, int | np.integer) and n_channels >= 1):
        raise ValueError(f"n_channels must be a positive integer, got {n_channels!r}")
    if X.shape[1] % n_channels:
        raise ValueError(
            f"X has {X.shape[1]} features per epoch, not a multiple of n_channels={n_channels}"
        )
    return X.shape[1] // n_channels
