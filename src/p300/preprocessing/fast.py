"""The fast preprocessing path: System A's MNE pipeline as a few whole-array numpy operations.

Same order of operations as ``mne.Epochs(..., baseline, reject, preload=True)`` followed by
``epochs.resample``: filter the continuous signal, cut every epoch that fits in the recording,
subtract the baseline mean, measure the peak-to-peak over the whole epoch, resample (one matrix
product per batch of epochs), then drop the epochs the rejection policy names (`p300.rejection`:
it may need every epoch's amplitude before deciding). Everything runs in float64 µV; the result
is cast to float32.
"""

from functools import cache

import numpy as np
from threadpoolctl import ThreadpoolController

from p300.preprocessing.epoching import NO_DATA, TOO_SHORT, EpochGrid, assemble, epoch_grid
from p300.preprocessing.filtering import design_bandpass, filter_zero_phase
from p300.preprocessing.params import PreprocessingParams
from p300.preprocessing.resampling import resampling_matrix
from p300.rejection import amplitude_reasons
from p300.types import EpochFeatures, RawRecording

#: Epochs handled together: large enough for efficient matrix products, small enough (~6 MB at
#: 16 channels × 359 samples) to stay in cache and keep peak memory low.
BATCH_SIZE = 128


def preprocess_fast(
    recording: RawRecording, params: PreprocessingParams, *, pad: str = "reflect_limited"
) -> EpochFeatures:
    """Preprocess one checked recording; see ``p300.preprocessing.preprocess``."""
    sfreq = float(recording.sfreq)
    new_sfreq = sfreq if params.resample_sfreq is None else float(params.resample_sfreq)
    taps = design_bandpass(params.l_freq, params.h_freq, sfreq, window=params.fir_window)
    # Time-major (n_samples, n_channels): a gathered batch of windows is then one contiguous
    # (n_times, n_epochs × n_channels) matrix, so baseline, peak-to-peak and resampling are
    # plain column operations and a single matrix product, with no transposing copies.
    signal = np.empty((recording.n_times, len(recording.ch_names)))
    filter_zero_phase(recording.data, taps, out=signal.T, pad=pad)
    grid = epoch_grid(sfreq, params)
    onsets = recording.onsets
    reasons = _edge_reasons(onsets, grid, recording.n_times)
    fitting = np.flatnonzero([reason == "" for reason in reasons])
    resampler = resampling_matrix(grid.n_times, sfreq, new_sfreq)
    n_channels = len(recording.ch_names)
    # Stored as the float32 of the output right away (computed in float64): half the memory.
    resampled = np.empty((len(fitting), n_channels, resampler.shape[0]), dtype=np.float32)
    peak_to_peak = np.empty((len(fitting), n_channels))
    # OpenBLAS's idle threads spin between the many small products below and double the CPU
    # time; one thread is faster here and leaves the other core free.
    with _blas_controller().limit(limits=1, user_api="blas"):
        for first in range(0, len(fitting), BATCH_SIZE):
            batch = slice(first, first + BATCH_SIZE)
            starts = onsets[fitting[batch]] + grid.first_offset
            peak_to_peak[batch], resampled[batch] = _process_batch(signal, starts, grid, resampler)
    amplitude = amplitude_reasons(peak_to_peak, recording.ch_names, params)
    for flash, reason in zip(fitting, amplitude, strict=True):
        reasons[flash] = reason
    kept = np.array([reason == "" for reason in amplitude], dtype=bool)
    times = np.arange(resampler.shape[0]) / new_sfreq + grid.times[0]
    return assemble(
        recording,
        params,
        onsets=onsets,
        reasons=reasons,
        kept_epochs=resampled[kept],
        times=times,
        sfreq=new_sfreq,
    )


def _process_batch(
    signal: np.ndarray, starts: np.ndarray, grid: EpochGrid, resampler: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cut, baseline-correct, measure and resample the epochs starting at ``starts``.

    ``signal`` is the filtered recording, time-major (n_samples, n_channels) in µV. Returns the
    peak-to-peak amplitude of each epoch and channel in µV, shape (n_batch, n_channels), and the
    resampled epochs, shape (n_batch, n_channels, n_times_out).
    """
    windows = signal[starts + np.arange(grid.n_times)[:, np.newaxis]]  # (n_times, n_batch, n_ch)
    windows -= windows[grid.baseline].mean(axis=0)
    peak_to_peak = windows.max(axis=0) - windows.min(axis=0)
    columns = resampler @ windows.reshape(grid.n_times, -1)
    n_channels = signal.shape[1]
    return peak_to_peak, columns.reshape(-1, len(starts), n_channels).transpose(1, 2, 0)


@cache
def _blas_controller() -> ThreadpoolController:
    """Created once per process: finding the loaded BLAS libraries takes tens of ms."""
    return ThreadpoolController()


def _edge_reasons(onsets: np.ndarray, grid: EpochGrid, n_samples: int) -> list[str]:
    """NO_DATA when an epoch would start before the recording, TOO_SHORT when it runs past it."""
    starts = onsets + grid.first_offset
    reasons = np.full(len(onsets), "", dtype=object)
    reasons[starts + grid.n_times > n_samples] = TOO_SHORT
    reasons[starts < 0] = NO_DATA
    return reasons.tolist()
