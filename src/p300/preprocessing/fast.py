"""The fast preprocessing path: System A's MNE pipeline as a few whole-array numpy operations.

Same order of operations as ``mne.Epochs(..., baseline, reject, preload=True)`` followed by
``epochs.resample``: filter the continuous signal, cut every epoch that fits in the recording,
subtract the baseline mean, reject on the baseline-corrected peak-to-peak over the whole epoch,
then resample the kept epochs. Everything runs in float64 µV; the result is cast to float32.
"""

import numpy as np

from p300.preprocessing.epoching import (
    NO_DATA,
    TOO_SHORT,
    EpochGrid,
    assemble,
    epoch_grid,
    reject_reason,
)
from p300.preprocessing.filtering import design_bandpass, filter_zero_phase
from p300.preprocessing.params import PreprocessingParams
from p300.preprocessing.resampling import resample_epochs
from p300.types import EpochFeatures, RawRecording


def preprocess_fast(recording: RawRecording, params: PreprocessingParams) -> EpochFeatures:
    """Preprocess one checked recording; see ``p300.preprocessing.preprocess``."""
    sfreq = float(recording.sfreq)
    taps = design_bandpass(params.l_freq, params.h_freq, sfreq, window=params.fir_window)
    filtered = filter_zero_phase(recording.data, taps)
    grid = epoch_grid(sfreq, params)
    onsets = recording.onsets
    reasons = _edge_reasons(onsets, grid, recording.n_times)
    fits = np.array([reason == "" for reason in reasons], dtype=bool)
    epochs = _cut_epochs(filtered, onsets[fits] + grid.first_offset, grid.n_times)
    epochs -= epochs[..., grid.baseline].mean(axis=-1, keepdims=True)
    amplitude_reasons = _amplitude_reasons(epochs, recording.ch_names, params)
    for flash, reason in zip(np.flatnonzero(fits), amplitude_reasons, strict=True):
        reasons[flash] = reason
    kept = np.array([reason == "" for reason in amplitude_reasons], dtype=bool)
    new_sfreq = sfreq if params.resample_sfreq is None else float(params.resample_sfreq)
    resampled = resample_epochs(epochs[kept], sfreq, new_sfreq)
    times = np.arange(resampled.shape[-1]) / new_sfreq + grid.times[0]
    return assemble(
        recording,
        params,
        onsets=onsets,
        reasons=reasons,
        kept_epochs=resampled,
        times=times,
        sfreq=new_sfreq,
    )


def _edge_reasons(onsets: np.ndarray, grid: EpochGrid, n_samples: int) -> list[str]:
    """NO_DATA when an epoch would start before the recording, TOO_SHORT when it runs past it."""
    starts = onsets + grid.first_offset
    reasons = np.full(len(onsets), "", dtype=object)
    reasons[starts + grid.n_times > n_samples] = TOO_SHORT
    reasons[starts < 0] = NO_DATA
    return reasons.tolist()


def _cut_epochs(signal: np.ndarray, starts: np.ndarray, n_times: int) -> np.ndarray:
    """Gather windows of ``signal`` (n_channels, n_samples) → (n_epochs, n_channels, n_times)."""
    sample_index = starts[:, np.newaxis] + np.arange(n_times)
    return signal[:, sample_index].transpose(1, 0, 2).copy()


def _amplitude_reasons(
    epochs: np.ndarray, ch_names: tuple[str, ...], params: PreprocessingParams
) -> list[str]:
    """Per epoch, the amplitude rejection reason ('' when kept); epochs are in µV."""
    threshold = params.reject_peak_to_peak_uv
    if threshold is None:
        return [""] * len(epochs)
    too_large = (epochs.max(axis=-1) - epochs.min(axis=-1)) > threshold
    return [
        reject_reason([ch_names[c] for c in np.flatnonzero(bad)], threshold) if bad.any() else ""
        for bad in too_large
    ]
